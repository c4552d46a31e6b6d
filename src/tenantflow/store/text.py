"""NUL characters: legal in JSON and Python strings, refused by PostgreSQL in text and JSONB.

User-authored input (workflow documents, filters) that contains one is refused with the JSON path of the
first offender, on every backend alike. Data the system records on a user's behalf (node outputs, logs,
errors: an HTTP response may well carry a NUL) is kept instead, with each NUL replaced by U+FFFD, by the
JSON serializer every engine uses, so no execution fails to save over one character.
"""

from __future__ import annotations

import json
from typing import Any

from tenantflow.engine.definition import extend
from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import InvalidRequestError

NUL = "\x00"
REPLACEMENT = "\ufffd"
_ESCAPED_NUL = "\\u0000"  # how json.dumps writes a NUL (JSON escapes every control character)


def checked_text(value: Any, limit: int, path: str) -> str:
    """A non-blank string that fits a ``limit``-character column, refused here rather than by the driver
    (SQLite would store anything, PostgreSQL fails on length and NUL)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit or NUL in value:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, f"expected 1-{limit} characters, not blank, no NUL", path=path
        )
    return value


def nul_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (key or value) containing a NUL, or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return path
            found = nul_path(item, extend(path, key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_path(item, extend(path, index))
            if found is not None:
                return found
    return None


def scrubbed(value: Any) -> Any:
    """``value`` with every NUL in its strings (keys included) replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {scrubbed(key): scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """The engines' JSON serializer: plain ``json.dumps`` unless the text would carry a NUL.

    The check is a substring search of text already produced; an escaped backslash followed by
    ``u0000`` can match it too, which only costs one needless (and harmless) scrub.
    """
    text = json.dumps(value)
    if _ESCAPED_NUL in text:
        text = json.dumps(scrubbed(value))
    return text
