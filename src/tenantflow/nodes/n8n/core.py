"""Core nodes: triggers, pass-through, Stop and Error, Wait, the harness's Test Data node and Sticky Note.

Also home of the small helpers the other families of this package share: JSON-Schema fragments that accept
an n8n expression wherever a literal is allowed (any parameter may be ``={{ ... }}``, which the schema
cannot evaluate), and :func:`parse_json_param` for parameters that n8n accepts as a JSON string or as
already-parsed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Items, NodeContext, NodeType

# --- schema fragments shared by this package's node families -------------------------------------------

EXPRESSION: dict[str, Any] = {"type": "string", "pattern": "^="}
"""A parameter written as an n8n expression; its type is only known once evaluated."""


def or_expression(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` or an expression, so ``={{ $json.n }}`` passes where a number is expected."""
    return {"anyOf": [dict(schema), EXPRESSION]}


NUMBER = or_expression({"type": "number"})
BOOLEAN = or_expression({"type": "boolean"})
STRING: dict[str, Any] = {"type": "string"}
JSON_TEXT_OR_VALUE: dict[str, Any] = {"type": ["string", "object", "array"]}


def one_of(*values: str) -> dict[str, Any]:
    """An n8n ``options`` parameter: one of ``values`` (typos are caught) or an expression."""
    return or_expression({"enum": list(values)})


def object_schema(properties: Mapping[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object whose known keys are checked and whose other keys are let through (n8n adds many)."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties), "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    return schema


def parse_json_param(value: Any, name: str) -> Any:
    """A parameter n8n takes as JSON text or as parsed JSON; bad text is the user's mistake: a NodeError."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise NodeError(
            f"Parameter '{name}' is not valid JSON",
            code=ErrorCode.INVALID_PARAMETER,
            description=f"{exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from exc


def first_input(inputs: list[Items]) -> Items:
    """Items on input 0 (a node with nothing connected gets none)."""
    return list(inputs[0]) if inputs else []


# --- triggers and pass-through -------------------------------------------------------------------------


class TriggerNode(NodeType):
    """A start node: emits the execution's input items, which the executor hands it as input 0.

    Without any (a plain manual run) it emits one empty item, as n8n's manual trigger does.
    """

    cpu_only = True

    is_trigger = True
    parameters_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}

    def input_count(self, node: NodeDefinition) -> int:
        return 0

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [list(inputs[0]) if inputs else [{"json": {}}]]


class ManualTrigger(TriggerNode):
    type = "n8n-nodes-base.manualTrigger"
    display_name = "Manual Trigger"
    description = "Starts the workflow when it is run by hand or through the API."
    aliases = ("manualTrigger",)


class Start(TriggerNode):
    type = "n8n-nodes-base.start"
    display_name = "Start"
    description = "The start node of workflows exported from n8n before 0.150; behaves like Manual Trigger."
    aliases = ("start",)


class NoOp(NodeType):
    cpu_only = True
    type = "n8n-nodes-base.noOp"
    display_name = "No Operation, do nothing"
    description = "Passes its input items through unchanged."
    aliases = ("noOp",)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [first_input(inputs)]


# --- Stop and Error ------------------------------------------------------------------------------------


class StopAndError(NodeType):
    """Fails the run on purpose, with a message or with an error object the user wrote."""

    type = "n8n-nodes-base.stopAndError"
    display_name = "Stop and Error"
    description = "Throws an error, stopping the workflow (or taking the node's error path)."
    aliases = ("stopAndError",)
    parameters_schema = object_schema(
        {
            "errorType": one_of("errorMessage", "errorObject"),
            "errorMessage": STRING,
            "errorObject": {"type": ["string", "object"]},
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        if ctx.param("errorType", 0, "errorMessage") == "errorObject":
            raise _error_from_object(parse_json_param(ctx.param("errorObject", 0, "{}"), "errorObject"))
        raise NodeError(str(ctx.param("errorMessage", 0, "")), code=ErrorCode.STOPPED_BY_NODE)


def _error_from_object(error: Any) -> NodeError:
    """n8n's message choice: message, then description, then the nested error's, else the whole object."""
    if not isinstance(error, dict):
        return NodeError(f"Error: {json.dumps(error)}", code=ErrorCode.STOPPED_BY_NODE)
    nested: dict[str, Any] = error["error"] if isinstance(error.get("error"), dict) else {}
    message = (
        error.get("message")
        or error.get("description")
        or nested.get("message")
        or nested.get("description")
        or f"Error: {json.dumps(error)}"
    )
    description = error.get("description") if isinstance(error.get("description"), str) else None
    return NodeError(str(message), code=ErrorCode.STOPPED_BY_NODE, description=description, details=error)


# --- Wait ----------------------------------------------------------------------------------------------

_SECONDS_PER_UNIT = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class Wait(NodeType):
    """Pauses for a time interval, then passes its items on.

    Only ``resume: timeInterval`` exists here: the other modes need a webhook, a form or a persisted wake-up
    time, which this engine does not have yet. The sleep goes through ``ctx.sleep`` so an abort or the
    execution timeout ends it.
    """

    type = "n8n-nodes-base.wait"
    versions = (1, 1.1)
    display_name = "Wait"
    description = "Waits for a time interval before passing the items on."
    parameters_schema = object_schema(
        {
            "resume": one_of("timeInterval"),
            "amount": or_expression({"type": "number", "minimum": 0}),
            "unit": one_of(*_SECONDS_PER_UNIT),
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        resume = ctx.param("resume", 0, "timeInterval")
        if resume != "timeInterval":
            raise NodeError(f"Resume mode {resume!r} is not supported yet", code=ErrorCode.INVALID_PARAMETER)
        await ctx.sleep(_wait_seconds(ctx.param("amount", 0, 1), ctx.param("unit", 0, "hours")))
        return [first_input(inputs)]


def _wait_seconds(amount: Any, unit: Any) -> float:
    if unit not in _SECONDS_PER_UNIT:
        raise NodeError(f"Unknown unit {unit!r}", code=ErrorCode.INVALID_PARAMETER)
    try:
        seconds = float(amount) * _SECONDS_PER_UNIT[unit]
    except (TypeError, ValueError) as exc:
        raise NodeError(f"Amount {amount!r} is not a number", code=ErrorCode.INVALID_PARAMETER) from exc
    if seconds < 0 or seconds != seconds:  # NaN compares unequal to itself
        raise NodeError(f"Amount {amount!r} must be zero or more", code=ErrorCode.INVALID_PARAMETER)
    return seconds


# --- harness and canvas nodes --------------------------------------------------------------------------


class TestData(NodeType):
    """n8n's test-harness node: emits its ``data`` parameter as items and ignores its input.

    Most of n8n's own conformance workflows feed their nodes from it, so it must run unchanged here.
    """

    cpu_only = True

    __test__ = False  # its name starts with "Test": keep pytest from collecting it

    type = "n8n-nodes-testing.testData"
    display_name = "Test Data"
    description = "Emits fixed items: a JSON array, a single object, or a JSON string of either."
    aliases = ("testData",)
    parameters_schema = object_schema({"data": JSON_TEXT_OR_VALUE})

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        data = parse_json_param(ctx.param("data", 0, []), "data")
        elements = data if isinstance(data, list) else [data]
        return [[{"json": element} for element in elements]]


class StickyNote(NodeType):
    """A note on the canvas. Registered so validation accepts it; it has no ports and produces nothing."""

    cpu_only = True

    type = "n8n-nodes-base.stickyNote"
    display_name = "Sticky Note"
    description = "A canvas note; never part of the data flow."
    aliases = ("stickyNote",)
    parameters_schema = object_schema({"content": STRING, "height": NUMBER, "width": NUMBER, "color": NUMBER})

    def input_count(self, node: NodeDefinition) -> int:
        return 0

    def output_count(self, node: NodeDefinition) -> int | None:
        return 0

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return []


NODE_TYPES: list[type[NodeType]] = [ManualTrigger, Start, NoOp, StopAndError, Wait, TestData, StickyNote]
