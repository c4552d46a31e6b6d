"""The links a workflow's connections make: one :class:`Link` per target as written.

A raw document's links come from the normaliser's own walk over ``connections``
(:func:`~tenantflow.engine.definition.normalise` with ``scan``), which reads both dialects (n8n's
``{src: {main: [[targets]]}}``, MetaBuilder's ``{src: {main: {"0": [targets]}}}``) and reports their
structural problems on the source's own keys; an already normalised workflow's come from
:func:`links_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tenantflow.engine.definition import AI_PORTS, PORTS, Link, WorkflowDefinition, extend
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.engine.validation.report import IssueLog
from tenantflow.engine.validation.structure import NodeSite

__all__ = ["PORTS", "Link", "check_ai_links", "links_of"]

_new_link = tuple.__new__
"""Builds a :class:`Link` from a tuple of its fields without the generated ``__new__``'s Python frame."""


def links_of(definition: WorkflowDefinition) -> list[Link]:
    """The links of an already normalised workflow (keys are names, outputs arrays)."""
    return [
        _new_link(
            Link, (source, port, output, output, slot, target["node"], target["type"], target["index"], False)
        )
        for source, ports in definition.connections.items()
        for port, outputs in ports.items()
        for output, targets in enumerate(outputs)
        for slot, target in enumerate(targets)
    ]


def check_ai_links(
    links: Sequence[Link],
    resolve: Callable[[Any], NodeSite | None],
    registry: NodeRegistry,
    log: IssueLog,
) -> None:
    """n8n's ai_* connections must leave and enter nodes whose types have such outputs and inputs.

    A node type declares its main inputs and outputs only (the SDK has no other kind), so a known type has
    no ai_* port; an unknown type's ports are unknown, and its one error stays UNKNOWN_NODE_TYPE.
    """
    odd = [link for link in links if link[1] not in PORTS or link[6] not in PORTS]  # rare: skip the rest
    reported: set[tuple[Any, str]] = set()
    for link in odd:
        port, kind = link.port, link.kind
        if port in AI_PORTS and (link.source, port) not in reported:
            source = resolve(link.source)
            if source is not None and registry.get(source.type) is not None:
                reported.add((link.source, port))
                log.error(
                    extend(link.source_path(), port),
                    ErrorCode.INVALID_EDGES,
                    f"node {source.name!r} ({source.type}) has no {port} output",
                )
        if kind in AI_PORTS:
            target = resolve(link.target)
            if target is not None and registry.get(target.type) is not None:
                log.error(
                    link.path("type"),
                    ErrorCode.INVALID_EDGES,
                    f"node {target.name!r} ({target.type}) has no {kind} input",
                )
