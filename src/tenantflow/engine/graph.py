"""The workflow as a graph: edges, start nodes, loop back-edges and loop regions.

Any cycle is legal, as in n8n: a depth-first walk from the start nodes (in document order) classifies each
edge that returns to a node still on the walk's stack as a *back edge*, and the node it ends at is a loop
*head* (a ``splitInBatches`` node, or any node a polling or retry loop returns to). Without its back edges
the graph is a DAG; the scheduler runs over that DAG and re-arms a head's region each time one of its back
edges fires, so the head and everything after it run again with a higher run index.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from tenantflow.engine.definition import NodeDefinition, WorkflowDefinition
from tenantflow.engine.sdk import NodeRegistry, NodeType

MAIN = "main"
ERROR = "error"


@dataclass(frozen=True, eq=False)
class Edge:
    """One connection: ``source`` output ``output`` on ``port`` feeds ``target`` input ``input``.

    Compared by identity: each connection is one object, which keeps the scheduler's set lookups cheap.
    """

    source: str
    port: str
    output: int
    target: str
    input: int
    order: int  # position in the document, to concatenate fan-in items in connection order


@dataclass
class Graph:
    names: list[str]
    edges: list[Edge]
    incoming: dict[str, list[Edge]] = field(default_factory=dict)
    outgoing: dict[str, list[Edge]] = field(default_factory=dict)
    back_edges: frozenset[Edge] = frozenset()
    start_nodes: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    regions: dict[str, frozenset[str]] = field(default_factory=dict)
    """Each loop head's region: the nodes one more pass of the loop re-arms."""
    position: dict[str, int] = field(default_factory=dict)
    types: dict[str, NodeType | None] = field(default_factory=dict)
    input_counts: dict[str, int] = field(default_factory=dict)
    in_degree: dict[str, int] = field(default_factory=dict)
    multi_input: dict[str, bool] = field(default_factory=dict)
    loop_outputs: dict[str, frozenset[int]] = field(default_factory=dict)
    nodes: dict[str, NodeDefinition] = field(default_factory=dict)
    forward_in: dict[str, list[Edge]] = field(default_factory=dict)
    """Every node's incoming connections that are not loop back edges (a list for each node)."""
    unfed: list[str] = field(default_factory=list)
    """Nodes without forward incoming connections, in document order."""
    single_feed: frozenset[str] = frozenset()
    """Nodes fed by exactly one connection, into their only input, and not skipOnFail: that connection alone
    decides whether they run."""
    single_out: dict[str, Edge] = field(default_factory=dict)
    """The one connection of each node (not a loop node) whose only outgoing connection is on main."""
    plain: frozenset[str] = frozenset()
    """Nodes of a known type without per-run options (disabled, executeOnce, timeout, alwaysOutputData)."""
    inline: frozenset[str] = frozenset()
    """Nodes whose type never awaits I/O (``cpu_only``) and that have no timeout."""
    skip_on_fail: frozenset[str] = frozenset()
    _forward_out: dict[str, list[Edge]] = field(default_factory=dict)

    def forward_outgoing(self, name: str) -> list[Edge]:
        return self._forward_out.get(name, [])

    def index_forward_edges(self) -> None:
        for name in self.names:
            self.forward_in[name] = [e for e in self.incoming.get(name, []) if e not in self.back_edges]
            self._forward_out[name] = [e for e in self.outgoing.get(name, []) if e not in self.back_edges]
        self.unfed = [name for name in self.names if not self.forward_in[name]]


def edges_of(definition: WorkflowDefinition) -> list[Edge]:
    """Every data connection (main or error) whose source and target both exist, in document order.

    n8n's ``ai_*`` connections attach a LangChain sub-node to the node that uses it; no items flow along
    them, so they neither order the run nor make a node wait."""
    names = {n.name for n in definition.nodes}
    edges: list[Edge] = []
    for source, ports in definition.connections.items():
        if source not in names:
            continue
        for port, outputs in ports.items():
            if port not in (MAIN, ERROR):
                continue
            for output, targets in enumerate(outputs):
                for target in targets:
                    if (node := target["node"]) in names:
                        edges.append(Edge(source, port, output, node, target["index"], len(edges)))
    return edges


def build_graph(definition: WorkflowDefinition, registry: NodeRegistry) -> Graph:
    names = [n.name for n in definition.nodes]
    edges = edges_of(definition)
    incoming: dict[str, list[Edge]] = defaultdict(list)
    outgoing: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        incoming[edge.target].append(edge)
        outgoing[edge.source].append(edge)
    loop_nodes = {n.name for n in definition.nodes if (t := registry.get(n.type)) is not None and t.is_loop}
    starts = _start_nodes(definition, registry, incoming)
    back = _back_edges(names, starts, outgoing)
    graph = Graph(
        names=names,
        edges=edges,
        incoming=dict(incoming),
        outgoing=dict(outgoing),
        back_edges=frozenset(back),
        start_nodes=starts,
        position={name: i for i, name in enumerate(names)},
        types={n.name: registry.get(n.type) for n in definition.nodes},
        nodes={n.name: n for n in definition.nodes},
    )
    graph.index_forward_edges()
    _describe_nodes(graph, definition)
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in names:
        sorter.add(name, *[e.source for e in graph.forward_in[name]])
    graph.order = list(sorter.static_order())  # acyclic: the walk starts from every node
    graph.regions = {head: _region(graph, head) for head in loop_nodes | {e.target for e in back}}
    return graph


def _describe_nodes(graph: Graph, definition: WorkflowDefinition) -> None:
    """What the scheduler asks of each node on every step, computed once per workflow."""
    single_feed = set()
    for node in definition.nodes:
        node_type = graph.types[node.name]
        declared = node_type.input_count(node) if node_type is not None else 1
        incoming = graph.forward_in[node.name]
        wired = [e.input + 1 for e in incoming]
        graph.input_counts[node.name] = max([declared, 1, *wired])
        graph.in_degree[node.name] = len(wired)
        graph.multi_input[node.name] = len({e.input for e in incoming}) > 1
        if wired == [1] and graph.input_counts[node.name] == 1 and not node.skip_on_fail:
            single_feed.add(node.name)
        if node_type is not None and node_type.is_loop:
            graph.loop_outputs[node.name] = node_type.loop_outputs(node)
    graph.single_feed = frozenset(single_feed)
    # Read here once: every attribute read on a node model goes through pydantic's __getattr__ hook.
    graph.plain = frozenset(
        name
        for name, node in graph.nodes.items()
        if graph.types[name] is not None
        and not (node.disabled or node.execute_once or node.always_output_data)
        and node.timeout_ms is None
    )
    graph.inline = frozenset(
        name
        for name, node in graph.nodes.items()
        if (node_type := graph.types[name]) is not None and node_type.cpu_only and node.timeout_ms is None
    )
    graph.skip_on_fail = frozenset(name for name, node in graph.nodes.items() if node.skip_on_fail)
    graph.single_out = {
        name: edges[0]
        for name, edges in graph.outgoing.items()
        if len(edges) == 1 and edges[0].port == MAIN and name not in graph.loop_outputs
    }


_CACHE: OrderedDict[tuple[int, int], tuple[WorkflowDefinition, NodeRegistry, Graph]] = OrderedDict()
_CACHE_SIZE = 256


def cached_graph(definition: WorkflowDefinition, registry: NodeRegistry) -> Graph:
    """The graph of a definition, built once: a service runs the same stored workflow many times.

    Keyed by object identity and checked against the cached objects, so a new or edited definition
    (definitions are immutable) always gets a fresh graph.
    """
    key = (id(definition), id(registry))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is definition and hit[1] is registry:
        _CACHE.move_to_end(key)
        return hit[2]
    graph = build_graph(definition, registry)
    _CACHE[key] = (definition, registry, graph)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return graph


def _start_nodes(
    definition: WorkflowDefinition, registry: NodeRegistry, incoming: dict[str, list[Edge]]
) -> list[str]:
    """Enabled triggers if any, else nodes without incoming main connections (document order)."""
    triggers = [
        n.name
        for n in definition.nodes
        if not n.disabled and (t := registry.get(n.type)) is not None and t.is_trigger
    ]
    if triggers:
        return triggers
    return [n.name for n in definition.nodes if not incoming.get(n.name)]


def _back_edges(names: list[str], starts: list[str], outgoing: dict[str, list[Edge]]) -> set[Edge]:
    """Iterative DFS from the start nodes, then from any node not reached; edges onto the stack are back."""
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    back: set[Edge] = set()
    for root in [*starts, *names]:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack[-1]
            out = outgoing.get(node, [])
            if index >= len(out):
                state[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, index + 1)
            edge = out[index]
            seen = state.get(edge.target)
            if seen == 1:
                back.add(edge)
            elif seen is None:
                state[edge.target] = 1
                stack.append((edge.target, 0))
    return back


def _region(graph: Graph, loop: str) -> frozenset[str]:
    """Nodes a loop run re-arms: everything forward-reachable from the loop node's outputs."""
    seen: set[str] = set()
    frontier = [e.target for e in graph.forward_outgoing(loop)]
    while frontier:
        name = frontier.pop()
        if name in seen or name == loop:
            continue
        seen.add(name)
        frontier.extend(e.target for e in graph.forward_outgoing(name))
    return frozenset(seen)


def reachable_from(graph: Graph, roots: Iterable[str]) -> set[str]:
    """Nodes reachable from ``roots`` along any connection (the roots included)."""
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        frontier.extend(e.target for e in graph.outgoing.get(name, []))
    return seen


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected parts that hold a cycle (more than one node, or a self-loop), each in
    document order: the validator asks whether anything can leave them.

    Tarjan's algorithm, iterative so that a long chain cannot exhaust Python's stack.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph.names:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            out = graph.outgoing.get(node, [])
            if position < len(out):
                work.append((node, position + 1))
                target = out[position].target
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if work:  # back in the parent: carry this node's low link up
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1 or any(e.target == node for e in graph.outgoing.get(node, [])):
                    found.append(sorted(part, key=graph.position.__getitem__))
    return found
