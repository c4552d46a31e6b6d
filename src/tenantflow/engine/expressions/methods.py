"""Allow-listed native JavaScript methods of strings, arrays, numbers, booleans and plain objects.

Each method is ``(ctx, this, args) -> value``. Anything not in these tables does not exist for expressions.
Sizes are checked before allocation and per-element work is charged to the step budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from decimal import Context as DecimalContext
from typing import Any

from .errors import ExpressionError
from .regex import JSRegExp, expand_replacement, match_array, regex_replace, regex_split
from .runtime import Context, arg, call_function
from .sizes import CASE_GROWTH, NORMAL_GROWTH, NormalForm, bounded, normalize
from .values import (
    INF,
    NAN,
    UNDEFINED,
    NativeFunction,
    is_number,
    js_less_than,
    js_num,
    js_strict_equals,
    js_string,
    js_truthy,
    number_to_string,
    to_integer,
    to_number,
)

Method = Callable[[Context, Any, list[Any]], Any]

# Methods whose result may be an existing (possibly host-owned) container rather than a new one.
RETURNS_EXISTING = frozenset(
    {
        "find",
        "findLast",
        "at",
        "pop",
        "shift",
        "reduce",
        "reduceRight",
        "first",
        "last",
        "randomItem",
        "valueOf",
    }
)


def relative_index(value: Any, length: int, default: int) -> int:
    """Resolve a JS relative index (negative counts from the end), clamped to ``[0, length]``."""
    if value is UNDEFINED:
        return default
    i = to_integer(value)
    if i < 0:
        return int(max(length + i, 0))
    return int(min(i, length))


def callback(args: list[Any], method: str) -> Any:
    fn = arg(args, 0)
    if not isinstance(fn, NativeFunction):
        raise ExpressionError(f"TypeError: {js_string(fn)[:40]} is not a function (in .{method})")
    return fn


# ---------------------------------------------------------------- strings


def _search_string(value: Any, method: str) -> str:
    if isinstance(value, JSRegExp):
        raise ExpressionError(
            f"TypeError: First argument to String.prototype.{method} must not be a regular expression"
        )
    return js_string(value)


def _as_regex(value: Any) -> JSRegExp:
    if isinstance(value, JSRegExp):
        return value
    return JSRegExp("(?:)" if value is UNDEFINED else js_string(value), "")


def _string_replace(ctx: Context, s: str, pattern: Any, replacement: Any, replace_all: bool) -> str:
    operation = "replaceAll" if replace_all else "replace"
    if isinstance(pattern, JSRegExp):
        return regex_replace(ctx, s, pattern, replacement, replace_all, operation)
    needle = js_string(pattern)
    template = None if isinstance(replacement, NativeFunction) else js_string(replacement)
    out: list[str] = []
    total = last = 0
    pos = s.find(needle)
    while pos != -1:
        ctx.charge(1)
        total += pos - last
        rest = len(s) - pos - len(needle)
        if template is None:
            piece = js_string(call_function(ctx, replacement, [needle, pos, s]))
        else:
            piece = expand_replacement(ctx, template, None, needle, pos, s, total + rest, operation)
        total += len(piece)
        ctx.check_length(total + rest, operation)
        out += (s[last:pos], piece)
        last = pos + len(needle)
        if not replace_all:
            break
        pos = s.find(needle, pos + max(len(needle), 1))
    out.append(s[last:])
    ctx.check_string(total + len(s) - last, operation)
    return "".join(out)


def _split(ctx: Context, s: str, args: list[Any]) -> list[Any]:
    sep, limit_arg = arg(args, 0), arg(args, 1)
    limit = 2**32 - 1 if limit_arg is UNDEFINED else int(max(to_integer(limit_arg), 0))
    if sep is UNDEFINED:
        return [s][:limit]
    if isinstance(sep, JSRegExp):
        return regex_split(ctx, s, sep, limit)
    text = js_string(sep)
    if text == "":
        ctx.check_array(min(len(s), limit))
        return list(s[:limit])
    ctx.charge(len(s) // 16)
    ctx.check_array(min(s.count(text) + 1, limit))
    return s.split(text)[:limit]


def _pad(ctx: Context, s: str, args: list[Any], at_start: bool) -> str:
    target = to_integer(arg(args, 0))
    fill = " " if arg(args, 1) is UNDEFINED else js_string(arg(args, 1))
    if target <= len(s) or not fill:
        return s
    ctx.check_string(2**63 if target == INF else int(target), "padStart" if at_start else "padEnd")
    count = int(target) - len(s)
    padding = (fill * (count // len(fill) + 1))[:count]
    return padding + s if at_start else s + padding


def _repeat(ctx: Context, s: str, args: list[Any]) -> str:
    count = to_integer(arg(args, 0))
    if count < 0 or count == INF:
        raise ExpressionError("RangeError: Invalid count value")
    ctx.check_string(len(s) * int(count), "repeat")
    return s * int(count)


def _concat_strings(ctx: Context, s: str, args: list[Any]) -> str:
    parts = [s, *map(js_string, args)]
    ctx.check_string(sum(map(len, parts)), "concat")
    return "".join(parts)


def _char_at(s: str, index: Any) -> str | None:
    i = to_integer(index)
    return s[int(i)] if 0 <= i < len(s) else None


def _match(ctx: Context, s: str, args: list[Any]) -> Any:
    rx = _as_regex(arg(args, 0))
    ctx.charge(len(s) // 16)
    if rx.is_global:
        found = [m.group(0) for m in rx.finditer(ctx, s)]
        return found or None
    m = rx.search(ctx, s)
    return None if m is None else match_array(m)


def _substring(s: str, args: list[Any]) -> str:
    def clamp(v: Any, default: int) -> int:
        return default if v is UNDEFINED else int(min(max(to_integer(v), 0), len(s)))

    start, end = clamp(arg(args, 0), 0), clamp(arg(args, 1), len(s))
    return s[min(start, end) : max(start, end)]


def _substr(s: str, args: list[Any]) -> str:
    start = relative_index(arg(args, 0), len(s), 0)
    length = (
        len(s) - start if arg(args, 1) is UNDEFINED else int(min(max(to_integer(arg(args, 1)), 0), len(s)))
    )
    return s[start : start + length]


def _locale_compare(a: str, b: str) -> int:
    ka, kb = (a.casefold(), a), (b.casefold(), b)
    return 0 if ka == kb else (-1 if ka < kb else 1)


def _last_index_of(s: str, args: list[Any]) -> int:
    needle = js_string(arg(args, 0))
    position = to_number(arg(args, 1))
    end = len(s) if position != position else int(min(max(to_integer(position), 0), len(s)))
    return s.rfind(needle, 0, end + len(needle))


STRING_METHODS: dict[str, Method] = {
    "includes": lambda ctx, s, a: (
        _search_string(arg(a, 0), "includes") in s[relative_index(arg(a, 1), len(s), 0) :]
    ),
    "startsWith": lambda ctx, s, a: s.startswith(
        _search_string(arg(a, 0), "startsWith"), relative_index(arg(a, 1), len(s), 0)
    ),
    "endsWith": lambda ctx, s, a: s[: relative_index(arg(a, 1), len(s), len(s))].endswith(
        _search_string(arg(a, 0), "endsWith")
    ),
    "indexOf": lambda ctx, s, a: s.find(js_string(arg(a, 0)), relative_index(arg(a, 1), len(s), 0)),
    "lastIndexOf": lambda ctx, s, a: _last_index_of(s, a),
    "slice": lambda ctx, s, a: s[
        relative_index(arg(a, 0), len(s), 0) : relative_index(arg(a, 1), len(s), len(s))
    ],
    "substring": lambda ctx, s, a: _substring(s, a),
    "substr": lambda ctx, s, a: _substr(s, a),
    "toUpperCase": lambda ctx, s, a: bounded(ctx, s, str.upper, CASE_GROWTH, "toUpperCase"),
    "toLowerCase": lambda ctx, s, a: bounded(ctx, s, str.lower, CASE_GROWTH, "toLowerCase"),
    "toLocaleUpperCase": lambda ctx, s, a: bounded(ctx, s, str.upper, CASE_GROWTH, "toLocaleUpperCase"),
    "toLocaleLowerCase": lambda ctx, s, a: bounded(ctx, s, str.lower, CASE_GROWTH, "toLocaleLowerCase"),
    "trim": lambda ctx, s, a: s.strip(),
    "trimStart": lambda ctx, s, a: s.lstrip(),
    "trimEnd": lambda ctx, s, a: s.rstrip(),
    "trimLeft": lambda ctx, s, a: s.lstrip(),
    "trimRight": lambda ctx, s, a: s.rstrip(),
    "split": lambda ctx, s, a: _split(ctx, s, a),
    "replace": lambda ctx, s, a: _string_replace(ctx, s, arg(a, 0), arg(a, 1), False),
    "replaceAll": lambda ctx, s, a: _string_replace(ctx, s, arg(a, 0), arg(a, 1), True),
    "match": lambda ctx, s, a: _match(ctx, s, a),
    "matchAll": lambda ctx, s, a: [match_array(m) for m in _as_regex(arg(a, 0)).finditer(ctx, s)],
    "search": lambda ctx, s, a: -1 if (m := _as_regex(arg(a, 0)).search(ctx, s)) is None else m.start(),
    "padStart": lambda ctx, s, a: _pad(ctx, s, a, True),
    "padEnd": lambda ctx, s, a: _pad(ctx, s, a, False),
    "repeat": lambda ctx, s, a: _repeat(ctx, s, a),
    "charAt": lambda ctx, s, a: _char_at(s, arg(a, 0)) or "",
    "charCodeAt": lambda ctx, s, a: NAN if (c := _char_at(s, arg(a, 0))) is None else ord(c),
    "codePointAt": lambda ctx, s, a: UNDEFINED if (c := _char_at(s, arg(a, 0))) is None else ord(c),
    "concat": lambda ctx, s, a: _concat_strings(ctx, s, a),
    "at": lambda ctx, s, a: _at(s, arg(a, 0)),
    "toString": lambda ctx, s, a: s,
    "valueOf": lambda ctx, s, a: s,
    "localeCompare": lambda ctx, s, a: _locale_compare(s, js_string(arg(a, 0))),
    "normalize": lambda ctx, s, a: normalize(
        ctx, s, "NFC" if arg(a, 0) is UNDEFINED else _normal_form(arg(a, 0))
    ),
}


def _normal_form(value: Any) -> NormalForm:
    form = "NFC" if value is UNDEFINED else js_string(value)
    if form not in NORMAL_GROWTH:
        raise ExpressionError("RangeError: The normalization form should be one of NFC, NFD, NFKC, NFKD")
    return form


def _at(seq: Any, index: Any) -> Any:
    i = to_integer(index)
    if i < 0:
        i += len(seq)
    return seq[int(i)] if 0 <= i < len(seq) else UNDEFINED


# ---------------------------------------------------------------- arrays


def _each(ctx: Context, arr: list[Any], args: list[Any], method: str) -> Iterator[tuple[int, Any, Any]]:
    """Yield (index, element, callback result) for iteration methods."""
    fn = callback(args, method)
    ctx.charge(len(arr))
    for i, item in enumerate(arr):
        yield i, item, call_function(ctx, fn, [item, i, arr])


def _reduce(ctx: Context, arr: list[Any], args: list[Any], reverse: bool) -> Any:
    fn = callback(args, "reduce")
    indexed = list(enumerate(arr))
    if reverse:
        indexed.reverse()
    ctx.charge(len(arr))
    if len(args) > 1:
        acc = args[1]
    elif indexed:
        acc = indexed.pop(0)[1]
    else:
        raise ExpressionError("TypeError: Reduce of empty array with no initial value")
    for i, item in indexed:
        acc = call_function(ctx, fn, [acc, item, i, arr])
    return acc


def _sort_key_default(a: Any, b: Any) -> int:
    sa, sb = js_string(a), js_string(b)
    return 0 if sa == sb else (-1 if sa < sb else 1)


def _sort(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    """JS sort (stable, undefined last). Sorts in place only arrays the expression owns, else a copy."""
    comparator = arg(args, 0)
    ctx.charge(len(arr) * max(1, len(arr).bit_length()))
    present = [v for v in arr if v is not UNDEFINED]
    if comparator is UNDEFINED:
        present.sort(key=functools.cmp_to_key(_sort_key_default))
    else:
        fn = callback(args, "sort")

        def compare(a: Any, b: Any) -> int:
            result = to_number(call_function(ctx, fn, [a, b]))
            return 0 if result != result or result == 0 else (-1 if result < 0 else 1)

        present.sort(key=functools.cmp_to_key(compare))
    result = present + [UNDEFINED] * (len(arr) - len(present))
    if ctx.is_owned(arr):
        arr[:] = result
        return arr
    return result


def _reverse(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    if ctx.is_owned(arr):
        arr.reverse()
        return arr
    return arr[::-1]


def _flatten(ctx: Context, arr: list[Any], depth: float, out: list[Any]) -> list[Any]:
    ctx.charge(len(arr))
    for item in arr:
        if type(item) is list and depth >= 1:
            _flatten(ctx, item, depth - 1, out)
        else:
            out.append(item)
        if len(out) > ctx.limits.max_array_length:
            ctx.check_array(len(out))
    return out


def _flat(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    depth = 1 if arg(args, 0) is UNDEFINED else to_integer(arg(args, 0))
    return _flatten(ctx, arr, depth, [])


def _concat(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    total = len(arr) + sum(len(a) if type(a) is list else 1 for a in args)
    ctx.check_array(total)
    out = list(arr)
    for item in args:
        if type(item) is list:
            out.extend(item)
        else:
            out.append(item)
    return out


def join_array(ctx: Context, arr: list[Any], separator: str, operation: str = "join") -> str:
    parts = ["" if v is None or v is UNDEFINED else js_string(v) for v in arr]
    ctx.charge(len(parts))
    ctx.check_string(sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0), operation)
    return separator.join(parts)


def _push(ctx: Context, arr: list[Any], args: list[Any]) -> int:
    ctx.ensure_owned(arr)
    ctx.check_array(len(arr) + len(args))
    arr.extend(args)
    return len(arr)


def _unshift(ctx: Context, arr: list[Any], args: list[Any]) -> int:
    ctx.ensure_owned(arr)
    ctx.check_array(len(arr) + len(args))
    arr[:0] = args
    return len(arr)


def _remove(ctx: Context, arr: list[Any], index: int) -> Any:
    ctx.ensure_owned(arr)
    return arr.pop(index) if arr else UNDEFINED


def _splice(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    ctx.ensure_owned(arr)
    start = relative_index(arg(args, 0), len(arr), 0)
    count = len(arr) - start if len(args) < 2 else int(min(max(to_integer(args[1]), 0), len(arr) - start))
    ctx.check_array(len(arr) - count + max(len(args) - 2, 0))
    removed = arr[start : start + count]
    arr[start : start + count] = args[2:]
    return removed


def _fill(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    ctx.ensure_owned(arr)
    start = relative_index(arg(args, 1), len(arr), 0)
    end = relative_index(arg(args, 2), len(arr), len(arr))
    ctx.charge(len(arr))
    arr[start:end] = [arg(args, 0)] * max(end - start, 0)
    return arr


def same_value_zero(a: Any, b: Any) -> bool:
    return js_strict_equals(a, b) or (type(a) is float and type(b) is float and a != a and b != b)


def _index_of(arr: list[Any], args: list[Any], equals: Callable[[Any, Any], bool]) -> int:
    start = relative_index(arg(args, 1), len(arr), 0)
    target = arg(args, 0)
    return next((i for i in range(start, len(arr)) if equals(arr[i], target)), -1)


def _find(ctx: Context, arr: list[Any], args: list[Any], reverse: bool, want_index: bool) -> Any:
    fn = callback(args, "find")
    ctx.charge(len(arr))
    indices = range(len(arr) - 1, -1, -1) if reverse else range(len(arr))
    for i in indices:
        if js_truthy(call_function(ctx, fn, [arr[i], i, arr])):
            return i if want_index else arr[i]
    return -1 if want_index else UNDEFINED


def _for_each(ctx: Context, arr: list[Any], args: list[Any]) -> Any:
    for _ in _each(ctx, arr, args, "forEach"):
        pass
    return UNDEFINED


def _flat_map(ctx: Context, arr: list[Any], args: list[Any]) -> list[Any]:
    return _flatten(ctx, [r for _, _, r in _each(ctx, arr, args, "flatMap")], 1, [])


ARRAY_METHODS: dict[str, Method] = {
    "map": lambda ctx, arr, a: [r for _, _, r in _each(ctx, arr, a, "map")],
    "filter": lambda ctx, arr, a: [item for _, item, r in _each(ctx, arr, a, "filter") if js_truthy(r)],
    "forEach": _for_each,
    "some": lambda ctx, arr, a: any(js_truthy(r) for _, _, r in _each(ctx, arr, a, "some")),
    "every": lambda ctx, arr, a: all(js_truthy(r) for _, _, r in _each(ctx, arr, a, "every")),
    "find": lambda ctx, arr, a: _find(ctx, arr, a, False, False),
    "findIndex": lambda ctx, arr, a: _find(ctx, arr, a, False, True),
    "findLast": lambda ctx, arr, a: _find(ctx, arr, a, True, False),
    "findLastIndex": lambda ctx, arr, a: _find(ctx, arr, a, True, True),
    "reduce": lambda ctx, arr, a: _reduce(ctx, arr, a, False),
    "reduceRight": lambda ctx, arr, a: _reduce(ctx, arr, a, True),
    "sort": _sort,
    "reverse": _reverse,
    "includes": lambda ctx, arr, a: _index_of(arr, a, same_value_zero) >= 0,
    "indexOf": lambda ctx, arr, a: _index_of(arr, a, js_strict_equals),
    "lastIndexOf": lambda ctx, arr, a: next(
        (i for i in range(len(arr) - 1, -1, -1) if js_strict_equals(arr[i], arg(a, 0))), -1
    ),
    "join": lambda ctx, arr, a: join_array(ctx, arr, "," if arg(a, 0) is UNDEFINED else js_string(arg(a, 0))),
    "slice": lambda ctx, arr, a: arr[
        relative_index(arg(a, 0), len(arr), 0) : relative_index(arg(a, 1), len(arr), len(arr))
    ],
    "concat": _concat,
    "flat": _flat,
    "flatMap": _flat_map,
    "push": _push,
    "unshift": _unshift,
    "pop": lambda ctx, arr, a: _remove(ctx, arr, -1),
    "shift": lambda ctx, arr, a: _remove(ctx, arr, 0),
    "splice": _splice,
    "fill": _fill,
    "at": lambda ctx, arr, a: _at(arr, arg(a, 0)),
    "keys": lambda ctx, arr, a: list(range(len(arr))),
    "values": lambda ctx, arr, a: list(arr),
    "entries": lambda ctx, arr, a: [[i, v] for i, v in enumerate(arr)],
    "toString": lambda ctx, arr, a: join_array(ctx, arr, ",", "toString"),
    "valueOf": lambda ctx, arr, a: arr,
}


# ---------------------------------------------------------------- numbers & booleans


def _digits_arg(value: Any, low: int, high: int, method: str) -> int:
    digits = to_integer(value)
    if not low <= digits <= high:
        raise ExpressionError(f"RangeError: {method}() digits argument must be between {low} and {high}")
    return int(digits)


_WIDE = DecimalContext(prec=1200)  # exact decimal expansion of any double plus 100 fraction digits


def to_fixed(x: float, digits: int) -> str:
    if x != x or abs(x) >= 1e21:
        return number_to_string(x)
    q = Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=_WIDE)
    text = format(q, "f")
    return text.lstrip("-") if x == 0 else text


def _to_precision(x: float, args: list[Any]) -> str:
    if arg(args, 0) is UNDEFINED or x != x or x in (INF, -INF):
        return number_to_string(x)
    precision = _digits_arg(arg(args, 0), 1, 100, "toPrecision")
    q = DecimalContext(prec=precision, rounding=ROUND_HALF_UP).plus(Decimal(abs(x)))
    exponent = q.adjusted() if x else 0
    sign = "-" if x < 0 else ""
    if exponent < -6 or exponent >= precision:
        digits = "".join(map(str, q.as_tuple().digits)).ljust(precision, "0")[:precision]
        mantissa = digits[0] + ("." + digits[1:] if precision > 1 else "")
        return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    return sign + format(q, f".{max(precision - 1 - exponent, 0)}f")


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _to_radix(x: float, args: list[Any]) -> str:
    radix = 10 if arg(args, 0) is UNDEFINED else _digits_arg(arg(args, 0), 2, 36, "toString")
    if radix == 10 or x != x or x in (INF, -INF):
        return number_to_string(x)
    sign, x = ("-", -x) if x < 0 else ("", x)
    whole, frac = int(x), x - int(x)
    out = ""
    while True:
        whole, digit = divmod(whole, radix)
        out = _DIGITS[digit] + out
        if not whole:
            break
    if frac:
        out += "."
        for _ in range(52):
            frac *= radix
            out += _DIGITS[int(frac)]
            frac -= int(frac)
            if not frac:
                break
    return sign + out


def _to_locale(x: float) -> str:
    if x != x or x in (INF, -INF):
        return number_to_string(x)
    text = f"{Decimal(x).quantize(Decimal('0.001'), rounding=ROUND_HALF_UP, context=_WIDE):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


NUMBER_METHODS: dict[str, Method] = {
    "toFixed": lambda ctx, x, a: to_fixed(x, _digits_arg(arg(a, 0), 0, 100, "toFixed")),
    "toPrecision": lambda ctx, x, a: _to_precision(x, a),
    "toString": lambda ctx, x, a: _to_radix(x, a),
    "toLocaleString": lambda ctx, x, a: _to_locale(x),
    "valueOf": lambda ctx, x, a: x,
}

BOOLEAN_METHODS: dict[str, Method] = {
    "toString": lambda ctx, b, a: js_string(b),
    "valueOf": lambda ctx, b, a: b,
}

OBJECT_METHODS: dict[str, Method] = {
    "hasOwnProperty": lambda ctx, o, a: js_string(arg(a, 0)) in o,
    "toString": lambda ctx, o, a: "[object Object]",
    "valueOf": lambda ctx, o, a: o,
}


def math_round(x: Any) -> int | float:
    """JS ``Math.round``: halves round towards +Infinity."""
    n = to_number(x)
    if type(n) is int or n != n or n in (INF, -INF):
        return n
    return js_num(float(math.floor(n + 0.5)))


def numeric_min_max(values: list[Any], pick_max: bool) -> int | float:
    result: int | float = -INF if pick_max else INF
    for value in values:
        n = to_number(value)
        if n != n:
            return NAN
        if js_less_than(result, n) if pick_max else js_less_than(n, result):
            result = n
    return result


def is_integer_value(value: Any) -> bool:
    return is_number(value) and value == value and value not in (INF, -INF) and float(value).is_integer()
