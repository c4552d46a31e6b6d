"""Result sizes of native string operations, told before the result is built.

A transformation that can lengthen its input (case mappings, Unicode normalisation, percent-encoding) is
run directly when even its worst case fits the string budget; otherwise the input is measured chunk by
chunk first, stopping as soon as the running total is over, so one step never allocates more than the
budget plus one chunk's expansion.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Literal

from .runtime import Context

_CHUNK = 1 << 18  # characters measured at a time: its worst expansion (x18) stays a few megabytes

CASE_GROWTH = 3  # the longest full case mapping (e.g. 'ΐ'.upper() is three characters)
URI_GROWTH = 12  # one code point is up to four UTF-8 bytes, each written as %XX
# Unicode's bound on how many code points one normalises to (UAX #15, "Stream-Safe Text Format")
NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
NORMAL_GROWTH: dict[NormalForm, int] = {"NFC": 3, "NFD": 4, "NFKC": 18, "NFKD": 18}


def measure(
    ctx: Context, text: str, transform: Callable[[str], str], growth: int, operation: str, used: int = 0
) -> None:
    """Refuse ``operation`` before it runs if ``transform(text)``, after ``used`` characters already
    committed to the same result, would be over the budget. ``transform`` maps characters independently
    (its length is the sum of its chunks'), or nearly: a word or a combining sequence cut at a chunk
    boundary puts the measure off by a character or two, which the check of the result catches."""
    if len(text) * growth + used <= ctx.limits.max_string_length:
        return
    total = used
    for start in range(0, len(text), _CHUNK):
        total += len(transform(text[start : start + _CHUNK]))
        ctx.check_length(total, operation)


def bounded(ctx: Context, text: str, transform: Callable[[str], str], growth: int, operation: str) -> str:
    """``transform(text)``, refused first when its result would be over the budget (see :func:`measure`)."""
    measure(ctx, text, transform, growth, operation)
    result = transform(text)
    ctx.check_string(len(result), operation)
    return result


def utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (lone surrogates as one replacement byte), counted a chunk at a time."""
    if text.isascii():
        return len(text)
    return sum(
        len(text[start : start + _CHUNK].encode("utf-8", errors="replace"))
        for start in range(0, len(text), _CHUNK)
    )


def normalize(ctx: Context, text: str, form: NormalForm, operation: str = "normalize") -> str:
    """``String.prototype.normalize``: up to 18 times as long (NFKD of U+FDFA), so measured first."""

    def transform(chunk: str) -> str:
        return unicodedata.normalize(form, chunk)

    return bounded(ctx, text, transform, NORMAL_GROWTH[form], operation)
