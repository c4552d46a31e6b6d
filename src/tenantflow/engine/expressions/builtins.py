"""Global names available to every expression, the ``new`` constructor table and the deny-list.

Only what is listed here exists; everything else is ``undefined`` (n8n behaviour), and deny-listed names
evaluate to an empty object so probing code such as ``globalThis.process`` finds nothing.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import jmespath
import jmespath.exceptions

from .dates import DATE, DATETIME, JSDate, new_date, now_ms
from .errors import ExpressionError
from .extensions import (
    decode_uri,
    encode_uri,
    encode_uri_component,
    helper_functions,
    parse_json_or_raise,
    stringify,
)
from .methods import ARRAY_METHODS, is_integer_value, join_array, math_round, numeric_min_max
from .runtime import Builtin, Context, arg, call_function
from .sizes import CASE_GROWTH, bounded
from .values import (
    INF,
    MAX_SAFE,
    NAN,
    UNDEFINED,
    HostObject,
    NativeFunction,
    is_number,
    js_num,
    js_string,
    js_truthy,
    parse_float,
    parse_int,
    to_integer,
    to_json,
    to_number,
)

DENIED_GLOBALS = frozenset(
    {
        "document",
        "window",
        "globalThis",
        "global",
        "self",
        "top",
        "parent",
        "frames",
        "navigator",
        "location",
        "alert",
        "prompt",
        "confirm",
        "eval",
        "uneval",
        "Function",
        "AsyncFunction",
        "GeneratorFunction",
        "setTimeout",
        "setInterval",
        "setImmediate",
        "clearTimeout",
        "clearInterval",
        "clearImmediate",
        "queueMicrotask",
        "fetch",
        "XMLHttpRequest",
        "WebSocket",
        "Promise",
        "Reflect",
        "Proxy",
        "WebAssembly",
        "SharedArrayBuffer",
        "Atomics",
        "Worker",
        "importScripts",
        "constructor",
        "prototype",
        "__proto__",
        "escape",
        "unescape",
        "process",
        "require",
        "module",
        "exports",
        "Buffer",
        "__dirname",
        "__filename",
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "structuredClone",
        "this",
        "arguments",
    }
)


def _float_op(fn: Callable[[float], float]) -> Callable[[Context, list[Any]], int | float]:
    """Wrap a ``math`` function with JS semantics: domain errors give NaN, overflow gives Infinity."""

    def op(ctx: Context, args: list[Any]) -> int | float:
        x = float(to_number(arg(args, 0)))
        try:
            return js_num(fn(x))
        except ValueError:
            return NAN
        except OverflowError:
            return INF

    return op


def _finite_only(fn: Callable[[float], float]) -> Callable[[float], float]:
    return lambda x: x if x != x or x in (INF, -INF) else fn(x)


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    return lambda x: -INF if x == 0 else (NAN if x < 0 else (x if x == INF else fn(x)))


def js_pow(base: Any, exponent: Any) -> int | float:
    """JS ``**``/``Math.pow`` computed in floats (never Python big integers)."""
    a, b = float(to_number(base)), float(to_number(exponent))
    if b != b or (abs(a) == 1 and b in (INF, -INF)):
        return NAN
    if a == 0 and b < 0:
        odd = b.is_integer() and int(b) % 2 == 1
        return -INF if odd and math.copysign(1, a) < 0 else INF
    try:
        return js_num(math.pow(a, b))
    except OverflowError:
        return -INF if a < 0 and b.is_integer() and int(b) % 2 == 1 else INF
    except ValueError:
        return NAN


_MATH_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "floor": _finite_only(math.floor),
    "ceil": _finite_only(math.ceil),
    "trunc": _finite_only(math.trunc),
    "abs": abs,
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp,
    "expm1": math.expm1,
    "log": _log(math.log),
    "log2": _log(math.log2),
    "log10": _log(math.log10),
    "log1p": lambda x: -INF if x == -1 else math.log1p(x),
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "sign": lambda x: x if x != x or x == 0 else math.copysign(1, x),
    "fround": lambda x: x,
}

MATH: dict[str, Any] = {
    **{name: Builtin(name, _float_op(fn)) for name, fn in _MATH_FUNCTIONS.items()},
    "round": Builtin("round", lambda ctx, a: math_round(arg(a, 0))),
    "min": Builtin("min", lambda ctx, a: numeric_min_max(a, False)),
    "max": Builtin("max", lambda ctx, a: numeric_min_max(a, True)),
    "pow": Builtin("pow", lambda ctx, a: js_pow(arg(a, 0), arg(a, 1))),
    "atan2": Builtin(
        "atan2", lambda ctx, a: js_num(math.atan2(float(to_number(arg(a, 0))), float(to_number(arg(a, 1)))))
    ),
    "hypot": Builtin("hypot", lambda ctx, a: js_num(math.hypot(*(float(to_number(x)) for x in a)))),
    "random": Builtin("random", lambda ctx, a: random.random()),
    "PI": math.pi,
    "E": math.e,
    "LN2": math.log(2),
    "LN10": math.log(10),
    "LOG2E": 1 / math.log(2),
    "LOG10E": 1 / math.log(10),
    "SQRT2": math.sqrt(2),
    "SQRT1_2": math.sqrt(0.5),
}


def _stringify(ctx: Context, args: list[Any]) -> Any:
    value, space = arg(args, 0), arg(args, 2)
    if value is UNDEFINED or isinstance(value, NativeFunction):
        return UNDEFINED
    if is_number(space):
        indent = " " * int(min(max(space, 0), 10)) if space == space else ""
    else:
        indent = space[:10] if isinstance(space, str) else ""
    return stringify(value, ctx, indent)


JSON_OBJECT = {
    "parse": Builtin("parse", lambda ctx, a: parse_json_or_raise(js_string(arg(a, 0)))),
    "stringify": Builtin("stringify", _stringify),
}


def plain_object(value: Any) -> dict[str, Any]:
    """The own enumerable properties of a value, as ``Object.keys`` & co. see them."""
    if type(value) is dict:
        return value
    if type(value) in (list, str):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, HostObject):
        data = to_json(value)
        return data if type(data) is dict else {}
    if value is None or value is UNDEFINED:
        raise ExpressionError("TypeError: Cannot convert undefined or null to object")
    return {}


def _assign(ctx: Context, args: list[Any]) -> Any:
    target = arg(args, 0)
    if type(target) is not dict:
        raise ExpressionError("Object.assign(): the target must be an object")
    ctx.ensure_owned(target)
    for source in args[1:]:
        if source is not None and source is not UNDEFINED:
            target.update(plain_object(source))
    return target


def _from_entries(ctx: Context, args: list[Any]) -> dict[str, Any]:
    entries = arg(args, 0)
    if type(entries) is not list:
        raise ExpressionError("Object.fromEntries(): expected an array of [key, value] pairs")
    ctx.charge(len(entries))
    return {js_string(arg(e, 0)): arg(e, 1) for e in entries if type(e) is list}


OBJECT = {
    "keys": Builtin("keys", lambda ctx, a: list(plain_object(arg(a, 0)))),
    "values": Builtin("values", lambda ctx, a: list(plain_object(arg(a, 0)).values())),
    "entries": Builtin("entries", lambda ctx, a: [[k, v] for k, v in plain_object(arg(a, 0)).items()]),
    "assign": Builtin("assign", _assign, fresh=False),
    "fromEntries": Builtin("fromEntries", _from_entries),
    "freeze": Builtin("freeze", lambda ctx, a: arg(a, 0), fresh=False),
}


def new_array(ctx: Context, args: list[Any]) -> list[Any]:
    if len(args) == 1 and is_number(args[0]):
        size = args[0]
        if not is_integer_value(size) or size < 0:
            raise ExpressionError("RangeError: Invalid array length")
        ctx.check_array(int(size))
        return [UNDEFINED] * int(size)
    return list(args)


def _array_from(ctx: Context, args: list[Any]) -> list[Any]:
    source, mapper = arg(args, 0), arg(args, 1)
    if type(source) in (list, str):
        items = list(source)
    elif type(source) is dict and "length" in source:
        length = to_number(source["length"])
        size = int(max(min(length, 2**53), 0)) if length == length else 0
        ctx.check_array(size)
        items = [source.get(str(i), UNDEFINED) for i in range(size)]
    else:
        items = []
    ctx.charge(len(items))
    if mapper is UNDEFINED:
        return items
    return [call_function(ctx, mapper, [item, i]) for i, item in enumerate(items)]


ARRAY = Builtin(
    "Array",
    new_array,
    members={
        "isArray": Builtin("isArray", lambda ctx, a: type(arg(a, 0)) is list),
        "from": Builtin("from", _array_from),
        "of": Builtin("of", lambda ctx, a: list(a)),
    },
)

NUMBER = Builtin(
    "Number",
    lambda ctx, a: to_number(a[0]) if a else 0,
    members={
        "isInteger": Builtin("isInteger", lambda ctx, a: is_integer_value(arg(a, 0))),
        "isSafeInteger": Builtin(
            "isSafeInteger", lambda ctx, a: is_integer_value(arg(a, 0)) and abs(arg(a, 0)) < MAX_SAFE
        ),
        "isFinite": Builtin("isFinite", lambda ctx, a: is_number(arg(a, 0)) and math.isfinite(arg(a, 0))),
        "isNaN": Builtin("isNaN", lambda ctx, a: type(arg(a, 0)) is float and arg(a, 0) != arg(a, 0)),
        "parseFloat": Builtin("parseFloat", lambda ctx, a: parse_float(arg(a, 0))),
        "parseInt": Builtin("parseInt", lambda ctx, a: parse_int(arg(a, 0), arg(a, 1))),
        "MAX_SAFE_INTEGER": MAX_SAFE - 1,
        "MIN_SAFE_INTEGER": 1 - MAX_SAFE,
        "EPSILON": 2.0**-52,
        "MAX_VALUE": 1.7976931348623157e308,
        "MIN_VALUE": 5e-324,
        "POSITIVE_INFINITY": INF,
        "NEGATIVE_INFINITY": -INF,
        "NaN": NAN,
    },
)


def _from_char_code(ctx: Context, args: list[Any]) -> str:
    codes = [to_integer(a) for a in args]
    return "".join(chr(int(c) % 0x10000) if c not in (INF, -INF) else "\0" for c in codes)


def _to_string(ctx: Context, args: list[Any]) -> str:
    """``String(value)``: an array is joined as ``join`` does, its size checked against the evaluation's
    budget before the text is built; other values' text is capped at the engine-wide string size while it
    is built (it has no context there), so the evaluation's own, perhaps smaller, budget is checked on it."""
    if args and type(args[0]) is list:
        return join_array(ctx, args[0], ",", "String")
    text = js_string(args[0]) if args else ""
    ctx.check_string(len(text), "String")
    return text


STRING = Builtin(
    "String",
    _to_string,
    members={"fromCharCode": Builtin("fromCharCode", _from_char_code)},
)


# ---------------------------------------------------------------- $utils (MetaBuilder)


def _flatten_object(ctx: Context, value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """Nested fields as dotted paths; a step per object, as shared references can nest one object
    exponentially many times."""
    ctx.charge(1)
    for key, item in plain_object(value).items():
        path = f"{prefix}.{key}" if prefix else key
        if type(item) is dict and item:
            _flatten_object(ctx, item, path, out)
        else:
            out[path] = item
    return out


def _replace_first(ctx: Context, text: str, args: list[Any]) -> str:
    old, new = js_string(arg(args, 1)), js_string(arg(args, 2))
    if old in text:
        ctx.check_string(len(text) - len(old) + len(new), "replace")
    return text.replace(old, new, 1)


def _split_text(ctx: Context, text: str, args: list[Any]) -> list[str]:
    separator = js_string(arg(args, 1))
    ctx.charge(len(text) // 16)
    ctx.check_array(text.count(separator) + 1 if separator else len(text))
    return text.split(separator) if separator else list(text)


def _set_key(value: Any) -> Any:
    """Identity for ``new Set`` semantics: primitives by value (SameValueZero), objects by identity."""
    if type(value) in (dict, list) or isinstance(value, HostObject | JSDate):
        return ("object", id(value))
    if is_number(value):
        return ("number", "NaN" if value != value else value)
    return (type(value).__name__, value)


def _group_by(ctx: Context, args: list[Any]) -> dict[str, list[Any]]:
    items, field = arg(args, 0), js_string(arg(args, 1))
    groups: dict[str, list[Any]] = {}
    for item in items if type(items) is list else []:
        key = item.get(field) if type(item) is dict else None
        groups.setdefault("null" if key is None or key is UNDEFINED else js_string(key), []).append(item)
    ctx.charge(len(groups))
    return groups


def _list_arg(args: list[Any], index: int = 0) -> list[Any]:
    value = arg(args, index)
    return value if type(value) is list else []


def _unique_set(ctx: Context, args: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for item in _list_arg(args):
        key = _set_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _utils() -> dict[str, Builtin]:
    def text(fn: Callable[[str, list[Any]], Any]) -> Callable[[Context, list[Any]], Any]:
        return lambda ctx, a: fn(js_string(arg(a, 0)), a)

    def bounded_text(
        fn: Callable[[Context, str, list[Any]], Any],
    ) -> Callable[[Context, list[Any]], Any]:
        return lambda ctx, a: fn(ctx, js_string(arg(a, 0)), a)

    utilities: dict[str, Callable[[Context, list[Any]], Any]] = {
        "flatten": lambda ctx, a: _flatten_object(ctx, arg(a, 0), "", {}),
        "pick": lambda ctx, a: {
            js_string(k): plain_object(arg(a, 0)).get(js_string(k), UNDEFINED) for k in _list_arg(a, 1)
        },
        "omit": lambda ctx, a: {
            k: v
            for k, v in plain_object(arg(a, 0)).items()
            if k not in {js_string(x) for x in _list_arg(a, 1)}
        },
        "merge": lambda ctx, a: {k: v for obj in a if type(obj) is dict for k, v in obj.items()},
        "keys": lambda ctx, a: list(plain_object(arg(a, 0))),
        "values": lambda ctx, a: list(plain_object(arg(a, 0)).values()),
        "entries": lambda ctx, a: [[k, v] for k, v in plain_object(arg(a, 0)).items()],
        "length": lambda ctx, a: len(arg(a, 0)) if type(arg(a, 0)) in (list, str) else 0,
        "reverse": lambda ctx, a: _list_arg(a)[::-1],
        "sort": lambda ctx, a: ARRAY_METHODS["sort"](ctx, _list_arg(a), []),
        "unique": _unique_set,
        "join": lambda ctx, a: join_array(
            ctx, _list_arg(a), "," if arg(a, 1) is UNDEFINED else js_string(arg(a, 1)), "$utils.join"
        ),
        "split": bounded_text(_split_text),
        "uppercase": bounded_text(lambda ctx, s, a: bounded(ctx, s, str.upper, CASE_GROWTH, "uppercase")),
        "lowercase": bounded_text(lambda ctx, s, a: bounded(ctx, s, str.lower, CASE_GROWTH, "lowercase")),
        "trim": text(lambda s, a: s.strip()),
        "replace": bounded_text(_replace_first),
        "includes": text(lambda s, a: js_string(arg(a, 1)) in s),
        "startsWith": text(lambda s, a: s.startswith(js_string(arg(a, 1)))),
        "endsWith": text(lambda s, a: s.endswith(js_string(arg(a, 1)))),
        "now": lambda ctx, a: JSDate(now_ms()).iso_utc(),
        "timestamp": lambda ctx, a: now_ms(),
        "groupBy": _group_by,
    }
    selectors = {
        "first": lambda ctx, a: _list_arg(a)[0] if _list_arg(a) else UNDEFINED,
        "last": lambda ctx, a: _list_arg(a)[-1] if _list_arg(a) else UNDEFINED,
    }
    out = {name: Builtin(name, fn) for name, fn in utilities.items()}
    out.update({name: Builtin(name, fn, fresh=False) for name, fn in selectors.items()})
    return out


def _jmespath(ctx: Context, args: list[Any]) -> Any:
    data = to_json(arg(args, 0), ctx.limits.max_array_length)
    try:
        result = jmespath.search(js_string(arg(args, 1)), data)
    except jmespath.exceptions.JMESPathError as exc:
        raise ExpressionError(f"$jmespath(): {exc}") from None
    return parse_json_or_raise(json.dumps(result))  # normalises numbers to the engine's int/float rules


def _is_nan(ctx: Context, args: list[Any]) -> bool:
    n = to_number(arg(args, 0))
    return n != n


GLOBALS: dict[str, Any] = {
    "Math": MATH,
    "JSON": JSON_OBJECT,
    "Object": Builtin("Object", lambda ctx, a: {}, members=OBJECT),
    "Array": ARRAY,
    "Number": NUMBER,
    "String": STRING,
    "Boolean": Builtin("Boolean", lambda ctx, a: js_truthy(arg(a, 0))),
    "Date": DATE,
    "DateTime": DATETIME,
    "Infinity": INF,
    "NaN": NAN,
    "parseInt": Builtin("parseInt", lambda ctx, a: parse_int(arg(a, 0), arg(a, 1))),
    "parseFloat": Builtin("parseFloat", lambda ctx, a: parse_float(arg(a, 0))),
    "isNaN": Builtin("isNaN", _is_nan),
    "isFinite": Builtin("isFinite", lambda ctx, a: math.isfinite(to_number(arg(a, 0)))),
    "encodeURIComponent": Builtin(
        "encodeURIComponent", lambda ctx, a: encode_uri_component(ctx, js_string(arg(a, 0)))
    ),
    "encodeURI": Builtin("encodeURI", lambda ctx, a: encode_uri(ctx, js_string(arg(a, 0)))),
    "decodeURIComponent": Builtin("decodeURIComponent", lambda ctx, a: decode_uri(js_string(arg(a, 0)))),
    "decodeURI": Builtin("decodeURI", lambda ctx, a: decode_uri(js_string(arg(a, 0)))),
    "$utils": _utils(),
    "$jmespath": Builtin("$jmespath", _jmespath),
    **helper_functions(),
}


def _new_object(ctx: Context, args: list[Any]) -> Any:
    value = arg(args, 0)
    return value if type(value) is dict else {}


CONSTRUCTORS: dict[str, Callable[[Context, list[Any]], Any]] = {
    "Date": lambda ctx, args: new_date(args),
    "String": _to_string,
    "Array": new_array,
    "Object": _new_object,
}
