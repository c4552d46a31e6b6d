"""n8n's condition engine, shared by If, Filter and Switch.

n8n has two generations of conditions and exports of both must keep working unchanged:

* **legacy** (If v1, Filter v1, Switch v1/v2): ``{value1, operation, value2}`` grouped by data type, compared
  with plain JavaScript operators (``===``, ``(a || 0) > (b || 0)``) and no type conversion at all;
* **filter** (If v2+, Filter v2+, Switch v3+): the ``filter`` parameter type, ``{leftValue, rightValue,
  operator: {type, operation}}``, where both values are first validated or converted to the operator's type
  (strict or loose) and a wrong type is an error naming the value, not a silent ``false``.

Values arrive already evaluated (expressions resolved by the executor), so ``undefined`` may appear as
:data:`UNDEFINED`; it is treated like JavaScript's ``undefined`` throughout.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    ExpressionError,
    JSValue,
    compile_js_regex,
    format_json,
    is_number,
    js_less_than,
    js_strict_equals,
    js_string,
    js_truthy,
    js_typeof,
    parse_date,
    resolve_zone,
    search,
    to_json,
    to_number,
)
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, STRING, object_schema, one_of

# --- JavaScript helpers both generations need ---------------------------------------------------------


def is_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def _is_nan(value: Any) -> bool:
    return type(value) is float and math.isnan(value)


def js_gt(a: Any, b: Any) -> bool:
    return js_less_than(b, a) is True


def js_gte(a: Any, b: Any) -> bool:
    """``a >= b`` is ``!(a < b)`` except that a NaN operand makes it false."""
    return js_less_than(a, b) is False


_REGEX_LITERAL = re.compile(r"/(.*?)/([gimusy]*)")
REGEX_SECONDS = 1.0  # as long as one expression may run: a backtracking pattern stops with EXPRESSION_LIMIT


def js_regex_test(pattern: Any, subject: str) -> bool:
    """n8n's regex operators: ``/source/flags`` is a regex literal, any other text is the bare source."""
    text = js_string(pattern)
    literal = _REGEX_LITERAL.fullmatch(text)
    source, flags = (literal.group(1), literal.group(2)) if literal else (text, "")
    try:
        compiled = compile_js_regex(source, flags.replace("y", ""))
    except ExpressionError as exc:
        raise NodeError(f"Invalid regular expression: {text}", description=str(exc)) from exc
    return search(compiled, source, subject, REGEX_SECONDS, sticky="y" in flags) is not None


def _date_ms(value: Any, zone: tzinfo) -> float:
    """Epoch milliseconds of a date-like value (ISO/RFC text, a date from an expression); NaN if none."""
    if isinstance(value, JSValue):
        return float(value.to_number())
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        return parse_date(value, zone)
    return math.nan


# --- legacy conditions (If v1, Filter v1, Switch v1/v2) ----------------------------------------------

LEGACY_TYPES = ("boolean", "dateTime", "number", "string")
"""The order n8n checks the groups in; it decides which condition short-circuits first."""

_ORDER_OPERATIONS = ("smaller", "smallerEqual", "equal", "notEqual", "larger", "largerEqual")
_TEXT_OPERATIONS = (
    "contains", "notContains", "startsWith", "notStartsWith", "endsWith", "notEndsWith",
    "equal", "notEqual", "regex", "notRegex",
)  # fmt: skip
_EMPTY_OPERATIONS = ("isEmpty", "isNotEmpty")

LEGACY_OPERATIONS: dict[str, tuple[str, ...]] = {
    "boolean": ("equal", "notEqual"),
    "dateTime": ("after", "before"),
    "number": _ORDER_OPERATIONS + _EMPTY_OPERATIONS,
    "string": _TEXT_OPERATIONS + _EMPTY_OPERATIONS,
}
"""If/Filter v1 operations per data type."""

SWITCH_LEGACY_OPERATIONS: dict[str, tuple[str, ...]] = {
    **LEGACY_OPERATIONS,
    "number": _ORDER_OPERATIONS,
    "string": _TEXT_OPERATIONS,
}
"""Switch v1/v2 rule operations: If's, without isEmpty/isNotEmpty."""

LEGACY_DEFAULT_OPERATION = {"boolean": "equal", "dateTime": "after", "number": "smaller", "string": "equal"}
LEGACY_DEFAULT_VALUE: dict[str, Any] = {"boolean": False, "dateTime": "", "number": 0, "string": ""}


def _or(value: Any, fallback: Any) -> Any:
    """JavaScript ``value || fallback``."""
    return value if js_truthy(value) else fallback


def _text(value: Any) -> str:
    """``(value || '').toString()``."""
    return js_string(_or(value, ""))


def _string_method(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    """``value1.<name>(value2)`` without a guard: n8n v1 fails on a non-string ``value1``, so do we."""

    def call(value1: Any, value2: Any) -> bool:
        if not isinstance(value1, str):
            raise NodeError(
                f"Cannot use '{name}' on {js_typeof(value1) if value1 is not None else 'null'} value "
                f"'{js_string(value1)}'",
                description="The value to compare has to be a string for this operation.",
            )
        return test(value1, js_string(value2))

    return call


def _legacy_is_empty(value: Any) -> bool:
    if is_nullish(value) or value == "" or _is_nan(value):
        return True
    if isinstance(value, JSValue):
        return math.isnan(value.to_number())
    return isinstance(value, dict | list) and len(value) == 0


_LEGACY_FUNCTIONS: dict[str, Callable[[Any, Any], bool]] = {
    "after": lambda a, b: js_gt(_or(a, 0), _or(b, 0)),
    "before": lambda a, b: js_gt(_or(b, 0), _or(a, 0)),
    "larger": lambda a, b: js_gt(_or(a, 0), _or(b, 0)),
    "largerEqual": lambda a, b: js_gte(_or(a, 0), _or(b, 0)),
    "smaller": lambda a, b: js_gt(_or(b, 0), _or(a, 0)),
    "smallerEqual": lambda a, b: js_gte(_or(b, 0), _or(a, 0)),
    "equal": js_strict_equals,
    "notEqual": lambda a, b: not js_strict_equals(a, b),
    "contains": lambda a, b: _text(b) in _text(a),
    "notContains": lambda a, b: _text(b) not in _text(a),
    "startsWith": _string_method("startsWith", str.startswith),
    "notStartsWith": _string_method("startsWith", lambda a, b: not a.startswith(b)),
    "endsWith": _string_method("endsWith", str.endswith),
    "notEndsWith": _string_method("endsWith", lambda a, b: not a.endswith(b)),
    "regex": lambda a, b: js_regex_test(_text(b), _text(a)),
    "notRegex": lambda a, b: not js_regex_test(_text(b), _text(a)),
    "isEmpty": lambda a, _b: _legacy_is_empty(a),
    "isNotEmpty": lambda a, _b: not _legacy_is_empty(a),
}


def legacy_datetime(value: Any) -> float:
    """n8n v1's ``convertDateTime``: text through JS ``new Date()``, numbers as epoch ms, else an error."""
    ms = _date_ms(value, UTC) if isinstance(value, str | JSValue) or is_number(value) else math.nan
    if math.isnan(ms):
        raise NodeError(f'The value "{js_string(value)}" is not a valid DateTime.')
    return ms


def legacy_compare(data_type: str, operation: str, value1: Any, value2: Any) -> bool:
    """One legacy comparison, dates converted first as n8n does for the ``dateTime`` group."""
    compare = _LEGACY_FUNCTIONS.get(operation)
    if compare is None:
        raise NodeError(f"Unknown comparison operation '{operation}'", code=ErrorCode.INVALID_PARAMETER)
    if data_type == "dateTime":
        value1, value2 = legacy_datetime(value1), legacy_datetime(value2)
    return compare(value1, value2)


def legacy_conditions_pass(conditions: Any, *, require_all: bool) -> bool:
    """If/Filter v1: every group's conditions in n8n's order, stopping at the first decisive one."""
    groups = conditions if isinstance(conditions, Mapping) else {}
    for data_type in LEGACY_TYPES:
        for condition in groups.get(data_type) or ():
            passed = legacy_compare(
                data_type,
                condition.get("operation", LEGACY_DEFAULT_OPERATION[data_type]),
                condition.get("value1", LEGACY_DEFAULT_VALUE[data_type]),
                condition.get("value2", LEGACY_DEFAULT_VALUE[data_type]),
            )
            if passed != require_all:
                return passed
    return require_all


# --- filter conditions (If v2+, Filter v2+, Switch v3+) ----------------------------------------------

FILTER_OPERATIONS: dict[str, tuple[str, ...]] = {
    "string": (
        "exists", "notExists", "empty", "notEmpty", "equals", "notEquals", "contains", "notContains",
        "startsWith", "notStartsWith", "endsWith", "notEndsWith", "regex", "notRegex",
    ),
    "number": ("exists", "notExists", "empty", "notEmpty", "equals", "notEquals", "gt", "lt", "gte", "lte"),
    "dateTime": (
        "exists", "notExists", "empty", "notEmpty", "equals", "notEquals",
        "after", "before", "afterOrEquals", "beforeOrEquals",
    ),
    "boolean": ("exists", "notExists", "empty", "notEmpty", "true", "false", "equals", "notEquals"),
    "array": (
        "exists", "notExists", "empty", "notEmpty", "contains", "notContains",
        "lengthEquals", "lengthNotEquals", "lengthGt", "lengthLt", "lengthGte", "lengthLte",
    ),
    "object": ("exists", "notExists", "empty", "notEmpty"),
    "any": ("exists", "notExists"),
}  # fmt: skip

STRICT_TYPE_HINT = "Try changing the type of comparison. Alternatively you can enable 'Convert Value Types'."
LOOSE_TYPE_HINT = "Try to change the operator, or change the type with an expression"


@dataclass(frozen=True)
class FilterOptions:
    """How one filter value is evaluated: n8n's ``caseSensitive``, ``typeValidation`` and options version.

    Version 2 (If 2.2, Filter 2.2, Switch 3.2) changes loose booleans: ``"false"``/``"0"`` become false
    instead of JavaScript truthiness.
    """

    case_sensitive: bool = True
    strict: bool = True
    version: int = 1
    zone: tzinfo = UTC


def filter_options(
    value: Any, *, ignore_case: bool, loose: bool, version: int, timezone: str = "UTC"
) -> FilterOptions:
    """The filter value's stored options, overridden by the node's ignore-case and loose-type switches."""
    stored = value.get("options") if isinstance(value, Mapping) else None
    stored = stored if isinstance(stored, Mapping) else {}
    try:
        zone = resolve_zone(timezone)
    except ExpressionError:
        zone = UTC
    stored_version = stored.get("version")
    return FilterOptions(
        case_sensitive=stored.get("caseSensitive", True) is not False and not ignore_case,
        strict=stored.get("typeValidation", "strict") != "loose" and not loose,
        version=stored_version if type(stored_version) is int else version,
        zone=zone,
    )


class _WrongType(Exception):
    """A value that cannot be used as the operator's type (becomes a NodeError naming it)."""


def _to_string(value: Any) -> str:
    if isinstance(value, dict | list):
        return format_json(to_json(value))
    return js_string(value)


def _to_number(value: Any) -> int | float:
    number = to_number(value) if not isinstance(value, dict) else math.nan
    if math.isnan(number):
        raise _WrongType
    return number


def _to_boolean(value: Any) -> bool:
    """n8n's ``tryToParseBoolean``: true/false in any case, or a value that is numerically 0 or 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not (isinstance(value, str) and not value.strip()):
        number = to_number(value) if not isinstance(value, dict) else math.nan
        if number in (0, 1):
            return number == 1
    raise _WrongType


def _parse_json_text(value: Any, expected: type) -> Any:
    """n8n's ``tryToParseArray``/``tryToParseObject``: JSON text, also with single quotes."""
    if isinstance(value, expected):
        return value
    text = js_string(value)
    for candidate in (text, text.replace("'", '"')):
        try:
            parsed = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, expected):
            return parsed
    raise _WrongType


def _to_date(value: Any, options: FilterOptions) -> float:
    ms = _date_ms(value, options.zone)
    if math.isnan(ms):
        raise _WrongType
    return ms


_STRICT_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": is_number,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}

_CONVERTERS: dict[str, Callable[[Any, FilterOptions], Any]] = {
    "string": lambda v, _o: _to_string(v),
    "number": lambda v, _o: _to_number(v),
    "boolean": lambda v, _o: _to_boolean(v),
    "array": lambda v, _o: _parse_json_text(v, list),
    "object": lambda v, _o: _parse_json_text(v, dict),
    "dateTime": _to_date,
}


def _coerce(value: Any, kind: str, options: FilterOptions) -> Any:
    """n8n's ``parseSingleFilterValue``: the value as ``kind``, raising :class:`_WrongType` if impossible."""
    if kind == "any" or is_nullish(value):
        return value
    if kind == "number" and _is_nan(value):
        return value
    if kind == "boolean" and not options.strict:
        try:
            return _to_boolean(value) if options.version >= 2 else js_truthy(value)
        except _WrongType:
            return js_truthy(value)
    strict_check = _STRICT_TYPES.get(kind)
    if options.strict and strict_check is not None and not strict_check(value):
        raise _WrongType
    convert = _CONVERTERS.get(kind)
    return value if convert is None else convert(value, options)


def _article(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _describe(value: Any) -> str:
    return "null" if value is None else js_typeof(value)


def _type_error(message: str, options: FilterOptions, index: int, item_index: int) -> NodeError:
    return NodeError(
        f"{message} [condition {index}, item {item_index}]",
        code=ErrorCode.NODE_EXECUTION_FAILED,
        description=STRICT_TYPE_HINT if options.strict else LOOSE_TYPE_HINT,
        details={"itemIndex": item_index, "conditionIndex": index},
    )


def _right_kind(operator: Mapping[str, Any], kind: str) -> str:
    """``rightType`` as stored; exports that omit it get the editor's choice for array operators."""
    if operator.get("rightType"):
        return str(operator["rightType"])
    if kind == "array":
        return "any" if operator.get("operation") in ("contains", "notContains") else "number"
    return kind


_SINGLE_VALUE_OPERATIONS = frozenset({"exists", "notExists", "empty", "notEmpty", "true", "false"})


def _single_value(operator: Mapping[str, Any]) -> bool:
    """Operators that ignore the right value, so its type cannot matter.

    n8n goes by the ``singleValue`` flag its editor stores; hand-written workflows often leave it out.
    """
    return bool(operator.get("singleValue")) or operator.get("operation") in _SINGLE_VALUE_OPERATIONS


def _wrong_type(value: Any, expected: str) -> str:
    found = _article(_describe(value))
    return f"Wrong type: '{js_string(value)}' is {found} but was expecting {_article(expected)}"


def _parse_operands(
    condition: Mapping[str, Any], options: FilterOptions, index: int, item_index: int
) -> tuple[Any, Any]:
    """Both operands converted to the operator's types, or n8n's "Wrong type" error."""
    operator = condition.get("operator") or {}
    kinds = (operator.get("type", "string"), _right_kind(operator, operator.get("type", "string")))
    raw = (condition.get("leftValue", UNDEFINED), condition.get("rightValue", UNDEFINED))
    parsed: list[Any] = [UNDEFINED, UNDEFINED]
    valid = [True, True]
    for side in (0, 1):
        try:
            parsed[side] = _coerce(raw[side], kinds[side], options)
        except _WrongType:
            valid[side] = side == 1 and _single_value(operator)
    if not any(valid) and _describe(raw[0]) == _describe(raw[1]):
        both = _article(_describe(raw[0]))
        message = f"Comparison type expects {_article(kinds[0])} but both fields are {both}"
        raise _type_error(message, options, index, item_index)
    for side in (0, 1):
        if not valid[side]:
            raise _type_error(_wrong_type(raw[side], kinds[side]), options, index, item_index)
    return parsed[0], parsed[1]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _string_operation(operation: str, left: Any, right: Any, options: FilterOptions) -> bool:
    regex = operation in ("regex", "notRegex")
    if not options.case_sensitive:
        left, right = _lower(left), right if regex else _lower(right)
    a = "" if is_nullish(left) else js_string(left)
    b = "" if is_nullish(right) else js_string(right)
    tests: dict[str, Callable[[], bool]] = {
        "empty": lambda: a == "",
        "notEmpty": lambda: a != "",
        "equals": lambda: a == b,
        "notEquals": lambda: a != b,
        "contains": lambda: b in a,
        "notContains": lambda: b not in a,
        "startsWith": lambda: a.startswith(b),
        "notStartsWith": lambda: not a.startswith(b),
        "endsWith": lambda: a.endswith(b),
        "notEndsWith": lambda: not a.endswith(b),
        "regex": lambda: js_regex_test(b, a),
        "notRegex": lambda: not js_regex_test(b, a),
    }
    return tests[operation]()


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": js_strict_equals,
    "notEquals": lambda a, b: not js_strict_equals(a, b),
    "gt": js_gt,
    "lt": lambda a, b: js_gt(b, a),
    "gte": js_gte,
    "lte": lambda a, b: js_gte(b, a),
    "after": js_gt,
    "before": lambda a, b: js_gt(b, a),
    "afterOrEquals": js_gte,
    "beforeOrEquals": lambda a, b: js_gte(b, a),
}


def _boolean_operation(operation: str, left: Any, right: Any) -> bool:
    if operation == "true":
        return js_truthy(left)
    if operation == "false":
        return not js_truthy(left)
    return _ORDERINGS[operation](left, right)


def _same_value_zero(a: Any, b: Any, ignore_case: bool) -> bool:
    """``Array.prototype.includes`` equality, optionally ignoring the case of strings."""
    if ignore_case and isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return js_strict_equals(a, b) or (_is_nan(a) and _is_nan(b))


_LENGTH_TESTS: dict[str, Callable[[int, Any], bool]] = {
    "lengthEquals": lambda n, r: js_strict_equals(n, r),
    "lengthNotEquals": lambda n, r: not js_strict_equals(n, r),
    "lengthGt": js_gt,
    "lengthLt": lambda n, r: js_gt(r, n),
    "lengthGte": js_gte,
    "lengthLte": lambda n, r: js_gte(r, n),
}


def _array_operation(operation: str, left: Any, right: Any, options: FilterOptions) -> bool:
    values = [] if is_nullish(left) else left
    if operation in ("contains", "notContains"):
        found = any(_same_value_zero(v, right, not options.case_sensitive) for v in values)
        return found == (operation == "contains")
    if operation in ("empty", "notEmpty"):
        return (len(values) == 0) == (operation == "empty")
    return _LENGTH_TESTS[operation](len(values), right)


def _object_operation(operation: str, left: Any) -> bool:
    if not isinstance(left, dict | list):
        return False
    return (len(left) == 0) == (operation == "empty")


def _typed_operation(kind: str, operation: str, left: Any, right: Any, options: FilterOptions) -> bool:
    if kind in ("number", "dateTime", "boolean") and operation in ("empty", "notEmpty"):
        return _exists(left) == (operation == "notEmpty")
    if kind == "string":
        return _string_operation(operation, left, right, options)
    if kind == "boolean":
        return _boolean_operation(operation, left, right)
    if kind in ("number", "dateTime"):
        return _ORDERINGS[operation](left, right)
    if kind == "array":
        return _array_operation(operation, left, right, options)
    return _object_operation(operation, left)


def _exists(value: Any) -> bool:
    return not (is_nullish(value) or _is_nan(value))


def condition_passes(
    condition: Mapping[str, Any], options: FilterOptions, index: int, item_index: int
) -> bool:
    """One filter condition (n8n's ``executeFilterCondition``)."""
    operator = condition.get("operator") or {}
    kind, operation = str(operator.get("type", "string")), str(operator.get("operation", "equals"))
    if operation not in FILTER_OPERATIONS.get(kind, ()):
        raise NodeError(
            f"Unknown filter operator '{kind}:{operation}' in condition {index}",
            code=ErrorCode.INVALID_PARAMETER,
        )
    left, right = _parse_operands(condition, options, index, item_index)
    if operation in ("exists", "notExists"):
        return _exists(left) == (operation == "exists")
    return _typed_operation(kind, operation, left, right, options)


def filter_passes(value: Any, options: FilterOptions, item_index: int) -> bool:
    """A whole filter value: its conditions combined with ``and`` (the default) or ``or``."""
    if not isinstance(value, Mapping):
        return True
    conditions: Sequence[Mapping[str, Any]] = value.get("conditions") or ()
    results = (condition_passes(c, options, i, item_index) for i, c in enumerate(conditions))
    return any(results) if value.get("combinator") == "or" else all(results)


# --- JSON Schemas ------------------------------------------------------------------------------------

ANY_VALUE: dict[str, Any] = {}


def _legacy_group(data_type: str, operations: Sequence[str], value: Mapping[str, Any]) -> dict[str, Any]:
    condition = object_schema({"value1": value, "value2": value, "operation": one_of(*operations)})
    return {"type": "array", "items": condition}


_LEGACY_VALUE_SCHEMAS: dict[str, Mapping[str, Any]] = {
    "boolean": BOOLEAN,
    "dateTime": {"type": ["string", "number"]},
    "number": NUMBER,
    "string": {"type": ["string", "number", "boolean", "null"]},
}


def legacy_conditions_schema(operations: Mapping[str, Sequence[str]] = LEGACY_OPERATIONS) -> dict[str, Any]:
    """``conditions: {boolean: [...], dateTime: [...], number: [...], string: [...]}`` of If/Filter v1."""
    groups = {t: _legacy_group(t, operations[t], _LEGACY_VALUE_SCHEMAS[t]) for t in LEGACY_TYPES}
    return object_schema(groups)


def legacy_value_schema(data_type: str) -> Mapping[str, Any]:
    return _LEGACY_VALUE_SCHEMAS.get(data_type, ANY_VALUE)


def _operator_schema() -> dict[str, Any]:
    kinds = list(FILTER_OPERATIONS)
    schema = object_schema(
        {
            "type": {"enum": kinds},
            "operation": STRING,
            "rightType": {"enum": kinds},
            "singleValue": {"type": "boolean"},
        },
        required=("type", "operation"),
    )
    schema["allOf"] = [
        {
            "if": {"properties": {"type": {"const": kind}}},
            "then": {"properties": {"operation": {"enum": list(operations)}}},
        }
        for kind, operations in FILTER_OPERATIONS.items()
    ]
    return schema


FILTER_SCHEMA: dict[str, Any] = object_schema(
    {
        "options": object_schema(
            {
                "caseSensitive": BOOLEAN,
                "typeValidation": one_of("strict", "loose"),
                "version": {"type": "integer", "minimum": 1},
            }
        ),
        "conditions": {
            "type": "array",
            "items": object_schema(
                {
                    "id": STRING,
                    "leftValue": ANY_VALUE,
                    "rightValue": ANY_VALUE,
                    "operator": _operator_schema(),
                },
                required=("operator",),
            ),
        },
        "combinator": one_of("and", "or"),
    }
)
"""n8n's ``filter`` parameter value: operator types and operations are checked before anything runs."""

FILTER_NODE_OPTIONS: dict[str, Any] = object_schema({"ignoreCase": BOOLEAN, "looseTypeValidation": BOOLEAN})
