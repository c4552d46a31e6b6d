"""The machinery behind MetaBuilder's function-style operations (``string.concat``, ``list.filter`` ...).

Each operation is one small function plus a declarative :class:`Op` row (id, aliases, parameters with their
schemas, defaults and alias names). :func:`node_type_for` turns a row into a :class:`NodeType` subclass, so
the 116 operations share one ``run``: per input item it evaluates the parameters against that item, calls the
function and emits the function's ``{result, ...extras}`` object as the item's json.

Callback parameters (``list.filter``'s ``condition``, ``dict.mapValues``' ``transform`` ...) are not
evaluated up front: the function receives a :class:`Callback` that renders the raw template once per element
with names such as ``item``/``$index`` layered over the item's ordinary expression scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    ExpressionError,
    is_template,
    js_string,
    js_truthy,
    to_json,
)
from tenantflow.engine.expressions.values import js_num, to_number
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import first_input

# --- parameter schemas ---------------------------------------------------------------------------------

TEMPLATE: dict[str, Any] = {"type": "string", "pattern": r"^=|\{\{"}
"""An n8n (``=...``) or MetaBuilder (``...{{ }}...``) template; its type is only known once evaluated."""

_NUMERIC_TEXT: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$",
}


def or_template(*schemas: Mapping[str, Any]) -> dict[str, Any]:
    """Any of ``schemas``, or a template (which the validator cannot evaluate)."""
    return {"anyOf": [*map(dict, schemas), TEMPLATE]}


ANY: dict[str, Any] = {}
NUM = or_template({"type": "number"}, _NUMERIC_TEXT)
"""A number, numeric text (MetaBuilder coerces with ``Number()``) or a template."""
BOOL = or_template({"type": "boolean"})
TEXT: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
"""A scalar the op turns into text with ``String()``."""
STR: dict[str, Any] = {"type": "string"}
ARRAY = or_template({"type": "array"})
OBJECT = or_template({"type": "object"})
EXPRESSION: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
"""A callback expression: a template, or bare expression text such as ``item.active``."""


def enum(*values: str) -> dict[str, Any]:
    return or_template({"enum": list(values)})


# --- the declarative table -----------------------------------------------------------------------------

MISSING: Any = object()
"""Default of a parameter without one: reading it gives ``UNDEFINED``."""


@dataclass(frozen=True)
class Param:
    """One parameter: its schema, its default (applied when absent or ``undefined``, as JS defaults are)
    and the Python plugins' alias names."""

    name: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    default: Any = MISSING
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Op:
    """A row of the operation table; ``fn`` maps the call's :class:`Args` to the result object."""

    id: str
    fn: Callable[[Args], dict[str, Any]]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""


def p(name: str, schema: Mapping[str, Any] | None = None, default: Any = MISSING, *aliases: str) -> Param:
    """Shorthand for the tables: ``p("values", ARRAY, [], "numbers")``."""
    return Param(name, ANY if schema is None else schema, default, aliases)


def callback(name: str, *aliases: str) -> Param:
    """A per-element expression parameter; the op reads it with :meth:`Args.callback`, never evaluated."""
    return Param(name, EXPRESSION, MISSING, aliases)


# --- one call: parameters, callbacks, variables ------------------------------------------------------


class Args:
    """The parameters of one call, evaluated against one input item on first read."""

    def __init__(self, ctx: NodeContext, op: Op, item_index: int) -> None:
        self._ctx = ctx
        self._params = {param.name: param for param in op.params}
        self._index = item_index
        self._values: dict[str, Any] = {}

    @property
    def variables(self) -> dict[str, Any]:
        """The execution's variable scope, shared by every node of the run (``var.*``)."""
        return self._ctx.variables

    def _raw(self, param: Param) -> Any:
        for name in param.names:
            raw = self._ctx.raw_param(name, MISSING)
            if raw is not MISSING:
                return raw
        return MISSING

    def given(self, name: str) -> bool:
        """Whether the parameter is written on the node (under any of its names), default aside."""
        return self._raw(self._params[name]) is not MISSING

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            param = self._params[name]
            raw = self._raw(param)
            value = UNDEFINED if raw is MISSING else self._ctx.evaluate(raw, self._index)
            if value is UNDEFINED and param.default is not MISSING:
                value = param.default
            self._values[name] = value
        return self._values[name]

    def callback(self, name: str) -> Callback:
        return Callback(self._ctx, self._raw(self._params[name]), self._index)


class Callback:
    """A callback parameter: renders its raw expression with per-element names.

    A template (``={{ item.n > 1 }}`` or ``{{ $item.n > 1 }}``) is used as is; other text is taken as a bare
    expression (``item.active``); a non-string value is a constant.
    """

    def __init__(self, ctx: NodeContext, raw: Any, item_index: int) -> None:
        self._ctx = ctx
        self._index = item_index
        self._raw = raw
        self._source = raw if not isinstance(raw, str) or is_template(raw) else "={{ " + raw + " }}"

    @property
    def given(self) -> bool:
        return self._raw is not MISSING

    @property
    def is_template(self) -> bool:
        return isinstance(self._raw, str) and is_template(self._raw)

    def __call__(self, names: Mapping[str, Any]) -> Any:
        """The expression's value (a JS value: may be ``UNDEFINED``) for one element."""
        if not isinstance(self._source, str):
            return None if self._source is MISSING else self._source
        try:
            return self._ctx.evaluate_with(self._source, names, self._index)
        except ExpressionError as exc:
            raise NodeError(
                f"Callback expression failed: {exc}",
                code=ErrorCode.INVALID_EXPRESSION,
                description=self._source,
            ) from exc

    def test(self, names: Mapping[str, Any]) -> bool:
        return js_truthy(self(names))

    def value(self, names: Mapping[str, Any]) -> Any:
        """The expression's value as JSON data (what the op stores in its result)."""
        return to_json(self(names))


def element_names(item: Any, index: int) -> dict[str, Any]:
    """The per-element names of list callbacks."""
    return {"item": item, "index": index, "$item": item, "$index": index}


def entry_names(key: str, value: Any) -> dict[str, Any]:
    """The per-entry names of dict callbacks."""
    return {"key": key, "value": value, "$key": key, "$value": value}


# --- JS helpers shared by the op modules ---------------------------------------------------------------


def num(value: Any) -> int | float:
    """JS ``Number(value)`` (``undefined`` is NaN, ``null`` 0)."""
    return to_number(value)


def js_number(value: float) -> int | float:
    """A numeric result as JS would print it: integral values as ``int``."""
    return js_num(float(value)) if value == value and value not in (float("inf"), float("-inf")) else value


def integer(value: Any, default: int) -> int:
    """A JS integer argument: ``undefined`` gives ``default``, NaN 0, fractions truncate."""
    if value is UNDEFINED:
        return default
    n = num(value)
    if n != n:
        return 0
    return int(max(min(n, 2**53), -(2**53)))


def text(value: Any) -> str:
    """JS ``String(value)``."""
    return js_string(value)


def is_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def fail(message: str, code: str = ErrorCode.INVALID_PARAMETER) -> NodeError:
    return NodeError(message, code=code)


def require_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"Parameter '{name}' must be an array, got {text(value) if value is not None else 'null'}")
    return value


def require_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"Parameter '{name}' must be an object")
    return value


# --- node types ------------------------------------------------------------------------------------------


class OperationNode(NodeType):
    """Runs its :class:`Op` once per input item (once with no input) and emits the result objects."""

    cpu_only = True
    op: ClassVar[Op]

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        count = max(len(first_input(inputs)), 1)
        return [[{"json": to_json(self.op.fn(Args(ctx, self.op, index)))} for index in range(count)]]


def _schema(op: Op) -> dict[str, Any]:
    properties = {name: dict(param.schema) for param in op.params for name in param.names}
    return {"type": "object", "properties": properties, "additionalProperties": True}


def node_type_for(op: Op) -> type[NodeType]:
    """The node type of one table row (type id = the MetaBuilder plugin id)."""
    attributes = {
        "type": op.id,
        "op": op,
        "aliases": op.aliases,
        "display_name": op.id,
        "description": op.description,
        "parameters_schema": _schema(op),
    }
    return type(f"Op_{op.id.replace('.', '_')}", (OperationNode,), attributes)
