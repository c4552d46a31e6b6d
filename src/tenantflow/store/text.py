"""What a backend cannot store. NUL characters: legal in JSON and Python strings, refused by PostgreSQL in
text and JSONB; likewise non-finite numbers, and nesting too deep to serialise.

User-authored input (workflow documents, filters) that contains one is refused with the JSON path of the
first offender, on every backend alike. Data the system records on a user's behalf (node outputs, logs,
errors: an HTTP response may well carry a NUL) is kept instead, with each NUL replaced by U+FFFD, by the
JSON serializer every engine uses, so no execution fails to save over one character.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import orjson

from tenantflow.engine.definition import extend
from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import InvalidRequestError

NUL = "\x00"
MAX_DEPTH = 64  # nesting a workflow document or filter may have
REPLACEMENT = "\ufffd"
_ESCAPED_NUL = "\\u0000"  # how JSON writers write a NUL (JSON escapes every control character)
_COMPACT = (",", ":")
_DEFAULT_FOR_ALL = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_ISOFORMAT_DATETIMES = orjson.OPT_PASSTHROUGH_DATACLASS


def checked_text(value: Any, limit: int, path: str) -> str:
    """A non-blank string that fits a ``limit``-character column, refused here rather than by the driver
    (SQLite would store anything, PostgreSQL fails on length and NUL)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit or NUL in value:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, f"expected 1-{limit} characters, not blank, no NUL", path=path
        )
    return value


def unstorable(value: Any, path: str = "$", depth: int = 0) -> tuple[str, str] | None:
    """The JSON path of the first thing no backend can store, and why: a NUL in a string (key or value),
    a number that is not finite (``1e400``, NaN: JSON has none, PostgreSQL's JSONB refuses them), or
    nesting deeper than :data:`MAX_DEPTH` (serialising it would exhaust the stack)."""
    if isinstance(value, str):
        return (path, "text may not contain NUL characters") if NUL in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "numbers must be finite")
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return path, f"nesting deeper than {MAX_DEPTH} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return path, "keys may not contain NUL characters"
            found = unstorable(item, extend(path, key), depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable(item, extend(path, index), depth + 1)
            if found is not None:
                return found
    return None


def scrubbed(value: Any) -> Any:
    """``value`` with every NUL in its strings (keys included) replaced by U+FFFD and every non-finite
    number by null (as JavaScript's JSON.stringify writes NaN and Infinity)."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {scrubbed(key): scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value


def dumps(
    value: Any, default: Callable[[Any], Any] | None = None, *, isoformat_datetimes: bool = False
) -> str:
    """The engines' JSON serializer: compact text with every NUL replaced and every non-finite number
    written as null (:func:`scrubbed`). ``default`` converts what JSON has no type for, as ``json.dumps``
    calls it (datetimes and dataclasses included: orjson's own forms are not used), except that with
    ``isoformat_datetimes`` orjson writes each datetime itself, as ``datetime.isoformat()`` would (offsets
    to the minute), ten times faster than a call of ``default`` (the stores' row documents carry a dozen a
    run).

    orjson writes it: 10-20 times faster than ``json.dumps`` on execution records, a measurable share of
    every stored run. What orjson refuses (integers beyond 64 bits, keys that are not strings, lone
    surrogates) the standard library writes, so every value that could be stored before still is.

    The NUL check is a substring search of text already produced; an escaped backslash followed by
    ``u0000`` can match it too, which only costs one needless (and harmless) scrub.
    """
    option = _ISOFORMAT_DATETIMES if isoformat_datetimes else _DEFAULT_FOR_ALL
    try:
        text = orjson.dumps(value, default=default, option=option).decode()
    except TypeError:  # orjson.JSONEncodeError
        return _standard_dumps(value, default)
    if _ESCAPED_NUL in text:
        text = _standard_dumps(scrubbed(value), default)
    return text


def compact(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """JSON text as :func:`dumps` writes it, NULs kept (progress events carry data as it was): orjson's,
    non-finite numbers as null; what orjson refuses, the standard library's."""
    try:
        return orjson.dumps(value, default=default, option=_DEFAULT_FOR_ALL).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, default=default, separators=_COMPACT)


def _standard_dumps(value: Any, default: Callable[[Any], Any] | None) -> str:
    try:
        text = json.dumps(value, allow_nan=False, default=default, separators=_COMPACT)
    except ValueError:  # NaN or Infinity in recorded data: stored as null, never a failed save
        return json.dumps(scrubbed(value), default=default, separators=_COMPACT)
    if _ESCAPED_NUL in text:
        text = json.dumps(scrubbed(value), default=default, separators=_COMPACT)
    return text
