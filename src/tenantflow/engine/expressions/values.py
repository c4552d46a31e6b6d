"""The value model of the sandbox and JavaScript's coercion rules over it.

Expressions only ever see JSON types (dict/list/str/int/float/bool/None), ``UNDEFINED``, the engine's own
value classes (:class:`JSValue` subclasses such as dates and regexes), functions and host objects. Nothing
here calls ``getattr`` on a value, which is what keeps arbitrary Python objects unreachable.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Final

from .errors import ExpressionLimitError

MAX_SAFE: Final = 2**53
# Cap for strings built outside an evaluation context (String(array) nests); matches the default limit.
MAX_STRING_LENGTH: Final = 10_000_000
NAN: Final = math.nan
INF: Final = math.inf


class _Undefined:
    """JavaScript ``undefined``: distinct from ``None`` (null), falsy."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class NativeFunction:
    """A callable value backed by Python; ``fn`` receives the evaluated positional arguments.

    ``members`` gives static members (``Number.isInteger``), so a global can be both callable and a namespace.
    """

    __slots__ = ("fn", "members", "name")

    def __init__(
        self, name: str, fn: Callable[[list[Any]], Any], members: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.fn = fn
        self.members = members or {}

    def __repr__(self) -> str:
        return f"<function {self.name}>"


class HostObject(ABC):
    """A lazily computed object supplied by the host (``$node``, ``$input``...).

    Expressions reach it only through :meth:`get_member`, never through Python attributes.
    """

    @abstractmethod
    def get_member(self, key: str) -> Any:
        """Return the member value, or ``UNDEFINED`` when absent."""

    def to_json(self) -> Any:
        """JSON form used by ``JSON.stringify`` and rendering; override to expose data."""
        return {}


class JSValue:
    """Base of engine-defined value types (dates, regexes) so coercions can delegate without imports."""

    __slots__ = ()
    typeof = "object"

    def js_string(self) -> str:
        return "[object Object]"

    def to_number(self) -> int | float:
        return NAN

    def to_primitive(self) -> Any:
        """ToPrimitive with the default hint."""
        return self.js_string()

    def to_json_value(self) -> Any:
        return {}


# ---------------------------------------------------------------- numbers


def int_result(value: int) -> int | float:
    """Keep integers exact while they are safe integers, as a JS double would be."""
    if -MAX_SAFE < value < MAX_SAFE:
        return value
    try:
        return float(value)
    except OverflowError:
        return INF if value > 0 else -INF


def js_num(value: float) -> int | float:
    """Normalise a numeric result: integral safe values become ``int``."""
    if type(value) is int:
        return int_result(value)
    if value.is_integer() and -MAX_SAFE < value < MAX_SAFE:
        return int(value)
    return value


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


_NUMERIC_RE = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)", re.ASCII)
_RADIX_PREFIX = {"0x": 16, "0o": 8, "0b": 2}


def string_to_number(text: str) -> int | float:
    """JS ``Number(string)``."""
    s = text.strip()
    if not s:
        return 0
    if _NUMERIC_RE.fullmatch(s):
        return js_num(float(s))
    sign, body = (-1.0, s[1:]) if s[0] == "-" else (1.0, s[1:] if s[0] == "+" else s)
    if body == "Infinity":
        return sign * INF
    radix = _RADIX_PREFIX.get(s[:2].lower())
    if radix and len(s) > 2:
        try:
            return int_result(int(s[2:], radix))
        except ValueError:
            return NAN
    return NAN


def number_to_string(value: int | float) -> str:
    """JS ``Number.prototype.toString()`` (shortest round-trip digits, JS exponent rules)."""
    if type(value) is int:
        return str(value)
    if value != value:
        return "NaN"
    if value in (INF, -INF):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    return sign + body


def to_number(value: Any) -> int | float:
    """JS ``ToNumber``."""
    t = type(value)
    if t is float:
        return value  # type: ignore[no-any-return]
    if t is int:
        return int_result(value)
    if t is bool:
        return 1 if value else 0
    if t is str:
        return string_to_number(value)
    if value is None:
        return 0
    if isinstance(value, JSValue):
        return value.to_number()
    if t is list:
        return string_to_number(js_string(value))
    return NAN


def to_integer(value: Any) -> int | float:
    """JS ``ToIntegerOrInfinity``; infinities are kept so callers can clamp."""
    n = to_number(value)
    if type(n) is int:
        return n
    if n != n:
        return 0
    if n in (INF, -INF):
        return n
    return int(n)


# ---------------------------------------------------------------- strings & truthiness


def js_string(value: Any) -> str:
    """JS ``String(value)``."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return number_to_string(value)
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if t is list:
        return _array_string(value, {})
    if isinstance(value, JSValue):
        return value.js_string()
    if isinstance(value, NativeFunction):
        return f"function {value.name}() {{ [native code] }}"
    return "[object Object]"


def _array_string(items: list[Any], seen: dict[int, str]) -> str:
    """``Array.prototype.join(',')``, memoised per call: shared sub-arrays are rendered once and a cycle
    renders as '' (as JS engines do), so nested references cannot blow up time."""
    key = id(items)
    if key in seen:
        return seen[key]
    seen[key] = ""
    parts = [
        "" if v is None or v is UNDEFINED else (_array_string(v, seen) if type(v) is list else js_string(v))
        for v in items
    ]
    if sum(map(len, parts)) + len(parts) > MAX_STRING_LENGTH:
        raise ExpressionLimitError(f"String result too large (over {MAX_STRING_LENGTH} characters)")
    seen[key] = text = ",".join(parts)
    return text


def js_truthy(value: Any) -> bool:
    """JS ``Boolean(value)``."""
    if value is None or value is UNDEFINED:
        return False
    t = type(value)
    if t is bool:
        return value  # type: ignore[no-any-return]
    if t is int:
        return value != 0  # type: ignore[no-any-return]
    if t is float:
        return value == value and value != 0  # type: ignore[no-any-return]
    if t is str:
        return len(value) > 0
    return True


def js_typeof(value: Any) -> str:
    if value is UNDEFINED:
        return "undefined"
    t = type(value)
    if t is str:
        return "string"
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if isinstance(value, NativeFunction):
        return "function"
    if isinstance(value, JSValue):
        return value.typeof
    return "object"


def to_primitive(value: Any) -> Any:
    """JS ``ToPrimitive`` (default hint) for the value kinds the sandbox has."""
    t = type(value)
    if value is None or value is UNDEFINED or t in (str, bool, int, float):
        return value
    if isinstance(value, JSValue):
        return value.to_primitive()
    return js_string(value)


# ---------------------------------------------------------------- equality and ordering


def _is_object(value: Any) -> bool:
    return not (value is None or value is UNDEFINED or type(value) in (str, bool, int, float))


def js_strict_equals(a: Any, b: Any) -> bool:
    """JS ``===``: no coercion, objects by identity, NaN unequal to itself."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a == b  # type: ignore[no-any-return]
    if ta is str and tb is str:
        return a == b  # type: ignore[no-any-return]
    return a is b and not (ta is float and a != a)


def js_loose_equals(a: Any, b: Any) -> bool:
    """JS ``==`` with its coercion rules."""
    a_nullish = a is None or a is UNDEFINED
    b_nullish = b is None or b is UNDEFINED
    if a_nullish or b_nullish:
        return a_nullish and b_nullish
    ta, tb = type(a), type(b)
    if ta is tb or (ta in (int, float) and tb in (int, float)) or (_is_object(a) and _is_object(b)):
        return js_strict_equals(a, b)
    if ta is bool:
        return js_loose_equals(1 if a else 0, b)
    if tb is bool:
        return js_loose_equals(a, 1 if b else 0)
    if _is_object(a):
        return js_loose_equals(to_primitive(a), b)
    if _is_object(b):
        return js_loose_equals(a, to_primitive(b))
    return to_number(a) == to_number(b)  # number vs string


def js_deep_equal(a: Any, b: Any) -> bool:
    """lodash ``isEqual`` on JSON values (1 and 1.0 are the same number; bools are not numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(js_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(js_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def js_less_than(a: Any, b: Any) -> bool | None:
    """Abstract relational comparison ``a < b``; ``None`` means undefined (a NaN was involved)."""
    pa = a.to_number() if isinstance(a, JSValue) else to_primitive(a)
    pb = b.to_number() if isinstance(b, JSValue) else to_primitive(b)
    if type(pa) is str and type(pb) is str:
        return pa < pb
    na, nb = to_number(pa), to_number(pb)
    if na != na or nb != nb:
        return None
    return na < nb


# ---------------------------------------------------------------- JSON


class NodeBudget:
    """Values and string characters a conversion may still visit: shared references count every time
    they are reached, because the converted result holds (and later serialises) each of them."""

    __slots__ = ("chars", "left")

    def __init__(self, left: float, chars: float = INF) -> None:
        self.left = left
        self.chars = chars

    def spend_chars(self, count: int) -> None:
        self.chars -= count
        if self.chars < 0:
            raise ExpressionLimitError("Result is too large to convert to JSON (its strings are too long)")


def to_json(value: Any, max_nodes: int | None = None, *, max_chars: int | None = None) -> Any:
    """Convert an expression result to plain JSON data (the rules of ``JSON.stringify``).

    ``max_nodes`` bounds the values visited and ``max_chars`` the string characters, because shared
    references can make a small result expand exponentially when flattened.
    """
    if (
        value is None or type(value) is int or type(value) is bool
    ):  # most results: nothing to convert or count
        return value
    budget = NodeBudget(INF if max_nodes is None else max_nodes, INF if max_chars is None else max_chars)
    try:  # to_json_within(), without a call
        return _to_json(value, budget)
    except RecursionError:
        raise _too_deep() from None


def to_json_within(value: Any, budget: NodeBudget) -> Any:
    """:func:`to_json` drawing on a budget shared by several conversions."""
    try:
        return _to_json(value, budget)
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> ExpressionLimitError:
    return ExpressionLimitError("Result is nested too deeply to convert to JSON")


def _to_json(value: Any, budget: NodeBudget) -> Any:
    budget.left -= 1  # inline rather than a method: this runs once per value converted
    if budget.left < 0:
        raise ExpressionLimitError("Result is too large to convert to JSON")
    t = type(value)
    if t is str:
        budget.spend_chars(len(value))
        return value
    if value is None or t is bool or t is int:
        return value
    if t is float:
        return None if value != value or value in (INF, -INF) else value
    if t is list:
        return [_to_json(v, budget) for v in value]
    if t is dict:
        return {
            str(k): _to_json(v, budget)
            for k, v in value.items()
            if v is not UNDEFINED and not isinstance(v, NativeFunction)
        }
    if isinstance(value, JSValue):
        return value.to_json_value()
    if isinstance(value, HostObject):
        return _to_json(value.to_json(), budget)
    return None


def format_json(
    data: Any,
    indent: str = "",
    *,
    max_length: int | None = None,
    operation: str = "JSON.stringify",
    sort_keys: bool = False,
) -> str:
    """Serialise plain JSON data the way ``JSON.stringify`` does (JS number formatting, optional indent).

    With ``max_length``, the text's size is counted as it is written (a string shared a thousand times is
    written a thousand times) and writing stops as soon as it is over, naming ``operation``.
    """
    writer = _JsonWriter(indent, INF if max_length is None else max_length, operation, sort_keys)
    try:
        writer.value(data, "")
    except RecursionError:
        raise ExpressionLimitError(f"Value is nested too deeply for {operation}") from None
    return "".join(writer.parts)


class _JsonWriter:
    __slots__ = ("indent", "limit", "operation", "parts", "size", "sort_keys")

    def __init__(self, indent: str, limit: float, operation: str, sort_keys: bool) -> None:
        self.indent = indent
        self.limit = limit
        self.operation = operation
        self.sort_keys = sort_keys
        self.parts: list[str] = []
        self.size = 0

    def grow(self, count: int) -> None:
        """Account for ``count`` more characters, before they are built."""
        self.size += count
        if self.size > self.limit:
            raise ExpressionLimitError(
                f"String result too large in {self.operation} (over {self.limit:.0f} characters)"
            )

    def write(self, text: str) -> None:
        self.grow(len(text))
        self.parts.append(text)

    def string(self, text: str) -> None:
        self.grow(len(text) + 2)  # the least its quoted form takes, known before any copy is made
        quoted = encode_basestring(text)
        self.grow(len(quoted) - len(text) - 2)  # its escapes
        self.parts.append(quoted)

    def value(self, value: Any, current: str) -> None:
        t = type(value)
        if t is str:
            self.string(value)
        elif value is None:
            self.write("null")
        elif t is bool:
            self.write("true" if value else "false")
        elif t is int or t is float:
            self.write(number_to_string(value))
        elif t is list:
            self.container("[", "]", value, current, None)
        else:
            items = sorted(value.items()) if self.sort_keys else value.items()
            self.container("{", "}", items, current, ": " if self.indent else ":")

    def container(self, open_: str, close: str, members: Any, current: str, sep: str | None) -> None:
        inner = current + self.indent
        self.write(open_)
        first = True
        for member in members:
            if not first:
                self.write(",")
            first = False
            if self.indent:
                self.write("\n" + inner)
            if sep is None:
                self.value(member, inner)
            else:
                self.string(member[0])
                self.write(sep)
                self.value(member[1], inner)
        if self.indent and not first:
            self.write("\n" + current)
        self.write(close)


_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)", re.ASCII)


def parse_int(value: Any, radix_arg: Any = UNDEFINED) -> int | float:
    """JS ``parseInt``: longest valid prefix, optional radix, ``0x`` auto-detection."""
    text = js_string(value).strip()
    sign = -1 if text.startswith("-") else 1
    text = text[1:] if text[:1] in "+-" else text
    requested = 0 if radix_arg is UNDEFINED else to_integer(radix_arg)
    radix = 0 if requested in (INF, -INF) else int(requested)
    if radix in (0, 16) and text[:2].lower() == "0x":
        text, radix = text[2:], 16
    radix = radix or 10
    if not 2 <= radix <= 36:
        return NAN
    digits = ""
    for ch in text:
        if not ch.isascii() or not ch.isalnum() or int(ch, 36) >= radix:
            break
        digits += ch
    if not digits:
        return NAN
    digits = digits.lstrip("0") or "0"
    if len(digits) > 1100:  # beyond any double; also avoids int()'s digit-count limit
        return sign * INF
    return int_result(sign * int(digits, radix))


def parse_float(value: Any) -> int | float:
    """JS ``parseFloat``: longest numeric prefix."""
    m = _FLOAT_PREFIX.match(js_string(value).strip())
    if not m:
        return NAN
    text = m.group(0)
    if text.lstrip("+-") == "Infinity":
        return -INF if text.startswith("-") else INF
    return js_num(float(text))


def _json_number(text: str) -> int | float:
    return js_num(float(text))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unexpected token {name} in JSON")


def parse_json_text(text: str) -> Any:
    """``JSON.parse`` with JS number semantics (one number type, no NaN/Infinity literals)."""
    return json.loads(text, parse_float=_json_number, parse_int=_json_number, parse_constant=_reject_constant)
