"""Sandboxed JavaScript-subset expression engine for workflow parameters.

Hand-written lexer/Pratt parser compiled to Python closures; no ``eval``/``exec``. Expressions can reach only
JSON data, allow-listed methods/globals and host-provided ``NativeFunction``/``HostObject`` values, within
the bounds of :class:`ExpressionLimits`.
"""

from .dates import make_date
from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from .runtime import ExpressionLimits
from .template import Template, compile_template, is_template, resolve_value
from .values import (
    UNDEFINED,
    HostObject,
    NativeFunction,
    js_loose_equals,
    js_strict_equals,
    js_string,
    js_truthy,
    to_json,
)

__all__ = [
    "UNDEFINED",
    "ExpressionError",
    "ExpressionLimitError",
    "ExpressionLimits",
    "ExpressionSyntaxError",
    "HostObject",
    "NativeFunction",
    "Template",
    "compile_template",
    "is_template",
    "js_loose_equals",
    "js_strict_equals",
    "js_string",
    "js_truthy",
    "make_date",
    "resolve_value",
    "to_json",
]
