"""Property tests: any input compiles or raises ExpressionSyntaxError; compiled expressions render or raise
ExpressionError. Any other exception (or an "Internal error" wrapper) is an engine bug."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantflow.engine.expressions import (
    ExpressionError,
    ExpressionLimits,
    ExpressionSyntaxError,
    compile_template,
    resolve_value,
    to_json,
)

LIMITS = ExpressionLimits(
    max_steps=20_000, max_seconds=0.5, max_string_length=100_000, max_array_length=10_000
)
VARIABLES: dict[str, Any] = {
    "$json": {
        "a": 1,
        "s": "Hello, World",
        "list": [3, 1, 2],
        "obj": {"x": None, "y": [1, {"z": "q"}]},
        "f": 1.5,
    },
    "$runIndex": 0,
}
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(source: str) -> None:
    try:
        template = compile_template(source)
    except ExpressionSyntaxError as exc:
        assert exc.column >= 1
        return
    try:
        result = template.render(VARIABLES, LIMITS)
        to_json(result)
        resolve_value(source, VARIABLES, LIMITS)
    except ExpressionError as exc:
        assert not exc.message.startswith("Internal error"), exc.message


JS_ALPHABET = st.sampled_from(
    [*"abcxyz$_0123456789 .,;:?!'\"`()[]{}+-*/%<>=&|^~#@\\\n", "=>", "${", "$json", "new ", "typeof ", "/g"]
)


@FUZZ
@given(st.text(max_size=40))
def test_arbitrary_unicode_inside_block(body: str) -> None:
    check("={{ " + body + " }}")


@FUZZ
@given(st.lists(JS_ALPHABET, max_size=30).map("".join))
def test_js_looking_noise(body: str) -> None:
    check("={{" + body + "}}")
    check("x {{" + body + "}} y")


ATOMS = st.sampled_from(
    [
        "1",
        "0",
        "-1",
        "2.5",
        "1e21",
        "NaN",
        "Infinity",
        "null",
        "undefined",
        "true",
        "false",
        "''",
        "'abc'",
        "'3'",
        "[]",
        "[1, 'a', null]",
        "({})",
        "({a: 1, b: [2]})",
        "$json",
        "$json.a",
        "$json.s",
        "$json.list",
        "$json.obj",
        "$json.missing",
        "$json.f",
        "Math",
        "JSON",
        "$utils",
        "DateTime.now()",
        "new Date(0)",
        "/a+/g",
        "x => x",
        "(a, b) => a - b",
        "numberList(1, 5)",
        "`t${1}`",
        "$runIndex",
        "document",
        "1e300",
        "-1e300",
        "'\\ud800'",
        "'٣²'",
    ]
)
METHODS = st.sampled_from(
    [
        "length",
        "map(x => x)",
        "filter(x => x)",
        "sort()",
        "sort((a, b) => a - b)",
        "join('-')",
        "slice(1)",
        "includes(1)",
        "indexOf('a')",
        "split('')",
        "toUpperCase()",
        "trim()",
        "replace(/a/g, 'b')",
        "toFixed(2)",
        "toString()",
        "keys()",
        "sum()",
        "first()",
        "unique()",
        "isEmpty()",
        "toJsonString()",
        "reduce((a, b) => a + b)",
        "at(-1)",
        "concat([1])",
        "flat()",
        "padStart(5)",
        "repeat(2)",
        "match(/\\w/)",
        "toISO()",
        "plus({days: 1})",
        "round(1)",
        "toInt()",
        "hasField('a')",
        "compact()",
        "chunk(2)",
        "constructor",
        "__proto__",
        "[0]",
        "['a']",
        "?.b",
        "?.()",
        "min",
        "stringify",
        "flatten({a: {b: 1}})",
        "round(1e9)",
        "toString(36)",
        "padEnd(3, 'ab')",
        "base64Encode()",
        "hash('sha1')",
        "toFixed(100)",
        "toPrecision(50)",
        "toLocaleString()",
        "slice(1e300)",
        "startOf('month')",
        "minus({years: 1e300})",
    ]
)
BINARY = st.sampled_from(
    ["+", "-", "*", "/", "%", "**", "==", "===", "!=", "<", ">=", "&&", "||", "??", "in"]
)


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, METHODS).map(lambda t: f"{t[0]}{'' if t[1][0] in '[?' else '.'}{t[1]}"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            st.tuples(st.sampled_from(["!", "-", "+", "typeof "]), inner).map(lambda t: f"{t[0]}{t[1]}"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            inner.map(lambda x: f"({{k: {x}, ...{x}}})"),
            inner.map(lambda x: f"String({x})"),
            inner.map(lambda x: f"JSON.stringify({x})"),
            inner.map(lambda x: f"[1, 2].map(v => {x})"),
        ),
        max_leaves=12,
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
def test_random_expressions_render_or_raise_expression_error(expression: str) -> None:
    check("={{ " + expression + " }}")
    check("{{ " + expression + " }}")
    check("=mixed {{ " + expression + " }} text")
