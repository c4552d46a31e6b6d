"""The links a workflow's connections make: one :class:`Link` per target as written.

A raw document's links come from the normaliser's own walk over ``connections``
(:func:`~tenantflow.engine.definition.normalise` with ``scan``), which reads both dialects (n8n's
``{src: {main: [[targets]]}}``, MetaBuilder's ``{src: {main: {"0": [targets]}}}``) and reports their
structural problems on the source's own keys; an already normalised workflow's come from
:func:`links_of`.
"""

from __future__ import annotations

from tenantflow.engine.definition import PORTS, Link, WorkflowDefinition

__all__ = ["PORTS", "Link", "links_of"]

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
