"""Syntax errors carry the 1-based column within the whole parameter string; node references are extracted."""

from __future__ import annotations

import pytest

from tenantflow.engine.expressions import ExpressionError, ExpressionSyntaxError, compile_template


@pytest.mark.parametrize(
    ("source", "column", "message"),
    [
        ("={{ 1 + }}", 9, "Unexpected end of expression"),
        ("=abc {{ foo( }}", 14, "Unexpected end of expression"),
        ("={{ (1 }}", 8, "expected ')'"),
        ("={{ 'abc }}", 5, "Unterminated string"),
        ("={{ `a${1 }}", 5, "Unterminated template literal"),
        ("={{ 1 + 2", 2, "missing '}}'"),
        ("=ok {{ 1 }} then {{ 2 +", 18, "missing '}}'"),
        ("={{ 1 2 }}", 7, "Unexpected token '2'"),
        ("={{ a.1 }}", 6, "Unexpected token"),
        ("={{ 3in }}", 6, "after number"),
        ("={{ x ++ }}", 7, "not supported"),
        ("={{ a instanceof b }}", 7, "instanceof"),
        ("={{ /(a/.test('') }}", 5, "Invalid regular expression"),
        ("={{ /a/q }}", 5, "Invalid regular expression flags"),
        ("={{ /[a/ }}", 5, "Unterminated regular expression"),
        ("={{ #x }}", 5, "Unexpected token '#'"),
        ("={{ x => { for (;;) {} } }}", 12, "'for' statements are not supported"),
        ("={{ (a = 1) => a }}", 8, "Default and rest parameters"),
        ("={{ 1 }} }", 1, ""),
        ("{{ const x = 1 }}", 4, "Unexpected token 'const'"),
        ('={{ "\\x4" }}', 6, "hexadecimal escape"),
        ("={{ a } }}", 7, "Unexpected '}'"),
        ("={{ x = 1 }}", 7, "only local variables can be assigned"),
    ],
)
def test_syntax_error_columns(source: str, column: int, message: str) -> None:
    if source == "={{ 1 }} }":  # trailing text after a block is literal, not an error
        assert compile_template(source).render({}) == "1 }"
        return
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_template(source)
    error = info.value
    assert message in error.message
    assert error.column == column, error
    assert error.expression == source
    assert error.code == "INVALID_EXPRESSION"
    assert isinstance(error, ExpressionError)


def test_multi_line_sources_report_offset_columns() -> None:
    source = "={{ [1,\n 2,\n ) }}"
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_template(source)
    assert source[info.value.column - 1] == ")"


def test_trailing_semicolons_and_comments() -> None:
    assert compile_template("={{ 1 + 1; }}").render({}) == 2
    assert compile_template("={{ 1 + /* two */ 2 }}").render({}) == 3
    assert compile_template("={{ 1 // rest\n + 2 }}").render({}) == 3


def test_node_references() -> None:
    source = (
        '={{ $node["A"].json.x + $node.B.json.y + $(\'C\').item.json.z + $items("D")[0] + $steps.E.output'
        " + $steps['F'].x + $nodes[\"G\"].y + $nodes.H.z + $json.notANode + $node[$json.dynamic] }}"
    )
    assert compile_template(source).node_references == frozenset("ABCDEFGH")
    assert compile_template("=x {{ $json.a }}").node_references == frozenset()
    assert compile_template("{{ $steps['check-budget'].success }}").node_references == frozenset(
        {"check-budget"}
    )
    assert compile_template("=literal $('X')").node_references == frozenset()
