"""The raw pass over ``connections``: one :class:`Link` per target as written, plus structural problems.

Both dialects are read here: n8n's ``{src: {main: [[targets]]}}`` and MetaBuilder's
``{src: {main: {"0": [targets]}}}``. Links keep the source's own keys so every later issue can point at
the exact spot in the document (``connections['IF'].main[1][0].node``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from tenantflow.engine.definition import WorkflowDefinition, output_index
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.validation.report import IssueLog, extend

PORTS = frozenset({"main", "error"})


class Link(NamedTuple):
    """One connection target: ``source``/``target`` as written (a node name or id), ``output_key`` and
    ``slot`` where it sits in the source, ``bare`` when the target was written as a plain string.
    A named tuple because a large workflow has tens of thousands of them."""

    source: Any
    port: str
    output: int
    output_key: int | str
    slot: int
    target: str | int
    kind: str
    input: int
    bare: bool = False

    def source_path(self) -> str:
        return f"connections[{self.source!r}]"

    def output_path(self) -> str:
        return extend(self.source_path(), self.port, self.output_key)

    def path(self, field: str | None = None) -> str:
        """The target's path, or one of its fields' (a bare target has no fields to point into)."""
        target = extend(self.output_path(), self.slot)
        return target if field is None or self.bare else extend(target, field)


_new_link = tuple.__new__
"""Builds a :class:`Link` from a tuple of its fields without the generated ``__new__``'s Python frame: a
large workflow has tens of thousands of links, and this is most of what scanning one costs."""


def scan_links(connections: Any, log: IssueLog) -> list[Link]:
    if connections is None:
        return []
    if not isinstance(connections, dict):
        log.error("connections", ErrorCode.INVALID_EDGES, "connections must be an object")
        return []
    links: list[Link] = []
    for source, ports in connections.items():
        if not isinstance(ports, dict):
            log.error(
                f"connections[{source!r}]",
                ErrorCode.INVALID_EDGES,
                "must be an object mapping main/error to outputs",
            )
            continue
        for port, outputs in ports.items():
            if port not in PORTS:
                log.error(
                    _port_path(source, port),
                    ErrorCode.INVALID_EDGES,
                    f"unknown connection type {port!r}: use main or error",
                )
                continue
            for output, key, targets in _outputs(outputs, source, port, log):
                if targets is None:
                    continue
                if not isinstance(targets, list):
                    log.error(
                        extend(_port_path(source, port), key),
                        ErrorCode.INVALID_EDGES,
                        "targets must be an array",
                    )
                    continue
                for slot, target in enumerate(targets):
                    if type(target) is dict and type(node := target.get("node")) is str:  # the usual target
                        index, kind = target.get("index", 0), target.get("type", "main")
                        if type(index) is int and index >= 0 and type(kind) is str:
                            links.append(
                                _new_link(Link, (source, port, output, key, slot, node, kind, index, False))
                            )
                            continue
                    link = _link(source, port, output, key, slot, target, log)
                    if link is not None:
                        links.append(link)
    return links


def _port_path(source: Any, port: Any) -> str:
    """Paths are rendered only for errors: a 10,000-node workflow has as many links."""
    return extend(f"connections[{source!r}]", port)


def _outputs(outputs: Any, source: Any, port: str, log: IssueLog) -> Iterator[tuple[int, int | str, Any]]:
    """(output index, key as written, targets) for n8n arrays and MetaBuilder index maps alike."""
    if isinstance(outputs, list):
        yield from ((i, i, targets) for i, targets in enumerate(outputs))
    elif isinstance(outputs, dict):
        for key, targets in outputs.items():
            index = output_index(key)
            if index is None:
                log.error(
                    f"{_port_path(source, port)}[{key!r}]",  # index-map keys are strings: always quoted
                    ErrorCode.INVALID_OUTPUT_INDEX,
                    f"output index {key!r} is not a non-negative integer",
                )
            else:
                yield index, key, targets
    else:
        log.error(
            _port_path(source, port),
            ErrorCode.INVALID_EDGES,
            "outputs must be an array (or a map of output index to targets)",
        )


def _link(
    source: Any, port: str, output: int, key: int | str, slot: int, target: Any, log: IssueLog
) -> Link | None:
    def at(*field: str) -> str:
        return extend(_port_path(source, port), key, slot, *field)

    if isinstance(target, str):
        return Link(source, port, output, key, slot, target, "main", 0, bare=True)
    if not isinstance(target, dict) or "node" not in target:
        log.error(at(), ErrorCode.INVALID_EDGES, "connection target must be an object with a node")
        return None
    node, index = target["node"], target.get("index", 0)
    if not isinstance(node, str | int) or isinstance(node, bool):
        log.error(at("node"), ErrorCode.INVALID_EDGES, "target node must be a node name or id")
        return None
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        log.error(at("index"), ErrorCode.INVALID_INPUT_INDEX, "target index must be a non-negative integer")
        return None
    return Link(source, port, output, key, slot, node, str(target.get("type", "main")), index)


def links_of(definition: WorkflowDefinition) -> list[Link]:
    """The links of an already normalised workflow (keys are names, outputs arrays)."""
    return [
        _new_link(Link, (source, port, output, output, slot, target.node, target.type, target.index, False))
        for source, ports in definition.connections.items()
        for port, outputs in ports.items()
        for output, targets in enumerate(outputs)
        for slot, target in enumerate(targets)
    ]
