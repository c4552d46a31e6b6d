"""Tokenizer for the JavaScript expression subset.

It works on the whole parameter string with absolute positions (so syntax errors report the column users
see) and finds the end of a ``{{ … }}`` block itself, because ``}}`` may legitimately appear inside an
expression (``{{ {a: {b: 1}} }}``) or inside a string.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

from .errors import ExpressionSyntaxError
from .values import js_num

Mode = Literal["block", "brace", "all"]

MAX_NESTING = 200

_PUNCTUATORS = (  # longest first
    ">>>=",
    *("...", "===", "!==", "**=", ">>>", "<<=", ">>="),
    *("=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "**", "+=", "-=", "*=", "/=", "%=", "++", "--"),
    *("<<", ">>", "&=", "|=", "^="),
    *"{}()[];,<>+-*/%!?:=.~&|^@#",
)
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII
)
_DIGITS = "0123456789"
_DIGITS_NONEMPTY = tuple(_DIGITS)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v"}
# After these words an expression (so possibly a regex literal) starts.
_EXPRESSION_KEYWORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "else"}
)


class Token(NamedTuple):
    kind: str  # num str template regex name punct eof
    value: Any
    pos: int


class Template(NamedTuple):
    """Value of a template-literal token: cooked text parts around the ``${}`` token lists."""

    quasis: list[str]
    expressions: list[list[Token]]


def _error(message: str, pos: int) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(message, column=pos + 1)


def _is_ident_start(c: str) -> bool:
    return c.isalpha() or c in "$_"


def _is_ident_part(c: str) -> bool:
    return c.isalnum() or c in "$_"


def _read_escape(src: str, i: int) -> tuple[str, int]:
    """Decode the escape at ``src[i] == '\\'``; returns (text, next index)."""
    if i + 1 >= len(src):
        raise _error("Unterminated string", i)
    c = src[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c == "0" and src[i + 2 : i + 3] not in _DIGITS_NONEMPTY:
        return "\0", i + 2
    if c == "x":
        digits = src[i + 2 : i + 4]
        if re.fullmatch(r"[0-9a-fA-F]{2}", digits):
            return chr(int(digits, 16)), i + 4
        raise _error("Invalid hexadecimal escape sequence", i)
    if c == "u":
        braced = re.match(r"\{([0-9a-fA-F]{1,6})\}", src[i + 2 : i + 10])
        if braced and int(braced.group(1), 16) <= 0x10FFFF:
            return chr(int(braced.group(1), 16)), i + 2 + braced.end()
        digits = src[i + 2 : i + 6]
        if re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            return chr(int(digits, 16)), i + 6
        raise _error("Invalid Unicode escape sequence", i)
    if c == "\r" and src[i + 2 : i + 3] == "\n":
        return "", i + 3
    if c in "\n\r\u2028\u2029":
        return "", i + 2
    return c, i + 2


def _read_string(src: str, i: int) -> tuple[str, int]:
    quote = src[i]
    out: list[str] = []
    j = i + 1
    while j < len(src):
        c = src[j]
        if c == quote:
            return "".join(out), j + 1
        if c == "\\":
            text, j = _read_escape(src, j)
            out.append(text)
        elif c in "\n\r":
            break
        else:
            out.append(c)
            j += 1
    raise _error("Unterminated string literal", i)


def _read_regex(src: str, i: int) -> tuple[tuple[str, str], int]:
    j = i + 1
    in_class = False
    while j < len(src):
        c = src[j]
        if c in "\n\r":
            break
        if c == "\\":
            j += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            end = j + 1
            while end < len(src) and _is_ident_part(src[end]):
                end += 1
            return (src[i + 1 : j], src[j + 1 : end]), end
        j += 1
    raise _error("Unterminated regular expression literal", i)


def _regex_allowed(prev: Token | None) -> bool:
    if prev is None:
        return True
    if prev.kind == "punct":
        return prev.value not in (")", "]", "}")
    return prev.kind == "name" and prev.value in _EXPRESSION_KEYWORDS


def _read_template(src: str, i: int, nesting: int) -> tuple[Template, int]:
    quasis: list[str] = []
    expressions: list[list[Token]] = []
    current: list[str] = []
    j = i + 1
    while j < len(src):
        c = src[j]
        if c == "`":
            quasis.append("".join(current))
            return Template(quasis, expressions), j + 1
        if c == "\\":
            text, j = _read_escape(src, j)
            current.append(text)
        elif c == "$" and src[j + 1 : j + 2] == "{":
            quasis.append("".join(current))
            current = []
            tokens, j = tokenize(src, j + 2, "brace", nesting + 1)
            expressions.append(tokens)
        else:
            current.append(c)
            j += 1
    raise _error("Unterminated template literal", i)


def _skip_comment(src: str, i: int) -> int:
    if src.startswith("//", i):
        end = re.compile(r"[\n\r]").search(src, i)
        return len(src) if end is None else end.start()
    end_pos = src.find("*/", i + 2)
    if end_pos == -1:
        raise _error("Unterminated comment", i)
    return end_pos + 2


def tokenize(src: str, start: int, mode: Mode = "all", nesting: int = 0) -> tuple[list[Token], int]:
    """Tokenize from ``start``; ``block`` stops after a top-level ``}}``, ``brace`` after a top-level ``}``.

    Returns the tokens (ending with an ``eof`` token at the stop position) and the index after the stop.
    """
    if nesting > MAX_NESTING:
        raise _error("Template literals are nested too deeply", start)
    tokens: list[Token] = []
    depth = 0
    i = start
    n = len(src)
    while True:
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            if mode == "all":
                tokens.append(Token("eof", None, i))
                return tokens, i
            if mode == "block":
                raise _error("Unterminated expression: missing '}}'", start - 2)
            raise _error("Missing '}' to close '${'", start - 2)
        c = src[i]
        prev = tokens[-1] if tokens else None
        if c == "/" and src[i + 1 : i + 2] in ("/", "*"):
            i = _skip_comment(src, i)
            continue
        if c == "}" and depth == 0 and mode != "all":
            if mode == "brace":
                tokens.append(Token("eof", None, i))
                return tokens, i + 1
            if src[i + 1 : i + 2] == "}":
                tokens.append(Token("eof", None, i))
                return tokens, i + 2
            raise _error("Unexpected '}'", i)
        if c in _DIGITS or (c == "." and src[i + 1 : i + 2] in _DIGITS_NONEMPTY):
            m = _NUMBER.match(src, i)
            assert m is not None  # a digit always matches
            text = m.group(0)
            if m.end() < n and _is_ident_part(src[m.end()]):
                raise _error("Invalid or unexpected token after number", m.end())
            value = int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else js_num(float(text))
            tokens.append(Token("num", js_num(float(value)) if value >= 2**53 else value, i))
            i = m.end()
        elif _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_part(src[j]):
                j += 1
            tokens.append(Token("name", src[i:j], i))
            i = j
        elif c in "'\"":
            text, j = _read_string(src, i)
            tokens.append(Token("str", text, i))
            i = j
        elif c == "`":
            template, j = _read_template(src, i, nesting)
            tokens.append(Token("template", template, i))
            i = j
        elif c == "/" and _regex_allowed(prev):
            regex, j = _read_regex(src, i)
            tokens.append(Token("regex", regex, i))
            i = j
        else:
            punct = next((p for p in _PUNCTUATORS if src.startswith(p, i)), None)
            if punct is None:
                raise _error(f"Invalid or unexpected token '{c}'", i)
            if punct == "?." and src[i + 2 : i + 3] in _DIGITS_NONEMPTY:
                punct = "?"  # `a?.5:1` is a conditional
            depth += (punct == "{") - (punct == "}")
            tokens.append(Token("punct", punct, i))
            i += len(punct)
