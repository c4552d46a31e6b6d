"""The comma operator and the bitwise operators follow JavaScript (real n8n exports use both)."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.expressions import (
    ExpressionLimitError,
    ExpressionLimits,
    ExpressionSyntaxError,
    compile_template,
)


def run(expression: str, limits: ExpressionLimits | None = None, **variables: Any) -> Any:
    source = "={{ " + expression + " }}"
    return compile_template(source).render({f"${k}": v for k, v in variables.items()}, limits)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5 & 3", 1),
        ("5 | 3", 7),
        ("5 ^ 3", 6),
        ("~5", -6),
        ("~-1", 0),
        ("~~3.7", 3),
        ("~~-3.7", -3),
        ("1 << 31", -2147483648),
        ("1 << 32", 1),
        ("1 << 33", 2),
        ("-8 >> 1", -4),
        ("-8 >>> 28", 15),
        ("-1 >>> 0", 4294967295),
        ("2147483648 | 0", -2147483648),
        ("4294967296 | 0", 0),
        ("-2147483649 | 0", 2147483647),
        ("2 ** 32 + 5 | 0", 5),
        ("1e21 | 0", -559939584),
        ("NaN | 0", 0),
        ("Infinity | 0", 0),
        ("-Infinity >>> 0", 0),
        ("'12' & 7", 4),
        ("'abc' | 0", 0),
        ("null | 1", 1),
        ("undefined | 1", 1),
        ("true << 2", 4),
        ("[6] & 3", 2),
        ("8 >> -1", 0),  # the shift count is taken modulo 32: -1 -> 31
        ("typeof (1 | 0)", "number"),
    ],
)
def test_bitwise_operators_use_int32_semantics(expression: str, expected: Any) -> None:
    assert run(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 | 2 ^ 3 & 4", 3),  # & binds tighter than ^, ^ tighter than |
        ("(1 | 2) ^ 3", 0),
        ("6 & 3 == 3", 0),  # equality binds tighter than &
        ("1 | 2 === 2", 1),
        ("0 && 1 | 2", 0),  # | binds tighter than &&
        ("1 || 0 & 0", 1),
        ("0 | 0 || 'x'", "x"),
        ("1 + 1 << 1", 4),  # additive binds tighter than shifts
        ("1 << 3 < 5", False),  # shifts bind tighter than relational
        ("-1 >>> 28 > 14", True),
        ("~1 + 1", -1),
        ("!~-1", True),
        ("true ? 1 | 2 : 0", 3),
        ("1 ?? 0 | 4", 1),
        ("1 & 1 ? 'odd' : 'even'", "odd"),
    ],
)
def test_bitwise_precedence(expression: str, expected: Any) -> None:
    assert run(expression) == expected


def test_logical_and_bitwise_tokens_are_distinct() -> None:
    assert run("$json.a & $json.b", json={"a": 6, "b": 3}) == 2
    assert run("$json.a && $json.b", json={"a": 6, "b": 3}) == 3
    assert run("$json.a | $json.b", json={"a": 4, "b": 1}) == 5
    assert run("$json.a || $json.b", json={"a": 4, "b": 1}) == 4
    assert run("1>>>1>>1", json={}) == 0


def test_bitwise_compound_assignments() -> None:
    body = "let c = 1; c <<= 3; c |= 1; c ^= 2; c &= 15; c >>= 1; const d = c; "
    body += "c = -1; c >>>= 0; return [d, c]"
    assert run(f"(() => {{ {body} }})()") == [5, 4294967295]
    assert run("[3, 5].reduce((acc, x) => (acc.m |= x, acc), {m: 0})") == {"m": 7}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(1, 2, 3)", 3),
        ("1, 2", 2),
        ("[(1, 2), 3]", [2, 3]),
        ("Math.max(1, (2, 0))", 1),
        ("[10, 20][0, 1]", 20),
        ("true ? 1 : 2, 'last'", "last"),
        ("`${1, 2}`", "2"),
        ("(() => { let a = 1, b = 2; return a, b })()", 2),
        ("$json.items.reduce((acc, x) => (acc[x.k] = x.v, acc), {})", {"a": 1, "b": 2}),
        ("$json.items.map(x => x.k, 'ignored')", ["a", "b"]),
    ],
)
def test_comma_operator(expression: str, expected: Any) -> None:
    items = [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert run(expression, json={"items": items}) == expected


def test_comma_operator_evaluates_left_to_right() -> None:
    body = "const log = []; const r = (log.push('a'), log.push('b'), log.length); return [r, log]"
    expression = "(() => { " + body + " })()"
    assert run(expression) == [2, ["a", "b"]]
    assert run("(() => { let x = 1; const y = (x = x + 1, x * 10); return [x, y] })()") == [2, 20]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("5 & ", "Unexpected end of expression"),
        ("~", "Unexpected end of expression"),
        ("1 << ", "Unexpected end of expression"),
        ("1 >>>> 2", "Unexpected token '>'"),
        ("(1, )", "Unexpected token ')'"),
        ("(, 1)", "Unexpected token ','"),
        ("1, ", "Unexpected end of expression"),
        ("true ? 1, 2 : 3", "expected ':'"),
        ("{[1, 2]: 3}", "expected ']'"),
        ("1 &= 2", "Invalid assignment target"),
        ("x |= 1", "only local variables"),
    ],
)
def test_syntax_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_template("={{ " + expression + " }}")
    assert message in info.value.message


def test_new_operators_count_towards_the_step_budget() -> None:
    limits = ExpressionLimits(max_steps=1_000)
    assert len(run("numberList(1, 100).map(x => x)", limits)) == 100
    with pytest.raises(ExpressionLimitError, match="step budget"):
        run("numberList(1, 100).map(x => (x & 1, x | 2, x ^ 3, ~x, x << 1, x >> 1, x >>> 1))", limits)
