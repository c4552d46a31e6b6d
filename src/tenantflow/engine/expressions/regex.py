"""JavaScript regular expressions on top of the ``regex`` package, matched against a deadline.

JS syntax is translated (named groups, ``\\d``/``\\w`` as ASCII, ``.`` and ``$`` semantics). Every valid
pattern compiles: a backtracking one such as ``/(a|a)+$/`` is not refused up front (no heuristic can tell
it from the safe patterns real workflows use), it is stopped while it runs. Matching takes a timeout, the
time left in the evaluation's budget (:meth:`Context.remaining_seconds`), and running out is
EXPRESSION_LIMIT naming the pattern. Nodes that match outside an expression give their own (:func:`search`),
or share one :class:`Deadline` between all the matches of a run.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import regex

from .errors import ExpressionError, ExpressionLimitError
from .runtime import Context, call_function
from .values import UNDEFINED, JSValue, NativeFunction, js_string

_FLAG_BITS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "g": 0, "u": 0, "d": 0}
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "b": r"\x08"}
_ATOM_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]"}
_KEPT_ESCAPES = set("sSbBDWnrtvf")
_DOT = r"[^\n\r\u2028\u2029]"
_T = TypeVar("_T")


class JSRegExp(JSValue):
    """A compiled regex literal; stateless (``lastIndex`` is not modelled)."""

    __slots__ = ("flags", "is_global", "pattern", "source")

    def __init__(self, source: str, flags: str) -> None:
        self.source = source
        self.flags = flags
        self.is_global = "g" in flags
        self.pattern = compile_js_regex(source, flags)

    def js_string(self) -> str:
        return f"/{self.source}/{self.flags}"

    def search(self, ctx: Context, subject: str) -> regex.Match[str] | None:
        return within_time(
            self.source, ctx.remaining_seconds(), lambda t: self.pattern.search(subject, timeout=t)
        )

    def finditer(self, ctx: Context, subject: str) -> list[regex.Match[str]]:
        """Every match, found within the evaluation's time left (a list: the timeout covers the walk); each
        match is a step, so millions of them stop at the step budget rather than fill memory."""

        def walk(seconds: float) -> list[regex.Match[str]]:
            found = []
            for match in self.pattern.finditer(subject, timeout=seconds):
                ctx.charge(1)
                found.append(match)
            ctx.check_array(len(found))
            return found

        return within_time(self.source, ctx.remaining_seconds(), walk)


@lru_cache(maxsize=512)
def compile_js_regex(source: str, flags: str) -> regex.Pattern[str]:
    """Translate and compile; raises ExpressionError for an invalid or unsupported pattern."""
    bits = regex.VERSION0
    for flag in flags:
        if flag not in _FLAG_BITS or flags.count(flag) > 1:
            raise ExpressionError(f"Invalid regular expression flags '{flags}'")
        bits |= _FLAG_BITS[flag]
    translated = _translate(source, dotall="s" in flags, multiline="m" in flags)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return regex.compile(translated, bits)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise ExpressionError(f"Invalid regular expression /{source}/: {exc}") from None


def search(
    pattern: regex.Pattern[str],
    source: str,
    subject: str,
    seconds: float,
    *,
    sticky: bool = False,
    full: bool = False,
) -> regex.Match[str] | None:
    """``pattern.search`` (``match`` when ``sticky``, ``fullmatch`` when ``full``) for nodes that match
    outside an expression, stopped after ``seconds``."""
    find = pattern.fullmatch if full else pattern.match if sticky else pattern.search
    return within_time(source, seconds, lambda t: find(subject, timeout=t))


REGEX_SECONDS = 1.0  # what a node's run may spend matching user patterns, as long as one expression


class Deadline:
    """The matching time a node's run has left, shared by all its matches (a per-match timeout would let
    a thousand items each take just under it). The clock starts at the first match."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float = REGEX_SECONDS) -> None:
        self.seconds = seconds
        self.end = 0.0

    def run(self, source: str, run: Callable[[float], _T]) -> _T:
        """``run(timeout)`` with the time left; running out is EXPRESSION_LIMIT naming ``source``."""
        now = time.monotonic()
        if not self.end:
            self.end = now + self.seconds
        return within_time(source, self.end - now, run)


MATCH_SECONDS = 0.1
"""How long one match (a search, a walk over every match, a replacement) may hold the event loop, whatever
budget is left. A match cannot yield (the ``regex`` package stops it only by its timeout), and the loop is
every tenant's: a backtracking pattern stops here, so other executions wait at most this long for it. Real
patterns take a few milliseconds even on megabytes of text."""


def within_time(source: str, seconds: float, run: Callable[[float], _T]) -> _T:
    """``run(timeout)`` for the pattern ``source`` with ``seconds`` of budget left (at most
    :data:`MATCH_SECONDS` at once), as EXPRESSION_LIMIT naming it when time runs out."""
    timeout = min(seconds, MATCH_SECONDS)
    try:
        if timeout <= 0:
            raise TimeoutError
        return run(timeout)
    except TimeoutError:
        if seconds > MATCH_SECONDS:
            reason = f"one match may run {MATCH_SECONDS:g} s"
        else:
            reason = f"{max(seconds, 0):.3g} s left"
        raise ExpressionLimitError(
            f"Regular expression /{source}/ ran out of time ({reason}): it backtracks too much on this text"
        ) from None


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _escape(source: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape sequence starting at ``source[i] == '\\'``; returns (text, next index)."""
    if i + 1 >= len(source):
        raise ExpressionError("Invalid regular expression: \\ at end of pattern")
    c = source[i + 1]
    if in_class and c in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[c], i + 2
    if not in_class and c in _ATOM_ESCAPES:
        return _ATOM_ESCAPES[c], i + 2
    if c in _KEPT_ESCAPES:
        return "\\" + c, i + 2
    if c == "0" and not _is_digits(source[i + 2 : i + 3]):
        return r"\x00", i + 2
    if _is_digits(c):
        j = i + 1
        while j < len(source) and _is_digits(source[j]):
            j += 1
        return "\\" + source[i + 1 : j], j
    if c == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", source[i + 2 : i + 4]):
        return source[i : i + 4], i + 4
    if c == "u":
        braced = re.match(r"\{([0-9A-Fa-f]{1,6})\}", source[i + 2 :])
        if braced:
            return f"\\U{int(braced.group(1), 16):08x}", i + 2 + braced.end()
        if re.fullmatch(r"[0-9A-Fa-f]{4}", source[i + 2 : i + 6]):
            return source[i : i + 6], i + 6
    if c == "c" and source[i + 2 : i + 3].isalpha():
        return f"\\x{ord(source[i + 2]) % 32:02x}", i + 3
    if c == "k" and not in_class:
        named = re.match(r"<([A-Za-z_$][\w$]*)>", source[i + 2 :])
        if named:
            return f"(?P={named.group(1)})", i + 2 + named.end()
    if c in "pP":
        raise ExpressionError("Unicode property escapes (\\p{...}) are not supported")
    return re.escape(c), i + 2


def _class_end(source: str, i: int) -> int:
    """Index just past the character class starting at ``source[i] == '['``."""
    j = i + 1
    while j < len(source) and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    if j >= len(source):
        raise ExpressionError("Invalid regular expression: unterminated character class")
    return j + 1


def _translate_class(source: str, i: int, end: int) -> str:
    body_start = i + 1
    negated = source[body_start : body_start + 1] == "^"
    if negated:
        body_start += 1
    if body_start == end - 1:
        return r"[\s\S]" if negated else "(?!)"
    parts = ["[^" if negated else "["]
    j = body_start
    while j < end - 1:
        c = source[j]
        if c == "\\":
            text, j = _escape(source, j, in_class=True)
            parts.append(text)
            continue
        parts.append("\\" + c if c in "[&~|" else c)
        j += 1
    parts.append("]")
    return "".join(parts)


def _translate(source: str, dotall: bool, multiline: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            text, i = _escape(source, i, in_class=False)
            out.append(text)
        elif c == "[":
            end = _class_end(source, i)
            out.append(_translate_class(source, i, end))
            i = end
        elif c == "(" and source.startswith("(?<", i) and not source.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
        else:
            if c == "." and not dotall:
                out.append(_DOT)
            elif c == "$" and not multiline:
                out.append(r"\Z")
            else:
                out.append(c)
            i += 1
    return "".join(out)


# ---------------------------------------------------------------- operations used by string methods


def _groups(match: regex.Match[str]) -> list[Any]:
    return [UNDEFINED if g is None else g for g in match.groups()]


def match_array(match: regex.Match[str]) -> list[Any]:
    """The array ``exec`` returns (without the ``index``/``input`` properties JS attaches)."""
    return [match.group(0), *_groups(match)]


def expand_replacement(
    ctx: Context,
    template: str,
    match: regex.Match[str] | None,
    matched: str,
    position: int,
    subject: str,
    used: int,
    operation: str,
) -> str:
    """Apply JS replacement patterns ``$$ $& $` $' $n $<name>``. The piece's size is checked as it grows,
    before each copy (after ``used`` characters of the result): ``$`` and ``$'`` copy the subject, so a long
    template of them would otherwise multiply it."""
    if "$" not in template:
        return template
    groups = match.groups() if match else ()
    named = match.groupdict() if match else {}
    out: list[str] = []
    size = used
    i = 0
    while i < len(template):
        dollar = template.find("$", i)
        if dollar == -1:
            dollar = len(template)
        if dollar > i:
            size += dollar - i
            ctx.check_length(size, operation)
            out.append(template[i:dollar])
            i = dollar
            continue
        piece, i = _substitution(template, i, groups, named, matched, position, subject)
        size += len(piece) if isinstance(piece, str) else piece[1] - piece[0]
        ctx.check_length(size, operation)
        out.append(piece if isinstance(piece, str) else subject[piece[0] : piece[1]])
    return "".join(out)


def _substitution(
    template: str,
    i: int,
    groups: tuple[str | Any, ...],
    named: dict[str, str | Any],
    matched: str,
    position: int,
    subject: str,
) -> tuple[str | tuple[int, int], int]:
    """The replacement for the ``$`` at ``template[i]`` (text, or a (start, end) slice of the subject not yet
    copied) and the index after it."""
    nxt = template[i + 1 : i + 2]
    if nxt == "$":
        return "$", i + 2
    if nxt == "&":
        return matched, i + 2
    if nxt == "`":
        return (0, position), i + 2
    if nxt == "'":
        return (position + len(matched), len(subject)), i + 2
    if _is_digits(nxt):
        two = template[i + 1 : i + 3]
        width = 2 if _is_digits(two) and 0 < int(two) <= len(groups) else 1
        index = int(template[i + 1 : i + 1 + width])
        if 0 < index <= len(groups):
            return groups[index - 1] or "", i + 1 + width
        return "$", i + 1
    if nxt == "<" and named and ">" in template[i:]:
        close = template.index(">", i)
        return named.get(template[i + 2 : close]) or "", close + 1
    return "$", i + 1


def regex_replace(
    ctx: Context, subject: str, rx: JSRegExp, replacement: Any, replace_all: bool, operation: str
) -> str:
    """``String.prototype.replace``/``replaceAll`` with a regex; the output size is checked as it grows."""
    total = len(subject)
    is_fn = isinstance(replacement, NativeFunction)
    template = "" if is_fn else js_string(replacement)

    def substitute(m: regex.Match[str]) -> str:
        nonlocal total
        ctx.charge(1)
        total -= m.end() - m.start()
        if is_fn:
            result = js_string(call_function(ctx, replacement, [m.group(0), *_groups(m), m.start(), subject]))
        else:
            result = expand_replacement(ctx, template, m, m.group(0), m.start(), subject, total, operation)
        total += len(result)
        ctx.check_length(total, operation)
        return result

    count = 0 if (rx.is_global or replace_all) else 1
    result = within_time(
        rx.source,
        ctx.remaining_seconds(),
        lambda t: rx.pattern.sub(substitute, subject, count=count, timeout=t),
    )
    ctx.check_string(len(result), operation)
    return result


def regex_split(ctx: Context, subject: str, rx: JSRegExp, limit: int) -> list[Any]:
    """JS split semantics: empty matches at the split start and string end do not split."""
    ctx.charge(len(subject))
    out: list[Any] = []
    start = 0
    for m in rx.finditer(ctx, subject):
        if m.end() == start or m.start() >= len(subject):
            continue
        out.append(subject[start : m.start()])
        out.extend(_groups(m))
        start = m.end()
        if len(out) >= limit:
            return out[:limit]
    out.append(subject[start:])
    return out[:limit]
