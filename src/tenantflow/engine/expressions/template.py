"""Parameter templates: ``=...`` (n8n) and ``...{{ expr }}...`` (MetaBuilder) strings.

Which strings are templates depends on the node's dialect (:func:`follows_n8n`): n8n's nodes take only
``=``-prefixed strings, MetaBuilder's also any string holding a ``{{ }}`` block.

A value that is exactly one ``{{ }}`` block (after the optional ``=``) keeps the expression's type; otherwise
the parts are joined into a string. Compiled templates are cached by source text.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .compiler import Eval, compile_node, node_references
from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError, NullishAccessError
from .extensions import stringify
from .lexer import tokenize
from .parser import Parser
from .runtime import DEFAULT_LIMITS, Context, ExpressionLimits
from .values import UNDEFINED, HostObject, js_string, to_json

_Part = str | Eval


_N8N_NODE_PREFIXES = ("n8n-nodes-base.", "@n8n/")
# A parameter's value may hold this many strings' worth of characters, every shared reference counted: a
# node then works on (joins, hashes, writes out) what it was given, not a few strings referenced a million
# times.
RESULT_CHARS = 10


def follows_n8n(node_type: str) -> bool:
    """Whether a node type takes n8n's template rule: its parameters are expressions only when they start
    with ``=`` (n8n keeps ``"Bearer {{ 1+1 }}"`` as written). Every other node type is MetaBuilder's."""
    return node_type.startswith(_N8N_NODE_PREFIXES)


def is_template(value: str, n8n: bool = False) -> bool:
    """``=``-prefixed, or (MetaBuilder's dialect, not ``n8n``'s) containing a ``{{ … }}`` block."""
    if value.startswith("="):
        return True
    if n8n:
        return False
    start = value.find("{{")
    return start != -1 and value.find("}}", start + 2) != -1


def _undefined(ctx: Context) -> Any:
    return UNDEFINED


def _tolerate_nullish_access(fn: Eval) -> Eval:
    """n8n's template error handler turns a TypeError in a block into ``undefined`` (conformance row 2)."""

    def block(ctx: Context) -> Any:
        try:
            return fn(ctx)
        except NullishAccessError:
            return UNDEFINED

    return block


def _mixed_text(value: Any, ctx: Context) -> str:
    """How a block renders inside surrounding text: objects as JSON, null/undefined as ''."""
    if type(value) is str:
        return value
    if value is None or value is UNDEFINED:
        return ""
    if type(value) in (list, dict) or isinstance(value, HostObject):
        return stringify(value, ctx)
    return js_string(value)


class Template:
    """A compiled parameter value; :meth:`render` evaluates it against host variables."""

    __slots__ = ("_parts", "_single", "_static_value", "is_static", "node_references", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        n8n = source.startswith("=")
        parts: list[_Part] = []
        references: set[str] = set()
        i = 1 if n8n else 0
        if n8n or is_template(source):
            while (start := source.find("{{", i)) != -1:
                if start > i:
                    parts.append(source[i:start])
                tokens, i = tokenize(source, start + 2, "block")
                tree = Parser(tokens).parse_program()
                if tree is None:
                    parts.append(_undefined)
                    continue
                references |= node_references(tree)
                compiled = compile_node(tree)
                parts.append(_tolerate_nullish_access(compiled) if n8n else compiled)
        if i < len(source):
            parts.append(source[i:])
        self._parts = parts
        self.node_references = frozenset(references)
        self.is_static = all(isinstance(p, str) for p in parts)
        self._static_value = "".join(p for p in parts if isinstance(p, str)) if self.is_static else ""
        self._single = parts[0] if len(parts) == 1 and not isinstance(parts[0], str) else None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def render(self, variables: Mapping[str, Any], limits: ExpressionLimits | None = None) -> Any:
        """Evaluate; raises :class:`ExpressionError` (never another exception type)."""
        if self.is_static:
            return self._static_value
        ctx = Context(variables, limits or DEFAULT_LIMITS)
        try:
            if self._single is not None:
                return self._single(ctx)
            pieces = [p if isinstance(p, str) else _mixed_text(p(ctx), ctx) for p in self._parts]
            ctx.check_string(sum(map(len, pieces)), "template")
            return "".join(pieces)
        except ExpressionError as exc:
            exc.expression = exc.expression or self.source
            raise
        except RecursionError:
            raise ExpressionLimitError("Expression is nested too deeply", self.source) from None
        except MemoryError:
            raise ExpressionLimitError("Expression ran out of memory", self.source) from None
        except Exception as exc:  # a bug or a failing host callback must still surface as ExpressionError
            raise ExpressionError(f"Internal error: {type(exc).__name__}: {exc}", self.source) from exc


@lru_cache(maxsize=8192)
def compile_template(value: str) -> Template:
    """Compile (cached); raises :class:`ExpressionSyntaxError` with a 1-based column."""
    try:
        return Template(value)
    except ExpressionSyntaxError as exc:
        exc.expression = value
        raise
    except RecursionError:
        raise ExpressionSyntaxError("Expression is nested too deeply", value) from None
    except ExpressionError as exc:
        raise ExpressionSyntaxError(exc.message, value) from None


def resolve_value(
    value: Any, variables: Mapping[str, Any], limits: ExpressionLimits | None = None, n8n: bool = False
) -> Any:
    """Deeply render a parameter structure: template strings (in the dialect ``n8n`` picks, see
    :func:`is_template`) are evaluated, other leaves returned as is."""
    if isinstance(value, str):
        if not is_template(value, n8n):
            return value
        bounds = limits or DEFAULT_LIMITS
        result = compile_template(value).render(variables, bounds)
        return to_json(result, bounds.max_array_length, max_chars=RESULT_CHARS * bounds.max_string_length)
    if isinstance(value, dict):
        return {k: resolve_value(v, variables, limits, n8n) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_value(v, variables, limits, n8n) for v in value]
    return value
