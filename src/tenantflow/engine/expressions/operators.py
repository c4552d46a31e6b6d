"""JavaScript binary operators with fast paths for the common int/str cases.

Numbers follow the engine rule: results are ``int`` when integral and safe, else ``float``; Python big
integers and ``ZeroDivisionError`` can never arise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .builtins import js_pow
from .runtime import Context
from .values import (
    INF,
    NAN,
    int_result,
    js_less_than,
    js_loose_equals,
    js_num,
    js_strict_equals,
    js_string,
    to_number,
    to_primitive,
)


def add(ctx: Context, a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        return int_result(a + b)
    if ta is str and tb is str:
        ctx.check_string(len(a) + len(b), "+")
        return a + b
    if (ta is int or ta is float) and (tb is int or tb is float):
        return js_num(float(a) + b)
    pa, pb = to_primitive(a), to_primitive(b)
    if type(pa) is str or type(pb) is str:
        sa, sb = js_string(pa), js_string(pb)
        ctx.check_string(len(sa) + len(sb), "+")
        return sa + sb
    return js_num(float(to_number(pa)) + float(to_number(pb)))


def subtract(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return int_result(a - b)
    return js_num(float(to_number(a)) - float(to_number(b)))


def multiply(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return int_result(a * b)
    return js_num(float(to_number(a)) * float(to_number(b)))


def divide(a: Any, b: Any) -> Any:
    x, y = float(to_number(a)), float(to_number(b))
    if y == 0:
        if x == 0 or x != x:
            return NAN
        return INF if math.copysign(1, x) == math.copysign(1, y) else -INF
    return js_num(x / y)


def remainder(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and b != 0:
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    x, y = float(to_number(a)), float(to_number(b))
    if y == 0 or x != x or y != y or x in (INF, -INF):
        return NAN
    if y in (INF, -INF):
        return js_num(x)
    return js_num(math.fmod(x, y))


def less(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a < b  # type: ignore[no-any-return]
    return js_less_than(a, b) is True


def greater(a: Any, b: Any) -> bool:
    return less(b, a)


def less_equal(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a <= b  # type: ignore[no-any-return]
    return js_less_than(b, a) is False


def greater_equal(a: Any, b: Any) -> bool:
    return less_equal(b, a)


_UINT32 = 0xFFFFFFFF


def to_uint32(value: Any) -> int:
    """JS ``ToUint32``: truncate toward zero, wrap modulo 2**32 (NaN and infinities give 0)."""
    n = value if type(value) is int else to_number(value)
    if isinstance(n, float):
        if n != n or n in (INF, -INF):
            return 0
        return int(n) & _UINT32
    return n & _UINT32


def to_int32(value: Any) -> int:
    """JS ``ToInt32``: ``ToUint32`` reinterpreted as a signed 32-bit integer."""
    n = to_uint32(value)
    return n - 0x100000000 if n > 0x7FFFFFFF else n


def bitwise_not(value: Any) -> int:
    return ~to_int32(value)


def _shift_left(a: Any, b: Any) -> int:
    return to_int32(to_uint32(a) << (to_uint32(b) & 31))


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "-": subtract,
    "*": multiply,
    "/": divide,
    "%": remainder,
    "**": js_pow,
    "<": less,
    ">": greater,
    "<=": less_equal,
    ">=": greater_equal,
    "==": js_loose_equals,
    "!=": lambda a, b: not js_loose_equals(a, b),
    "===": js_strict_equals,
    "!==": lambda a, b: not js_strict_equals(a, b),
    "&": lambda a, b: to_int32(a) & to_int32(b),
    "|": lambda a, b: to_int32(a) | to_int32(b),
    "^": lambda a, b: to_int32(a) ^ to_int32(b),
    "<<": _shift_left,
    ">>": lambda a, b: to_int32(a) >> (to_uint32(b) & 31),
    ">>>": lambda a, b: to_uint32(a) >> (to_uint32(b) & 31),
}
