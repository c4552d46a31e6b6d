"""MetaBuilder's ``math.*`` (17) and ``logic.*`` (17) operations: JS ``Number()`` and truthiness rules."""

from __future__ import annotations

import math
import random
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import UNDEFINED, js_loose_equals, js_strict_equals, js_truthy
from tenantflow.engine.expressions.operators import (
    greater,
    greater_equal,
    less,
    less_equal,
    remainder,
)
from tenantflow.engine.expressions.values import js_typeof

from .core import (
    ANY,
    ARRAY,
    BOOL,
    NUM,
    Args,
    Op,
    fail,
    is_nullish,
    js_number,
    num,
    p,
    require_list,
)

_INF = float("inf")

# --- math ----------------------------------------------------------------------------------------------


def _numbers(a: Args) -> list[int | float]:
    return [num(v) for v in require_list(a["values"], "values")]


def _finite(x: float) -> bool:
    return x == x and x not in (_INF, -_INF)


def _sum(values: list[int | float]) -> int | float:
    """Left-to-right addition, rounding as JS does at each step (no compensated summation)."""
    total: int | float = 0
    for value in values:
        total += value
    return js_number(total)


def math_add(a: Args) -> dict[str, Any]:
    return {"result": _sum(_numbers(a))}


def math_subtract(a: Args) -> dict[str, Any]:
    return {"result": js_number(num(a["a"]) - num(a["b"]))}


def math_multiply(a: Args) -> dict[str, Any]:
    product: int | float = 1
    for value in _numbers(a):
        product *= value
    return {"result": js_number(product)}


def _dividend_divisor(a: Args, error: str) -> tuple[float, float]:
    x, y = num(a["a"]), num(a["b"])
    if y == 0:
        raise fail(error, ErrorCode.DIVISION_BY_ZERO)
    return x, y


def math_divide(a: Args) -> dict[str, Any]:
    x, y = _dividend_divisor(a, "Division by zero")
    return {"result": js_number(x / y)}


def math_modulo(a: Args) -> dict[str, Any]:
    x, y = _dividend_divisor(a, "Modulo by zero")
    return {"result": remainder(x, y)}


def math_power(a: Args) -> dict[str, Any]:
    """JS ``**``: overflow is Infinity, a negative base to a fractional power NaN."""
    base, exponent = float(num(a["base"])), float(num(a["exponent"]))
    try:
        result = base**exponent
    except OverflowError:
        result = _INF if base > 0 or exponent % 2 == 0 else -_INF
    except ZeroDivisionError:
        result = -_INF if math.copysign(1, base) < 0 and exponent % 2 == 1 else _INF
    return {"result": js_number(math.nan if isinstance(result, complex) else result)}


def math_sqrt(a: Args) -> dict[str, Any]:
    value = num(a["value"])
    if value < 0:
        raise fail("Cannot calculate square root of negative number", ErrorCode.NEGATIVE_SQRT)
    return {"result": js_number(math.sqrt(value))}


def math_abs(a: Args) -> dict[str, Any]:
    return {"result": js_number(abs(num(a["value"])))}


def _rounded(x: float, rounding: Any) -> int | float:
    """``Math.floor``/``ceil``/``round`` leave NaN and infinities alone."""
    return js_number(rounding(x)) if _finite(x) else x


def _js_round(x: float) -> float:
    """``Math.round``: halves round up (towards +Infinity)."""
    return math.floor(x + 0.5)


def math_round(a: Args) -> dict[str, Any]:
    """Half-up at ``decimals`` places via ×10^d, as MetaBuilder does."""
    factor = 10 ** num(a["decimals"])
    return {"result": js_number(_rounded(num(a["value"]) * factor, _js_round) / factor)}


def math_floor(a: Args) -> dict[str, Any]:
    return {"result": _rounded(num(a["value"]), math.floor)}


def math_ceil(a: Args) -> dict[str, Any]:
    return {"result": _rounded(num(a["value"]), math.ceil)}


def _extreme(values: list[int | float], pick: Any, empty: float) -> int | float:
    """``Math.min``/``max``: NaN wins, no values gives ±Infinity."""
    if any(v != v for v in values):
        return math.nan
    return pick(values) if values else empty


def math_min(a: Args) -> dict[str, Any]:
    return {"result": _extreme(_numbers(a), min, _INF)}


def math_max(a: Args) -> dict[str, Any]:
    return {"result": _extreme(_numbers(a), max, -_INF)}


def math_average(a: Args) -> dict[str, Any]:
    values = _numbers(a)
    return {"result": js_number(_sum(values) / len(values)) if values else 0}


def math_random(a: Args) -> dict[str, Any]:
    low, high = num(a["min"]), num(a["max"])
    if js_truthy(a["integer"]):
        return {"result": js_number(math.floor(random.random() * (high - low + 1)) + low)}
    return {"result": js_number(random.random() * (high - low) + low)}


def math_clamp(a: Args) -> dict[str, Any]:
    value, low, high = num(a["value"]), num(a["min"]), num(a["max"])
    if value != value or low != low or high != high:
        return {"result": math.nan}
    return {"result": js_number(min(max(value, low), high))}


_VALUES = p("values", ARRAY, [], "numbers")
_AB = (p("a", NUM), p("b", NUM))
_VALUE = p("value", NUM)

MATH_OPS = (
    Op("math.add", math_add, (_VALUES,)),
    Op("math.subtract", math_subtract, _AB),
    Op("math.multiply", math_multiply, (_VALUES,)),
    Op("math.divide", math_divide, _AB),
    Op("math.modulo", math_modulo, _AB),
    Op("math.power", math_power, (p("base", NUM, UNDEFINED, "a"), p("exponent", NUM, UNDEFINED, "b"))),
    Op("math.sqrt", math_sqrt, (_VALUE,)),
    Op("math.abs", math_abs, (_VALUE,)),
    Op("math.round", math_round, (_VALUE, p("decimals", NUM, 0, "precision"))),
    Op("math.floor", math_floor, (_VALUE,)),
    Op("math.ceil", math_ceil, (_VALUE,)),
    Op("math.min", math_min, (_VALUES,)),
    Op("math.max", math_max, (_VALUES,)),
    Op("math.sum", math_add, (_VALUES,)),
    Op("math.average", math_average, (_VALUES,)),
    Op("math.random", math_random, (p("min", NUM, 0), p("max", NUM, 1), p("integer", BOOL, False))),
    Op("math.clamp", math_clamp, (_VALUE, p("min", NUM), p("max", NUM))),
)

# --- logic ---------------------------------------------------------------------------------------------


def _truths(a: Args) -> list[bool]:
    return [js_truthy(v) for v in require_list(a["values"], "values")]


def logic_and(a: Args) -> dict[str, Any]:
    return {"result": all(_truths(a))}


def logic_or(a: Args) -> dict[str, Any]:
    return {"result": any(_truths(a))}


def logic_not(a: Args) -> dict[str, Any]:
    return {"result": not js_truthy(a["value"])}


def logic_xor(a: Args) -> dict[str, Any]:
    return {"result": js_truthy(a["a"]) != js_truthy(a["b"])}


def _equal(a: Args) -> bool:
    """``===`` (default) or ``==``; JSON objects and arrays compare by content, having no identity here."""
    x, y = a["a"], a["b"]
    if isinstance(x, dict | list) and isinstance(y, dict | list):
        return bool(x == y)
    return js_strict_equals(x, y) if js_truthy(a["strict"]) else js_loose_equals(x, y)


def logic_equals(a: Args) -> dict[str, Any]:
    return {"result": _equal(a)}


def logic_not_equals(a: Args) -> dict[str, Any]:
    return {"result": not _equal(a)}


def logic_gt(a: Args) -> dict[str, Any]:
    return {"result": greater(a["a"], a["b"])}


def logic_gte(a: Args) -> dict[str, Any]:
    return {"result": greater_equal(a["a"], a["b"])}


def logic_lt(a: Args) -> dict[str, Any]:
    return {"result": less(a["a"], a["b"])}


def logic_lte(a: Args) -> dict[str, Any]:
    return {"result": less_equal(a["a"], a["b"])}


def same_value_zero(x: Any, y: Any) -> bool:
    """``Array.prototype.includes`` equality; JSON containers compare by content."""
    if isinstance(x, dict | list):
        return bool(x == y) and type(x) is type(y)
    nan = isinstance(x, float) and x != x
    return (nan and isinstance(y, float) and y != y) or js_strict_equals(x, y)


def logic_in(a: Args) -> dict[str, Any]:
    array = a["array"]
    return {"result": isinstance(array, list) and any(same_value_zero(a["value"], v) for v in array)}


def logic_between(a: Args) -> dict[str, Any]:
    value, low, high = a["value"], a["min"], a["max"]
    if js_truthy(a["inclusive"]):
        return {"result": greater_equal(value, low) and less_equal(value, high)}
    return {"result": greater(value, low) and less(value, high)}


def logic_is_null(a: Args) -> dict[str, Any]:
    return {"result": is_nullish(a["value"])}


def logic_is_empty(a: Args) -> dict[str, Any]:
    value = a["value"]
    return {"result": is_nullish(value) or (isinstance(value, str | list | dict) and len(value) == 0)}


def type_name(value: Any) -> str:
    """``typeof`` refined: arrays and null get their own names."""
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else js_typeof(value)


def logic_type_of(a: Args) -> dict[str, Any]:
    return {"result": type_name(a["value"])}


def logic_ternary(a: Args) -> dict[str, Any]:
    return {"result": a["then"] if js_truthy(a["condition"]) else a["else"]}


def logic_coalesce(a: Args) -> dict[str, Any]:
    values = require_list(a["values"], "values")
    return {"result": next((v for v in values if not is_nullish(v)), None)}


_COMPARE = (p("a", ANY), p("b", ANY))
_EQUALS = (*_COMPARE, p("strict", BOOL, True))

LOGIC_OPS = (
    Op("logic.and", logic_and, (p("values", ARRAY, []),)),
    Op("logic.or", logic_or, (p("values", ARRAY, []),)),
    Op("logic.not", logic_not, (p("value", ANY),)),
    Op("logic.xor", logic_xor, _COMPARE),
    Op("logic.equals", logic_equals, _EQUALS),
    Op("logic.notEquals", logic_not_equals, _EQUALS, ("logic.not_equals",)),
    Op("logic.gt", logic_gt, _COMPARE),
    Op("logic.gte", logic_gte, _COMPARE),
    Op("logic.lt", logic_lt, _COMPARE),
    Op("logic.lte", logic_lte, _COMPARE),
    Op("logic.in", logic_in, (p("value", ANY), p("array", ARRAY, [], "collection"))),
    Op(
        "logic.between",
        logic_between,
        (p("value", ANY), p("min", ANY), p("max", ANY), p("inclusive", BOOL, True)),
    ),
    Op("logic.isNull", logic_is_null, (p("value", ANY),), ("logic.is_null",)),
    Op("logic.isEmpty", logic_is_empty, (p("value", ANY),), ("logic.is_empty",)),
    Op("logic.typeOf", logic_type_of, (p("value", ANY),), ("logic.type_of",)),
    Op("logic.ternary", logic_ternary, (p("condition", ANY), p("then", ANY), p("else", ANY))),
    Op("logic.coalesce", logic_coalesce, (p("values", ARRAY, []),)),
)
