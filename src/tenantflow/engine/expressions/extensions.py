"""n8n's expression extension functions (``[1,2].sum()``, ``"x".toSnakeCase()``, ``$if(...)``...).

They are method tables per value type; the dispatcher consults native JS methods first, so an extension
never shadows a JS method of the same name (except ``length()``, which JS has only as a property).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from .dates import JSDate, parse_date
from .errors import ExpressionError
from .methods import NUMBER_METHODS, math_round, numeric_min_max
from .runtime import Builtin, Context, arg
from .values import (
    INF,
    NAN,
    UNDEFINED,
    HostObject,
    format_json,
    is_number,
    js_num,
    js_string,
    js_truthy,
    parse_float,
    parse_int,
    parse_json_text,
    string_to_number,
    to_integer,
    to_json,
    to_number,
)

Method = Callable[[Context, Any, list[Any]], Any]

_URI_COMPONENT_SAFE = "-_.!~*'()"
_URI_SAFE = _URI_COMPONENT_SAFE + ";,/?:@&=+$#"


def _uri_encode(text: str, safe: str) -> str:
    try:
        return quote(text, safe=safe, encoding="utf-8", errors="strict")
    except UnicodeEncodeError:
        raise ExpressionError("URIError: URI malformed") from None


def _uri_decode(text: str) -> str:
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise ExpressionError("URIError: URI malformed")
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ExpressionError("URIError: URI malformed") from None


def encode_uri_component(text: str) -> str:
    return _uri_encode(text, _URI_COMPONENT_SAFE)


def encode_uri(text: str) -> str:
    return _uri_encode(text, _URI_SAFE)


decode_uri = _uri_decode


def parse_json_or_raise(text: str) -> Any:
    try:
        return parse_json_text(text)
    except ValueError as exc:
        raise ExpressionError(f"SyntaxError: {exc}") from None


def stringify(value: Any, ctx: Context, indent: str = "") -> str:
    """``JSON.stringify`` of any value; bounded by the context's limits."""
    text = format_json(to_json(value, ctx.limits.max_array_length), indent)
    ctx.check_string(len(text))
    return text


def deep_key(value: Any) -> str:
    """A key equal for deeply equal values (lodash ``isEqual`` semantics, key order ignored)."""
    return json.dumps(to_json(value), sort_keys=True)


def _dedupe(ctx: Context, items: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    ctx.charge(len(items))
    seen: set[Any] = set()
    out = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def _is_empty(value: Any) -> bool:
    if value is None or value is UNDEFINED or value == "":
        return True
    if type(value) in (list, dict):
        return not value
    return False


# ---------------------------------------------------------------- strings

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s<>\"']+")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
_HASHES = {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"}


def _utf8(s: str) -> bytes:
    """UTF-8 bytes; lone surrogates (possible via ``\\ud800`` escapes) become replacement characters."""
    return s.encode("utf-8", errors="replace")


def _words(s: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", s))


def _hash(s: str, algorithm: Any) -> str:
    name = "md5" if algorithm is UNDEFINED else js_string(algorithm).lower()
    name = {"sha3": "sha3-512"}.get(name, name)
    if name not in _HASHES:
        raise ExpressionError(f"hash(): unknown algorithm '{name}'")
    return hashlib.new(name.replace("-", "_"), _utf8(s)).hexdigest()


def _base64_decode(s: str) -> str:
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4)).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        raise ExpressionError("base64Decode(): invalid base64 string") from None


def _extract_domain(s: str) -> Any:
    text = s.strip()
    if _EMAIL.fullmatch(text):
        return text.split("@", 1)[1]
    parts = urlsplit(text if "//" in text else "//" + text)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    return host or UNDEFINED


def _to_boolean_string(s: str) -> bool:
    return s.lower() not in ("", "false", "no", "0")


def _is_numeric(s: str) -> bool:
    return s.strip() != "" and string_to_number(s) == string_to_number(s)


def _quote(s: str, mark: Any) -> str:
    q = '"' if mark is UNDEFINED else js_string(mark)
    return q + s.replace(q, "\\" + q) + q


STRING_EXTENSIONS: dict[str, Method] = {
    "length": lambda ctx, s, a: len(s),
    "isEmpty": lambda ctx, s, a: s == "",
    "isNotEmpty": lambda ctx, s, a: s != "",
    "toSnakeCase": lambda ctx, s, a: re.sub(r"[\s-]+", "_", re.sub(r"[^\w\s-]", "", s.lower())).strip("_"),
    "toKebabCase": lambda ctx, s, a: "-".join(w.lower() for w in _words(s)),
    "toCamelCase": lambda ctx, s, a: "".join(
        w.lower() if i == 0 else w.capitalize() for i, w in enumerate(_words(s))
    ),
    "toTitleCase": lambda ctx, s, a: re.sub(r"\S+", lambda m: m.group(0).capitalize(), s),
    "toSentenceCase": lambda ctx, s, a: s[:1].upper() + s[1:].lower(),
    "toInt": lambda ctx, s, a: parse_int(s),
    "toWholeNumber": lambda ctx, s, a: parse_int(s),
    "toFloat": lambda ctx, s, a: parse_float(s),
    "toDecimalNumber": lambda ctx, s, a: parse_float(s),
    "toNumber": lambda ctx, s, a: string_to_number(s),
    "quote": lambda ctx, s, a: _quote(s, arg(a, 0)),
    "isNumeric": lambda ctx, s, a: _is_numeric(s),
    "toBoolean": lambda ctx, s, a: _to_boolean_string(s),
    "base64Encode": lambda ctx, s, a: base64.b64encode(_utf8(s)).decode("ascii"),
    "base64Decode": lambda ctx, s, a: _base64_decode(s),
    "hash": lambda ctx, s, a: _hash(s, arg(a, 0)),
    "urlEncode": lambda ctx, s, a: encode_uri(s) if js_truthy(arg(a, 0)) else encode_uri_component(s),
    "urlDecode": lambda ctx, s, a: decode_uri(s),
    "extractDomain": lambda ctx, s, a: _extract_domain(s),
    "extractEmail": lambda ctx, s, a: m.group(0) if (m := _EMAIL.search(s)) else UNDEFINED,
    "extractUrl": lambda ctx, s, a: m.group(0) if (m := _URL.search(s)) else UNDEFINED,
    "isEmail": lambda ctx, s, a: bool(_EMAIL.fullmatch(s)),
    "isUrl": lambda ctx, s, a: bool(_URL.fullmatch(s)),
    "isDomain": lambda ctx, s, a: bool(_DOMAIN.fullmatch(s)),
    "parseJson": lambda ctx, s, a: parse_json_or_raise(s),
    "removeTags": lambda ctx, s, a: re.sub(r"<[^>]*>", "", s),
    "replaceSpecialChars": lambda ctx, s, a: "".join(
        c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)
    ),
    "toDateTime": lambda ctx, s, a: JSDate(parse_date(s), luxon=True),
}


# ---------------------------------------------------------------- numbers & booleans


def _require_integer(x: float, method: str) -> int:
    if not float(x).is_integer():
        raise ExpressionError(f"{method}() is only callable on integers")
    return int(x)


def _scaled(x: float, decimals: Any, op: Callable[[float], float]) -> int | float:
    """n8n's ``round/ceil/floor(decimals)``: ``op`` at a decimal scale; non-finite values pass through."""
    places = 0 if decimals is UNDEFINED else min(max(to_integer(decimals), -300), 300)
    factor = 10.0 ** int(places)
    scaled = x * factor
    if scaled != scaled or scaled in (INF, -INF):
        return x
    return js_num(float(op(scaled)) / factor)


NUMBER_EXTENSIONS: dict[str, Method] = {
    "round": lambda ctx, x, a: _scaled(x, arg(a, 0), math_round),
    "ceil": lambda ctx, x, a: _scaled(x, arg(a, 0), math.ceil),
    "floor": lambda ctx, x, a: _scaled(x, arg(a, 0), math.floor),
    "abs": lambda ctx, x, a: abs(x),
    "isOdd": lambda ctx, x, a: _require_integer(x, "isOdd") % 2 == 1,
    "isEven": lambda ctx, x, a: _require_integer(x, "isEven") % 2 == 0,
    "isInteger": lambda ctx, x, a: float(x).is_integer(),
    "toInt": lambda ctx, x, a: math_round(x),
    "toFloat": lambda ctx, x, a: x,
    "toBoolean": lambda ctx, x, a: x != 0,
    "format": lambda ctx, x, a: NUMBER_METHODS["toLocaleString"](ctx, x, a),
}

BOOLEAN_EXTENSIONS: dict[str, Method] = {
    "toInt": lambda ctx, b, a: 1 if b else 0,
    "toNumber": lambda ctx, b, a: 1 if b else 0,
}


# ---------------------------------------------------------------- arrays


def _numbers(arr: list[Any], method: str) -> list[int | float]:
    out = []
    for item in arr:
        if is_number(item):
            out.append(item)
        elif type(item) is str and _is_numeric(item):
            out.append(parse_float(item))
        else:
            raise ExpressionError(f"{method}(): all array elements must be numbers")
    return out


def _sum(ctx: Context, arr: list[Any], args: list[Any]) -> int | float:
    ctx.charge(len(arr))
    return js_num(float(sum(_numbers(arr, "sum")))) if arr else 0


def _average(ctx: Context, arr: list[Any], args: list[Any]) -> int | float:
    return js_num(_sum(ctx, arr, args) / len(arr)) if arr else 0


def _compact_value(value: Any) -> Any:
    if type(value) is dict:
        return {k: _compact_value(v) for k, v in value.items() if v is not None and v is not UNDEFINED}
    return value


def _compact_array(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    ctx.charge(len(arr))
    keep = [v for v in arr if not (_is_empty(v) and type(v) is not list) and v != "nil"]
    return [_compact_value(v) for v in keep]


def _unique(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    fields = [js_string(f) for f in args]
    if not fields:
        return _dedupe(ctx, arr, deep_key)
    return _dedupe(
        ctx, arr, lambda v: tuple(deep_key(v.get(f) if type(v) is dict else UNDEFINED) for f in fields)
    )


def _chunk(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    size = int(to_integer(arg(args, 0)))
    if size < 1:
        raise ExpressionError("chunk(): size must be a positive integer")
    ctx.charge(len(arr))
    return [arr[i : i + size] for i in range(0, len(arr), size)]


def _rename_keys(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    if len(args) % 2:
        raise ExpressionError("renameKeys(): expected pairs of old and new key names")
    pairs = dict(zip(map(js_string, args[::2]), map(js_string, args[1::2]), strict=True))
    ctx.charge(len(arr))
    return [{pairs.get(k, k): v for k, v in item.items()} if type(item) is dict else item for item in arr]


def _other_array(args: list[Any], method: str) -> list[Any]:
    other = arg(args, 0)
    if type(other) is not list:
        raise ExpressionError(f"{method}(): expected an array argument")
    return other


def _set_op(ctx: Context, arr: list[Any], args: list[Any], keep_common: bool) -> list[Any]:
    other = {deep_key(v) for v in _other_array(args, "difference")}
    return _dedupe(ctx, [v for v in arr if (deep_key(v) in other) == keep_common], deep_key)


def _pluck(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    fields = [js_string(f) for f in args]
    ctx.charge(len(arr))
    if len(fields) == 1:
        return [item.get(fields[0], UNDEFINED) for item in arr if type(item) is dict]
    return [{f: item[f] for f in fields if f in item} for item in arr if type(item) is dict]


def _smart_join(ctx: Context, arr: list[Any], args: list[Any]) -> dict[str, Any]:
    key_field, value_field = js_string(arg(args, 0)), js_string(arg(args, 1))
    ctx.charge(len(arr))
    return {
        js_string(item.get(key_field)): item.get(value_field, UNDEFINED) for item in arr if type(item) is dict
    }


def _append(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    ctx.check_array(len(arr) + len(args))
    return [*arr, *args]


ARRAY_EXTENSIONS: dict[str, Method] = {
    "sum": _sum,
    "average": _average,
    "min": lambda ctx, arr, a: numeric_min_max(_numbers(arr, "min"), False),
    "max": lambda ctx, arr, a: numeric_min_max(_numbers(arr, "max"), True),
    "isEmpty": lambda ctx, arr, a: not arr,
    "isNotEmpty": lambda ctx, arr, a: bool(arr),
    "first": lambda ctx, arr, a: arr[0] if arr else UNDEFINED,
    "last": lambda ctx, arr, a: arr[-1] if arr else UNDEFINED,
    "randomItem": lambda ctx, arr, a: random.choice(arr) if arr else UNDEFINED,
    "unique": _unique,
    "removeDuplicates": _unique,
    "compact": _compact_array,
    "chunk": _chunk,
    "append": _append,
    "renameKeys": _rename_keys,
    "union": lambda ctx, arr, a: _dedupe(ctx, _append(ctx, arr, _other_array(a, "union")), deep_key),
    "difference": lambda ctx, arr, a: _set_op(ctx, arr, a, False),
    "intersection": lambda ctx, arr, a: _set_op(ctx, arr, a, True),
    "pluck": _pluck,
    "smartJoin": _smart_join,
    "toJsonString": lambda ctx, arr, a: stringify(arr, ctx),
}


# ---------------------------------------------------------------- objects


def _filter_fields(obj: dict[str, Any], needle: Any, keep: bool) -> dict[str, Any]:
    text = js_string(needle)
    return {k: v for k, v in obj.items() if (text in js_string(v)) == keep}


def url_encode_object(obj: dict[str, Any]) -> str:
    return urlencode([(k, js_string(v)) for k, v in obj.items() if v is not UNDEFINED])


OBJECT_EXTENSIONS: dict[str, Method] = {
    "isEmpty": lambda ctx, o, a: not o,
    "isNotEmpty": lambda ctx, o, a: bool(o),
    "hasField": lambda ctx, o, a: js_string(arg(a, 0)) in o,
    "removeField": lambda ctx, o, a: {k: v for k, v in o.items() if k != js_string(arg(a, 0))},
    "removeFieldsContaining": lambda ctx, o, a: _filter_fields(o, arg(a, 0), False),
    "keepFieldsContaining": lambda ctx, o, a: _filter_fields(o, arg(a, 0), True),
    "keys": lambda ctx, o, a: list(o),
    "values": lambda ctx, o, a: list(o.values()),
    "compact": lambda ctx, o, a: _compact_value(o),
    "urlEncode": lambda ctx, o, a: url_encode_object(o),
    "toJsonString": lambda ctx, o, a: stringify(o, ctx),
}


# ---------------------------------------------------------------- global helper functions


def _number_list(ctx: Context, args: list[Any]) -> list[int | float]:
    start, end = to_number(arg(args, 0)), to_number(arg(args, 1))
    if (
        not (is_number(start) and is_number(end))
        or INF in (abs(start), abs(end))
        or start != start
        or end != end
    ):
        raise ExpressionError("numberList(): start and end must be finite numbers")
    a, b = int(start), int(end)
    ctx.check_array(abs(b - a) + 1)
    return list(range(a, b + 1)) if b >= a else list(range(a, b - 1, -1))


def _zip(ctx: Context, args: list[Any]) -> dict[str, Any]:
    keys, values = arg(args, 0), arg(args, 1)
    if type(keys) is not list or type(values) is not list:
        raise ExpressionError("zip(): expected two arrays")
    ctx.charge(len(keys))
    return {js_string(k): values[i] if i < len(values) else UNDEFINED for i, k in enumerate(keys)}


def _average_of(ctx: Context, args: list[Any]) -> int | float:
    numbers = [to_number(a) for a in args]
    if any(n != n for n in numbers):
        return NAN
    return js_num(sum(numbers) / len(numbers)) if numbers else NAN


def _if_empty(ctx: Context, args: list[Any]) -> Any:
    value = arg(args, 0)
    if isinstance(value, HostObject):
        return value
    return arg(args, 1) if _is_empty(value) else value


def helper_functions() -> dict[str, Builtin]:
    """Global n8n helper functions, also reachable with a ``$`` prefix (``$min``)."""
    helpers = {
        "if": Builtin(
            "$if",
            lambda ctx, a: arg(a, 1) if js_truthy(arg(a, 0)) else (a[2] if len(a) > 2 else False),
            fresh=False,
        ),
        "ifEmpty": Builtin("$ifEmpty", _if_empty, fresh=False),
        "not": Builtin("$not", lambda ctx, a: not js_truthy(arg(a, 0))),
        "min": Builtin("min", lambda ctx, a: numeric_min_max(a, False)),
        "max": Builtin("max", lambda ctx, a: numeric_min_max(a, True)),
        "average": Builtin("average", _average_of),
        "numberList": Builtin("numberList", _number_list),
        "zip": Builtin("zip", _zip),
    }
    out = {f"${name}": fn for name, fn in helpers.items()}
    out.update({name: fn for name, fn in helpers.items() if name not in ("if", "ifEmpty", "not")})
    return out
