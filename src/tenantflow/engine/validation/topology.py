"""Connection semantics: endpoints exist, outputs and inputs exist, every cycle can be left, and no node
is stranded.

Any cycle is legal, as in n8n (polling and retry loops); one that nothing can leave is a warning, since
only ``executionLimits.maxNodeExecutions`` stops it. Cycles and orphans are judged on the executor's own
graph (:func:`~tenantflow.engine.graph.build_graph`). Building that graph costs more than every other check
together on a 10,000-node workflow, so it is built only when a quick pass over the links finds a cycle or
an unconnected node; a plain DAG with everything connected has neither.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import chain
from typing import Any

from tenantflow.engine.definition import WorkflowDefinition
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.graph import MAIN, Graph, build_graph, cycles, reachable_from
from tenantflow.engine.sdk import NodeRegistry, NodeType
from tenantflow.engine.validation.connections import Link
from tenantflow.engine.validation.nodes import STICKY_NOTE
from tenantflow.engine.validation.report import IssueLog, node_path
from tenantflow.engine.validation.structure import NodeSite


class Resolver:
    """Connection keys and targets name a node by name first, then by id: the normaliser's rule."""

    def __init__(self, sites: Sequence[NodeSite]) -> None:
        self._by_id: dict[str, NodeSite] = {}
        by_name: dict[str, NodeSite] = {}
        for site in reversed(sites):  # the first node with a name or id wins
            self._by_id[site.id] = by_name[site.name] = site
        self.by_ref = self._by_id | by_name
        """What a string resolves to, for callers that look up many."""
        self.unique = frozenset(
            field for field, seen in (("name", by_name), ("id", self._by_id)) if len(seen) == len(sites)
        )
        """The identity fields no two nodes share: the uniqueness check can skip them."""

    def __call__(self, ref: Any) -> NodeSite | None:
        if isinstance(ref, str):
            return self.by_ref.get(ref)
        return self._by_id.get(str(ref))  # a number can only be an id: names are strings


Pair = tuple[int, int]
"""A link between two existing nodes: (source, target) as their ``nodes`` indexes, i.e. document order."""


def check_links(
    links: Sequence[Link], resolve: Resolver, registry: NodeRegistry, log: IssueLog
) -> list[Pair]:
    """Check every link's endpoints and indexes; the links between existing nodes, in order."""
    outputs, inputs = _Counts(registry, "output_count"), _Counts(registry, "input_count")
    outputs_by_type, inputs_by_type, by_ref = outputs.by_type, inputs.by_type, resolve.by_ref
    bad_outputs: set[tuple[Any, str, int | str]] = set()
    pairs: list[Pair] = []
    source_key: Any = object()
    source, source_outputs = None, None
    for link in links:  # flat on purpose: this runs once per link of a 10,000-node workflow
        source_ref, port, output, _, _, target_ref, kind, input_index, _ = link
        if source_ref is not source_key:  # one source's links are contiguous: resolve it once
            source_key = source_ref
            source = by_ref.get(source_ref) if type(source_ref) is str else resolve(source_ref)
            if source is None:
                source_outputs = None
                log.error(
                    link.source_path(),
                    ErrorCode.UNKNOWN_CONNECTION_SOURCE,
                    f"connection source {source_ref!r} is not a node name or id",
                )
            else:
                if source.type in outputs_by_type:  # as for the target's inputs below
                    source_outputs = None if source.partial else outputs_by_type[source.type]
                else:
                    source_outputs = outputs(source)
                if source_outputs is not None and source.node.on_error == "continueErrorOutput":
                    source_outputs += 1  # n8n sends the node's failures to one extra main output
        if source_outputs is not None and output >= source_outputs and port == "main":
            spot = (source_ref, port, link.output_key)
            if spot not in bad_outputs:
                bad_outputs.add(spot)
                log.error(
                    link.output_path(),
                    ErrorCode.INVALID_OUTPUT_INDEX,
                    f"node {source_ref!r} has {source_outputs} main output(s), not output {output}",
                )
        target = by_ref.get(target_ref) if type(target_ref) is str else resolve(target_ref)
        if target is None:
            log.error(
                link.path("node"),
                ErrorCode.UNKNOWN_CONNECTION_TARGET,
                f"connection target {target_ref!r} is not a node name or id",
            )
            continue
        if kind == "main":
            if target.type in inputs_by_type:  # the count the type gave (see _Counts), inline
                count = None if target.partial else inputs_by_type[target.type]
            else:
                count = inputs(target)
            if count is not None and input_index >= count:
                log.error(
                    link.path("index"),
                    ErrorCode.INVALID_INPUT_INDEX,
                    f"node {target.name!r} has {count} input(s), not input {input_index}",
                )
        if source is not None:
            pairs.append((source.index, target.index))
    return pairs


class _Counts:
    """A node's ``input_count`` or ``output_count`` (``None`` = unknown, not checked). Asked once per node
    type when the type keeps :class:`NodeType`'s own method (the count then depends on the type alone:
    ``by_type``, which :func:`check_links` reads inline), else once per node."""

    def __init__(self, registry: NodeRegistry, method: str) -> None:
        self.registry, self.method = registry, method
        self.by_type: dict[str, int | None] = {}
        self.by_node: dict[int, int | None] = {}
        self.inherited = getattr(NodeType, method)

    def __call__(self, site: NodeSite) -> int | None:
        type_name = site.type
        if type_name in self.by_type:
            return None if site.partial else self.by_type[type_name]
        if site.index in self.by_node:
            return self.by_node[site.index]
        node_type = self.registry.get(type_name)
        count = None
        if node_type is not None and not site.partial:
            try:
                count = getattr(node_type, self.method)(site.node)
            except Exception:  # a plugin may assume parameters its own schema check has already rejected
                count = None
        if node_type is None or (
            getattr(type(node_type), self.method) is self.inherited and not site.partial
        ):
            self.by_type[type_name] = count
        else:
            self.by_node[site.index] = count
        return count


def check_graph(
    definition: WorkflowDefinition,
    sites: Sequence[NodeSite],
    pairs: Sequence[Pair],
    resolve: Resolver,
    registry: NodeRegistry,
    log: IssueLog,
) -> None:
    """Cycles nothing can leave and orphans (warnings: unconnected and unreachable from every start node)."""
    connected = set(chain.from_iterable(pairs))
    lonely = [site for site in sites if site.index not in connected and site.type != STICKY_NOTE]
    if not lonely and not _has_cycle(pairs):
        return
    graph = build_graph(definition, registry)
    for part in cycles(graph):
        if not _can_leave(graph, part):
            site = resolve(part[0])
            log.warning(
                node_path(site.index) if site is not None else "connections",
                ErrorCode.CIRCULAR_DEPENDENCY,
                f"nodes {part!r} form a cycle that nothing leaves: only executionLimits.maxNodeExecutions"
                " stops it",
            )
    reachable = reachable_from(graph, graph.start_nodes) if lonely else set()
    for site in lonely:
        if site.name not in reachable:
            log.warning(
                node_path(site.index),
                ErrorCode.ORPHANED_NODE,
                f"node {site.name!r} has no connections and no start node reaches it",
            )


def _can_leave(graph: Graph, part: list[str]) -> bool:
    """Whether items can get out of a cycle: a connection leaves it, or a node has an output (a branch, or
    the error output) that does not feed it, where the items it sends stop and the loop ends."""
    members = set(part)
    for name in part:
        inside = {e.output for e in graph.outgoing.get(name, []) if e.port == MAIN and e.target in members}
        if any(e.target not in members for e in graph.outgoing.get(name, [])):
            return True
        node, node_type = graph.nodes[name], graph.types[name]
        try:
            count = node_type.output_count(node) if node_type is not None else None
        except Exception:  # a plugin may assume parameters its own schema check has already rejected
            count = None
        if count is None or len(inside) < count + (node.on_error == "continueErrorOutput"):
            return True  # an output that does not feed the cycle, or outputs that cannot be told
    return False


def _has_cycle(pairs: Sequence[Pair]) -> bool:
    """Whether the links contain a cycle. Exported workflows mostly list nodes in flow order, and links
    that all point forward in it cannot form one; otherwise Kahn's algorithm decides: every link is
    consumed exactly when the graph is acyclic."""
    for source, target in pairs:  # a loop, not all() over a generator: one resumed frame less per link
        if source >= target:
            break
    else:
        return False
    successors: dict[int, list[int]] = defaultdict(list)
    indegree: Counter[int] = Counter()
    for source, target in pairs:
        successors[source].append(target)
        indegree[target] += 1
    ready = [name for name in successors if not indegree[name]]
    consumed = 0
    while ready:
        for target in successors.get(ready.pop(), ()):
            consumed += 1
            indegree[target] -= 1
            if not indegree[target]:
                ready.append(target)
    return consumed < len(pairs)
