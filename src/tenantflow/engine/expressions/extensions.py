"""n8n's expression extension functions (``[1,2].sum()``, ``"x".toSnakeCase()``, ``$if(...)``...).

They are method tables per value type; the dispatcher consults native JS methods first, so an extension
never shadows a JS method of the same name (except ``length()``, which JS has only as a property).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import random
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from .dates import JSDate, parse_date
from .errors import ExpressionError
from .methods import NUMBER_METHODS, math_round, numeric_min_max
from .runtime import Builtin, Context, arg
from .sizes import CASE_GROWTH, URI_GROWTH, bounded, measure, normalize, utf8_length
from .values import (
    INF,
    NAN,
    UNDEFINED,
    HostObject,
    NodeBudget,
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
    to_json_within,
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


def encode_uri_component(ctx: Context, text: str, operation: str = "encodeURIComponent") -> str:
    return bounded(ctx, text, lambda t: _uri_encode(t, _URI_COMPONENT_SAFE), URI_GROWTH, operation)


def encode_uri(ctx: Context, text: str, operation: str = "encodeURI") -> str:
    return bounded(ctx, text, lambda t: _uri_encode(t, _URI_SAFE), URI_GROWTH, operation)


decode_uri = _uri_decode


def parse_json_or_raise(text: str) -> Any:
    try:
        return parse_json_text(text)
    except ValueError as exc:
        raise ExpressionError(f"SyntaxError: {exc}") from None


def stringify(value: Any, ctx: Context, indent: str = "", operation: str = "JSON.stringify") -> str:
    """``JSON.stringify`` of any value: the text is counted as it is written, every shared reference at its
    full size, and writing stops as soon as it is over the string budget."""
    data = to_json(value, ctx.limits.max_array_length)
    text = format_json(data, indent, max_length=ctx.limits.max_string_length, operation=operation)
    ctx.check_string(len(text), operation)
    return text


class DeepKeys:
    """Keys equal for deeply equal values (lodash ``isEqual`` semantics, key order ignored), for one call.

    Every value converted draws on one budget (values visited, and characters: ten strings' worth), so
    shared references cannot make the comparison walk without end; a key is the digest of the value's
    sorted JSON, so the keys held stay small whatever the values' size."""

    __slots__ = ("budget", "limit", "operation")

    def __init__(self, ctx: Context, operation: str) -> None:
        self.operation = operation
        self.limit = ctx.limits.max_string_length
        self.budget = NodeBudget(ctx.limits.max_array_length, 10 * self.limit)

    def __call__(self, value: Any) -> bytes:
        data = to_json_within(value, self.budget)
        text = format_json(data, max_length=self.limit, operation=self.operation, sort_keys=True)
        return hashlib.blake2b(_utf8(text), digest_size=16).digest()


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
_EMAIL_LOCAL_END = re.compile(r"[\w.+-]+\Z")
_EMAIL_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s<>\"']+")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
_HASHES = {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"}


def _utf8(s: str) -> bytes:
    """UTF-8 bytes; lone surrogates (possible via ``\\ud800`` escapes) become replacement characters."""
    return s.encode("utf-8", errors="replace")


def _words(ctx: Context, s: str) -> list[str]:
    """Words split at case changes; a step per 16 characters, as ``split`` charges, bounds the list."""
    ctx.charge(len(s) // 16)
    return re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", s))


def _extract_email(s: str) -> Any:
    """The first ``local@domain`` in ``s``, found from each ``@`` outwards: a regex search would try every
    start of a long run of name characters and rescan it each time (quadratic)."""
    at = s.find("@")
    while at != -1:
        local = _EMAIL_LOCAL_END.search(s, max(s.rfind("@", 0, at) + 1, 0), at)
        domain = _EMAIL_DOMAIN.match(s, at + 1) if local else None
        if local and domain:
            return s[local.start() : domain.end()]
        at = s.find("@", at + 1)
    return UNDEFINED


def _remove_tags(s: str) -> str:
    """n8n's ``/<[^>]*>?/gm``: a ``<`` with no ``>`` after it removes the rest of the text. One pass, as
    each tag ends at the first ``>`` (a search for ``<[^>]*>`` alone rescans the rest from every ``<``)."""
    return re.sub(r"<[^>]*>?", "", s)


@lru_cache(maxsize=1)
def _combining_marks() -> re.Pattern[str]:
    """Every character with a non-zero canonical combining class, as one character class (built once)."""
    marks = "".join(chr(c) for c in range(0x300, 0x110000) if unicodedata.combining(chr(c)))
    return re.compile(f"[{re.escape(marks)}]+")


def _replace_special_chars(ctx: Context, s: str) -> str:
    """Compatibility decomposition without its combining marks (NFKD can make a text 18 times longer)."""
    if s.isascii():
        return s
    return _combining_marks().sub("", normalize(ctx, s, "NFKD", "replaceSpecialChars"))


def _title_case(ctx: Context, s: str) -> str:
    def word(m: re.Match[str]) -> str:
        ctx.charge(1)
        return m.group(0).capitalize()

    return bounded(ctx, s, lambda t: re.sub(r"\S+", word, t), CASE_GROWTH, "toTitleCase")


def _base64_encode(ctx: Context, s: str) -> str:
    ctx.check_string(-(-utf8_length(s) // 3) * 4, "base64Encode")  # exact: counted before it is built
    return base64.b64encode(_utf8(s)).decode("ascii")


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


def _quote(ctx: Context, s: str, mark: Any) -> str:
    q = '"' if mark is UNDEFINED else js_string(mark)
    ctx.check_string(len(s) + s.count(q) + 2 * len(q), "quote")
    return q + s.replace(q, "\\" + q) + q


STRING_EXTENSIONS: dict[str, Method] = {
    "length": lambda ctx, s, a: len(s),
    "isEmpty": lambda ctx, s, a: s == "",
    "isNotEmpty": lambda ctx, s, a: s != "",
    "toSnakeCase": lambda ctx, s, a: re.sub(
        r"[\s-]+", "_", re.sub(r"[^\w\s-]", "", bounded(ctx, s, str.lower, CASE_GROWTH, "toSnakeCase"))
    ).strip("_"),
    "toKebabCase": lambda ctx, s, a: "-".join(w.lower() for w in _words(ctx, s)),
    "toCamelCase": lambda ctx, s, a: "".join(
        w.lower() if i == 0 else w.capitalize() for i, w in enumerate(_words(ctx, s))
    ),
    "toTitleCase": lambda ctx, s, a: _title_case(ctx, s),
    "toSentenceCase": lambda ctx, s, a: bounded(
        ctx, s, lambda t: t[:1].upper() + t[1:].lower(), CASE_GROWTH, "toSentenceCase"
    ),
    "toInt": lambda ctx, s, a: parse_int(s),
    "toWholeNumber": lambda ctx, s, a: parse_int(s),
    "toFloat": lambda ctx, s, a: parse_float(s),
    "toDecimalNumber": lambda ctx, s, a: parse_float(s),
    "toNumber": lambda ctx, s, a: string_to_number(s),
    "quote": lambda ctx, s, a: _quote(ctx, s, arg(a, 0)),
    "isNumeric": lambda ctx, s, a: _is_numeric(s),
    "toBoolean": lambda ctx, s, a: _to_boolean_string(s),
    "base64Encode": lambda ctx, s, a: _base64_encode(ctx, s),
    "base64Decode": lambda ctx, s, a: _base64_decode(s),
    "hash": lambda ctx, s, a: _hash(s, arg(a, 0)),
    "urlEncode": lambda ctx, s, a: (
        encode_uri(ctx, s, "urlEncode") if js_truthy(arg(a, 0)) else encode_uri_component(ctx, s, "urlEncode")
    ),
    "urlDecode": lambda ctx, s, a: decode_uri(s),
    "extractDomain": lambda ctx, s, a: _extract_domain(s),
    "extractEmail": lambda ctx, s, a: _extract_email(s),
    "extractUrl": lambda ctx, s, a: m.group(0) if (m := _URL.search(s)) else UNDEFINED,
    "isEmail": lambda ctx, s, a: bool(_EMAIL.fullmatch(s)),
    "isUrl": lambda ctx, s, a: bool(_URL.fullmatch(s)),
    "isDomain": lambda ctx, s, a: bool(_DOMAIN.fullmatch(s)),
    "parseJson": lambda ctx, s, a: parse_json_or_raise(s),
    "removeTags": lambda ctx, s, a: _remove_tags(s),
    "replaceSpecialChars": lambda ctx, s, a: _replace_special_chars(ctx, s),
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


def _compact_value(ctx: Context, value: Any) -> Any:
    """Nested objects without their null/undefined fields; a step per object, as shared references can
    nest one object exponentially many times."""
    if type(value) is dict:
        ctx.charge(1)
        return {k: _compact_value(ctx, v) for k, v in value.items() if v is not None and v is not UNDEFINED}
    return value


def _compact_array(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    ctx.charge(len(arr))
    keep = [v for v in arr if not (_is_empty(v) and type(v) is not list) and v != "nil"]
    return [_compact_value(ctx, v) for v in keep]


def _unique(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    fields = [js_string(f) for f in args]
    key = DeepKeys(ctx, "unique")
    if not fields:
        return _dedupe(ctx, arr, key)
    return _dedupe(ctx, arr, lambda v: tuple(key(v.get(f) if type(v) is dict else UNDEFINED) for f in fields))


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
    key = DeepKeys(ctx, "intersection" if keep_common else "difference")
    other = {key(v) for v in _other_array(args, "difference")}
    return _dedupe(ctx, [v for v in arr if (key(v) in other) == keep_common], key)


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
    "union": lambda ctx, arr, a: _dedupe(
        ctx, _append(ctx, arr, _other_array(a, "union")), DeepKeys(ctx, "union")
    ),
    "difference": lambda ctx, arr, a: _set_op(ctx, arr, a, False),
    "intersection": lambda ctx, arr, a: _set_op(ctx, arr, a, True),
    "pluck": _pluck,
    "smartJoin": _smart_join,
    "toJsonString": lambda ctx, arr, a: stringify(arr, ctx, operation="toJsonString"),
}


# ---------------------------------------------------------------- objects


def _filter_fields(obj: dict[str, Any], needle: Any, keep: bool) -> dict[str, Any]:
    text = js_string(needle)
    return {k: v for k, v in obj.items() if (text in js_string(v)) == keep}


def _url_encode_object(ctx: Context, obj: dict[str, Any]) -> str:
    """``URLSearchParams`` text of an object's fields (``urlencode``'s rules), the size counted field by
    field before each is encoded: the values may be one long string shared many times."""
    pairs = [(k, js_string(v)) for k, v in obj.items() if v is not UNDEFINED]
    parts: list[str] = []
    size = max(len(pairs) - 1, 0)
    for key, value in pairs:
        for text in (key, value):
            measure(ctx, text, quote_plus, URI_GROWTH, "urlEncode", size)
            parts.append(quote_plus(text, safe=""))
            size += len(parts[-1])
        size += 1
    text = "&".join(f"{parts[i]}={parts[i + 1]}" for i in range(0, len(parts), 2))
    ctx.check_string(len(text), "urlEncode")
    return text


OBJECT_EXTENSIONS: dict[str, Method] = {
    "isEmpty": lambda ctx, o, a: not o,
    "isNotEmpty": lambda ctx, o, a: bool(o),
    "hasField": lambda ctx, o, a: js_string(arg(a, 0)) in o,
    "removeField": lambda ctx, o, a: {k: v for k, v in o.items() if k != js_string(arg(a, 0))},
    "removeFieldsContaining": lambda ctx, o, a: _filter_fields(o, arg(a, 0), False),
    "keepFieldsContaining": lambda ctx, o, a: _filter_fields(o, arg(a, 0), True),
    "keys": lambda ctx, o, a: list(o),
    "values": lambda ctx, o, a: list(o.values()),
    "compact": lambda ctx, o, a: _compact_value(ctx, o),
    "urlEncode": lambda ctx, o, a: _url_encode_object(ctx, o),
    "toJsonString": lambda ctx, o, a: stringify(o, ctx, operation="toJsonString"),
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
