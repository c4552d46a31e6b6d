"""Native operations that amplify are checked before they run, from the sizes of their inputs.

Each case once allocated gigabytes or ran for minutes in one step: shared references (each element under the
string cap, the whole far over it), Unicode normalisation and encodings that multiply the length, case
mappings that lengthen, replacement templates that copy the subject per match. Every one now ends in
EXPRESSION_LIMIT naming the operation, well inside its budget, under an address-space cap that a missing
check would hit first.
"""

from __future__ import annotations

import time

import pytest

from tenantflow.engine.expressions import ExpressionLimitError, ExpressionLimits, compile_template

from ..memory_cap import address_space_cap

BUDGET = ExpressionLimits()
CAP = 600 * 1024 * 1024  # what one evaluation may map beyond the test process: a few 10 M-character strings


def run(source: str, limits: ExpressionLimits = BUDGET) -> object:
    with address_space_cap(CAP):
        return compile_template(source).render({}, limits)


@pytest.mark.parametrize(
    ("source", "operation"),
    [
        ("JSON.stringify(Array(1000).fill('a'.repeat(1e7)))", "JSON.stringify"),
        ("JSON.stringify({a: Array(1000).fill('a'.repeat(1e5))}, null, 2)", "JSON.stringify"),
        ("({a: Array(1000).fill('a'.repeat(1e7))}).toJsonString()", "toJsonString"),
        ("Array(1000).fill('a'.repeat(1e7)).toJsonString()", "toJsonString"),
        ("'\\ufdfa'.repeat(1e7).normalize('NFKD')", "normalize"),
        ("'\\ufdfa'.repeat(1e6).normalize('NFKC')", "normalize"),
        ("encodeURIComponent('\\ufdfa'.repeat(1e7))", "encodeURIComponent"),
        ("encodeURI('\\ufdfa'.repeat(4e6))", "encodeURI"),
        ("'\\ufdfa'.repeat(1e7).urlEncode()", "urlEncode"),
        ("'\\ufdfa'.repeat(1e7).urlEncode(true)", "urlEncode"),
        ("'\\ufdfa'.repeat(1e7).base64Encode()", "base64Encode"),
        ("'\\ufdfa'.repeat(1e7).replaceSpecialChars()", "replaceSpecialChars"),
        ("'\\u00df'.repeat(1e7).toUpperCase()", "toUpperCase"),
        ("'\\u00df'.repeat(1e7).toLocaleUpperCase()", "toLocaleUpperCase"),
        ("'\\u0130'.repeat(1e7).toLowerCase()", "toLowerCase"),
        ("'\\u00df'.repeat(1e7).toTitleCase()", "toTitleCase"),
        ("'\\u0130'.repeat(1e7).toSentenceCase()", "toSentenceCase"),
        ("$utils.uppercase('\\u00df'.repeat(1e7))", "uppercase"),
        ("'a'.repeat(1e7).quote('a'.repeat(1e7))", "quote"),
        ("('x'.repeat(1000) + 'a').replace('a', '$`'.repeat(5e6))", "replace"),
        ("('x'.repeat(1000) + 'a').replace(/a/, '$`'.repeat(5e6))", "replace"),
        ("('a' + 'x'.repeat(1000)).replaceAll('a', \"$'\".repeat(5e6))", "replaceAll"),
        ("$utils.replace('x'.repeat(1e7), 'x', 'y'.repeat(1e7))", "replace"),
    ],
)
def test_amplifying_operations_are_refused_before_they_allocate(source: str, operation: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionLimitError) as info:
        run("={{ " + source + " }}")
    assert info.value.code == "EXPRESSION_LIMIT"
    assert "too large" in info.value.message and operation in info.value.message, info.value.message
    assert time.monotonic() - started < BUDGET.max_seconds + 2


def test_an_object_in_template_text_is_written_within_the_budget() -> None:
    with pytest.raises(ExpressionLimitError, match=r"too large in JSON\.stringify"):
        run("=x{{ {a: Array(1000).fill('a'.repeat(1e7))} }}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'\\ufdfa'.repeat(1000).normalize('NFKD').length", 18_000),
        ("'e\\u0301'.repeat(3e6).normalize('NFC').length", 3_000_000),
        ("encodeURIComponent('\\u00e9'.repeat(1e6)).length", 6_000_000),
        ("'\\u00df'.repeat(3e6).toUpperCase().length", 6_000_000),
        ("'\\u00e9'.repeat(3e6).base64Encode().length", 8_000_000),
        ("JSON.stringify(Array(900).fill('a'.repeat(1e4))).length", 900 * 10_002 + 901),
        ("'a'.repeat(2e6).replaceAll('a'.repeat(1000), '$&$&').length", 4_000_000),
        ("'a'.repeat(3e6).quote('|').length", 3_000_002),
        ("numberList(1, 1000).reduce((a, i) => a + i + ',', '').length", 3893),
    ],
)
def test_results_within_the_budget_are_still_built(source: str, expected: int) -> None:
    assert run("={{ " + source + " }}") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'<'.repeat(1e6).removeTags()", ""),
        ("('<b>x</b>'.repeat(1e5) + '<'.repeat(1e6)).removeTags().length", 100_000),
        ("'a'.repeat(1e6).extractEmail()", None),
        ("('a.'.repeat(5e5) + '@').extractEmail()", None),
        ("('a'.repeat(1e6) + '@b.co').extractEmail().length", 1_000_005),
        ("'http'.repeat(5e5).extractUrl()", None),
        ("'a-'.repeat(5e5).isDomain()", False),
        ("new Date('('.repeat(1e6)).getTime() > 0", False),
    ],
)
def test_string_extensions_take_linear_time(source: str, expected: object) -> None:
    """removeTags, extractEmail and Date's zone-name stripping rescanned the rest of the text from every
    ``<``, name character or ``(``; the others were linear already and stay so."""
    started = time.monotonic()
    result = run("={{ " + source + " }}")
    assert (None if result is None or type(result).__name__ == "_Undefined" else result) == expected
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "source",
    [
        "'a'.repeat(3e6).split('a')",
        "'a'.repeat(1e7).matchAll(/a/g)",
        "'a '.repeat(4e6).toTitleCase()",
        "'aA'.repeat(4e6).toKebabCase()",
        "[numberList(1, 40).reduce(a => [a, a], [1])].unique()",
        "numberList(1, 40).reduce(a => ({a, b: a}), {}).compact()",
        "Object.fromEntries(numberList(1, 1000).map(i => ['k' + i, 'a'.repeat(1e7)])).urlEncode()",
        "numberList(1, 1000).map(() => 'a'.repeat(1e7))",
        "numberList(1, 2000).reduce(a => a + 'x'.repeat(9000), '')",
    ],
)
def test_per_element_work_is_bounded(source: str) -> None:
    """Results with millions of elements, or conversions that walk shared references, stop at a budget
    (``matchAll`` stopped at the regex deadline already, holding millions of matches until then)."""
    started = time.monotonic()
    with pytest.raises(ExpressionLimitError):
        run("={{ " + source + " }}")
    assert time.monotonic() - started < BUDGET.max_seconds + 2
