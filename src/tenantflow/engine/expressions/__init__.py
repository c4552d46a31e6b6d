"""Sandboxed JavaScript-subset expression engine for workflow parameters.

Hand-written lexer/Pratt parser compiled to Python closures; no ``eval``/``exec``. Expressions can reach only
JSON data, allow-listed methods/globals and host-provided ``NativeFunction``/``HostObject`` values, within
the bounds of :class:`ExpressionLimits`.
"""

from .access import array_index
from .dates import make_date, parse_date, resolve_zone
from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from .regex import MATCH_SECONDS, REGEX_SECONDS, Deadline, compile_js_regex, search
from .runtime import ExpressionLimits
from .template import Template, compile_template, follows_n8n, is_template, resolve_value
from .values import (
    UNDEFINED,
    HostObject,
    JSValue,
    NativeFunction,
    format_json,
    int_result,
    is_number,
    js_deep_equal,
    js_less_than,
    js_loose_equals,
    js_num,
    js_strict_equals,
    js_string,
    js_truthy,
    js_typeof,
    string_to_number,
    to_integer,
    to_json,
    to_number,
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
    "follows_n8n",
    "is_template",
    "js_loose_equals",
    "js_strict_equals",
    "js_string",
    "js_truthy",
    "make_date",
    "resolve_value",
    "to_json",
]
# helpers node implementations share
__all__ += [
    "MATCH_SECONDS",
    "REGEX_SECONDS",
    "Deadline",
    "JSValue",
    "array_index",
    "compile_js_regex",
    "format_json",
    "int_result",
    "is_number",
    "js_deep_equal",
    "js_less_than",
    "js_num",
    "js_typeof",
    "parse_date",
    "resolve_zone",
    "search",
    "string_to_number",
    "to_integer",
    "to_number",
]
