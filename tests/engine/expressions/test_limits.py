"""Resource bounds: every runaway expression ends in ExpressionLimitError quickly, never in Python errors."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from tenantflow.engine.expressions import (
    ExpressionLimitError,
    ExpressionLimits,
    ExpressionSyntaxError,
    compile_template,
    resolve_value,
)

SLOW = 5.0  # seconds: an upper bound that only a missing limit can exceed


def run(source: str, limits: ExpressionLimits | None = None) -> object:
    return compile_template(source).render({}, limits)


def test_repeat_fails_fast_before_allocating() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionLimitError) as info:
            run("={{ 'a'.repeat(1e9) }}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # refused before allocating, not after building a gigabyte
    assert info.value.code == "EXPRESSION_LIMIT"
    assert "String result too large" in info.value.message


@pytest.mark.parametrize(
    "source",
    [
        "={{ 'x'.padStart(1e9) }}",
        "={{ new Array(1e9) }}",
        "={{ Array(1e9) }}",
        "={{ Array.from({length: 1e9}) }}",
        "={{ numberList(1, 1e9) }}",
        "={{ 'a'.repeat(1e7).split('') }}",
        "={{ numberList(1, 40).reduce(a => a + a, 'x') }}",
        "={{ numberList(1, 40).reduce(a => a.concat(a), [1]) }}",
        "={{ numberList(1, 40).reduce(a => [...a, ...a], [1]) }}",
        "={{ 'ab'.repeat(4e6).replace(/a/g, 'aaaa') }}",
        "={{ 'ab'.repeat(4e6).replaceAll('a', 'aaaa') }}",
        "=x{{ 'a'.repeat(6e6) }}{{ 'a'.repeat(6e6) }}",
    ],
)
def test_size_caps(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionLimitError):
        run(source)
    # Generous on purpose (a loaded CI box): without the caps these take minutes or exhaust memory.
    assert time.perf_counter() - started < SLOW


def test_step_budget_stops_huge_reduce() -> None:
    with pytest.raises(ExpressionLimitError, match="step budget"):
        run("={{ numberList(1, 100000).reduce((a, x) => a + x, 0) }}")
    with pytest.raises(ExpressionLimitError, match="step budget"):
        run("={{ numberList(1, 1000).map(x => numberList(1, 1000).map(y => x * y)) }}")
    assert run("={{ numberList(1, 1000).reduce((a, x) => a + x, 0) }}") == 500500


def test_limits_are_overridable_per_evaluation() -> None:
    small = ExpressionLimits(max_steps=50)
    with pytest.raises(ExpressionLimitError):
        run("={{ numberList(1, 100).map(x => x) }}", small)
    with pytest.raises(ExpressionLimitError):
        run("={{ 'abc'.repeat(5) }}", ExpressionLimits(max_string_length=10))
    with pytest.raises(ExpressionLimitError):
        run("={{ [1, 2, 3].concat([4]) }}", ExpressionLimits(max_array_length=3))


def test_wall_clock_budget() -> None:
    limits = ExpressionLimits(max_steps=10**12, max_seconds=0.05)
    started = time.perf_counter()
    with pytest.raises(ExpressionLimitError, match="time budget"):
        run("={{ numberList(1, 1000000).map(x => numberList(1, 1000).length) }}", limits)
    assert time.perf_counter() - started < SLOW


def test_recursion_is_bounded() -> None:
    source = "={{ (() => { const f = n => n <= 0 ? 0 : 1 + f(n - 1); return f(100000); })() }}"
    with pytest.raises(ExpressionLimitError):
        run(source)
    assert run("={{ (() => { const f = n => n <= 0 ? 0 : 1 + f(n - 1); return f(50); })() }}") == 50


@pytest.mark.parametrize(
    "source",
    [
        "={{ " + "(" * 10_000 + "1" + ")" * 10_000 + " }}",
        "={{ " + "[" * 10_000 + "]" * 10_000 + " }}",
        "={{ " + "{a:" * 10_000 + "1" + "}" * 10_000 + " }}",
        "={{ " + "!" * 10_000 + "x }}",
        "={{ " + "- " * 10_000 + "1 }}",
        "={{ a" + ".b" * 10_000 + " }}",
        "={{ 1" + "+1" * 10_000 + " }}",
        "={{ a" + "(1)" * 10_000 + " }}",
        "={{ " + "x => " * 10_000 + "1 }}",
        "={{ " + "1 ? " * 10_000 + "1" + " : 1" * 10_000 + " }}",
        "={{ " + "`${" * 1_000 + "1" + "}`" * 1_000 + " }}",
    ],
)
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(source: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="nested too deeply"):
        compile_template(source)


def test_moderate_nesting_still_works() -> None:
    assert run("={{ " + "(" * 150 + "1" + ")" * 150 + " }}") == 1
    assert run("={{ 0" + " + 1" * 150 + " }}") == 150


def test_shared_references_cannot_explode_conversion() -> None:
    """A 2**40-leaf tree built from 40 shared lists: conversion is bounded by max_array_length nodes."""
    limits = ExpressionLimits(max_array_length=50_000)
    source = "={{ numberList(1, 40).reduce(a => [a, a], [1]) }}"
    with pytest.raises(ExpressionLimitError):
        resolve_value(source, {}, limits)
    with pytest.raises(ExpressionLimitError):
        run("={{ JSON.stringify(numberList(1, 40).reduce(a => [a, a], [1])) }}", limits)
    with pytest.raises(ExpressionLimitError):
        run("={{ String(numberList(1, 40).reduce(a => [a, a], [1])) }}")


def test_backtracking_regex_runs_until_the_time_budget_and_stops_naming_the_pattern() -> None:
    """No pattern is refused for its shape; one that backtracks on its text stops at the budget."""
    limits = ExpressionLimits(max_seconds=0.2)
    for source in (
        "={{ /(a|a)+$/.test('a'.repeat(40) + 'b') }}",
        "={{ /(a|aa)+$/.exec('a'.repeat(40) + '!') }}",
        "={{ 'a'.repeat(40).concat('!').match(/(a|a)+$/g) }}",
        "={{ 'a'.repeat(40).concat('!').replace(/(a|a)+$/, 'x') }}",
        "={{ 'a'.repeat(40).concat('!').split(/(a|aa)+$/) }}",
    ):
        started = time.monotonic()
        with pytest.raises(ExpressionLimitError, match="ran out of time") as info:
            run(source, limits)
        assert "/(a|a" in str(info.value)
        assert time.monotonic() - started < 2
    assert run("={{ /(a|a)+$/.test('aaaa') }}") is True  # the same pattern on kind text is fine
    assert run("={{ /^(\\d{1,3}\\.){3}\\d{1,3}$/.test('10.0.0.1') }}") is True
    # A real export's domain check, refused by the old shape heuristic:
    assert run("={{ /^(\\*\\.)?([a-zA-Z0-9-]+\\.)+[a-zA-Z]{2,}$/.test('*.example.com') }}") is True
