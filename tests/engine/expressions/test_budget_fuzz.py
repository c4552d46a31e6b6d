"""Fuzzing the native methods with adversarial sizes: no way past the string, array, step and time budgets.

Strings of characters that grow under some operation (U+FDFA is 18 code points in NFKD, 'ß' upper-cases to
two, 'İ' lower-cases to two, non-ASCII percent-encodes to 6-12) are repeated up to past the string budget,
shared many times in arrays, and handed to every native method that builds a string or an array. With a
small budget, whatever an evaluation does must end in a result inside the budget or an EXPRESSION_LIMIT
(never the address-space cap's MemoryError), and allocate at most a small multiple of the budget.
"""

from __future__ import annotations

import json
import time
import tracemalloc

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tenantflow.engine.expressions import (
    ExpressionError,
    ExpressionLimitError,
    ExpressionLimits,
    resolve_value,
)

from ..memory_cap import address_space_cap

CAP = 20_000  # characters in one string
LIMITS = ExpressionLimits(max_string_length=CAP, max_array_length=5_000, max_steps=100_000, max_seconds=0.5)
PEAK = 200 * CAP  # bytes an evaluation may allocate at its peak (a few strings of the budget and a chunk)

GROWING = [
    "\\ufdfa",
    "\\u00df",
    "\\u0130",
    "\\u00e9",
    "e\\u0301",
    "a",
    "<",
    "@",
    "$`",
    "$'",
    "%",
    '\\"',
    "\\n",
]

# {s} is the subject string, {t} a second string, {n} a count; each builds a string or an array.
METHODS = [
    "{s}.repeat({n})",
    "{s}.padStart({n}, {t})",
    "{s}.padEnd({n}, {t})",
    "{s}.normalize('NFKD')",
    "{s}.normalize('NFKC')",
    "{s}.normalize('NFD')",
    "{s}.normalize()",
    "{s}.toUpperCase()",
    "{s}.toLowerCase()",
    "{s}.toLocaleUpperCase()",
    "{s}.concat({t}, {s})",
    "{s}.replace({t}, {s})",
    "{s}.replaceAll({t}, {s})",
    "{s}.replace(/./g, {t})",
    "{s}.replaceAll({t}, '$`$&$\\'')",
    "{s}.split({t})",
    "{s}.split('')",
    "{s}.match(/./g)",
    "{s}.matchAll(/./g)",
    "encodeURIComponent({s})",
    "encodeURI({s})",
    "{s}.urlEncode()",
    "{s}.base64Encode()",
    "{s}.quote({t})",
    "{s}.toTitleCase()",
    "{s}.toSentenceCase()",
    "{s}.toSnakeCase()",
    "{s}.toKebabCase()",
    "{s}.toCamelCase()",
    "{s}.replaceSpecialChars()",
    "{s}.removeTags()",
    "{s}.extractEmail()",
    "$utils.uppercase({s})",
    "$utils.replace({s}, {t}, {s})",
    "$utils.split({s}, {t})",
    "Array({n}).fill({s}).join({t})",
    "Array({n}).fill({s}).toString()",
    "JSON.stringify(Array({n}).fill({s}))",
    "JSON.stringify({{a: Array({n}).fill({s})}}, null, 4)",
    "Array({n}).fill({s}).toJsonString()",
    "[Array({n}).fill({s})].unique()",
    "({{a: {s}, b: {s}}}).urlEncode()",
    "String(Array({n}).fill({s}))",
    "`${{{s}}}${{{s}}}${{{t}}}`",
    "{s} + {s} + {t}",
    "Array({n}).fill({s})",
]


def text(unit: str, count: int) -> str:
    return f"'{unit}'.repeat({count})"


@st.composite
def expressions(draw: st.DrawFn) -> str:
    method = draw(st.sampled_from(METHODS))
    subject = text(draw(st.sampled_from(GROWING)), draw(st.sampled_from([1, 7, CAP // 20, CAP // 2, CAP])))
    other = text(draw(st.sampled_from(GROWING)), draw(st.sampled_from([0, 1, 3, CAP // 10])))
    count = draw(st.sampled_from([0, 2, 50, 1_000, 4_999, CAP, 10 * CAP]))
    return "={{ " + method.format(s=subject, t=other, n=count) + " }}"


def size(value: object) -> int:
    """Characters the result holds, each shared reference counted."""
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions())
@example("={{ String(Array(4999).fill('a'.repeat(1000))) }}")  # found by this test: built, then checked
def test_no_native_method_gets_past_the_budgets(source: str) -> None:
    started = time.monotonic()
    tracemalloc.start()
    try:
        with address_space_cap(512 * 1024 * 1024):
            try:
                result = resolve_value(source, {}, LIMITS)
            except ExpressionLimitError as exc:
                assert "out of memory" not in exc.message, exc.message  # the budget, not the cap, stopped it
                result = None
            except ExpressionError:
                result = None  # a JS error (TypeError, RangeError): fine
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK, f"peak {peak} bytes"
    if isinstance(result, str):
        assert len(result) <= CAP
    elif result is not None:
        assert size(result) <= 10 * CAP * 10  # a parameter: ten strings' worth (RESULT_CHARS)
    assert time.monotonic() - started < LIMITS.max_seconds + 2
