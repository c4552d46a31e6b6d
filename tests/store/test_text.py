"""The stores' JSON serializer: datetimes written by orjson (``isoformat_datetimes``) read as those the
``default`` hook writes, NULs and non-finite numbers handled alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tenantflow.store.text import dumps


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


_OFFSETS = st.one_of(
    st.none(),
    st.just(UTC),
    st.builds(timezone, st.integers(-23 * 60, 23 * 60).map(lambda minutes: timedelta(minutes=minutes))),
)


@given(st.lists(st.datetimes(timezones=_OFFSETS), max_size=5))
def test_orjson_writes_datetimes_as_isoformat_does(moments: list[datetime]) -> None:
    rows = [{"at": moment, "note": "a\x00b", "ratio": float("nan")} for moment in moments]
    assert dumps(rows, default=_isoformat, isoformat_datetimes=True) == dumps(rows, default=_isoformat)


def test_what_orjson_refuses_still_takes_the_hook() -> None:
    moment = datetime(2026, 12, 7, 16, 5, 9, tzinfo=UTC)
    row = {"at": moment, "big": 2**70}
    assert dumps([row], default=_isoformat, isoformat_datetimes=True) == (
        '[{"at":"2026-12-07T16:05:09+00:00","big":1180591620717411303424}]'
    )
