"""The record's timestamps: :func:`iso` formats UTC moments by hand, and must write what
``datetime.isoformat`` would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from tenantflow.engine.record import iso


def _reference(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_moment_reads_as_isoformat_writes_it(moment: datetime) -> None:
    assert iso(moment) == _reference(moment)


@given(
    st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.builds(
                timezone, st.integers(-23 * 60, 23 * 60).map(lambda minutes: timedelta(minutes=minutes))
            ),
        )
    )
)
def test_other_moments_keep_their_offset(moment: datetime) -> None:
    assert iso(moment) == _reference(moment)


def test_edges() -> None:
    assert iso(None) is None
    assert iso(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"
    assert iso(datetime(2026, 12, 7, 16, 5, 9, 999_999, tzinfo=UTC)) == "2026-12-07T16:05:09.999Z"
    assert iso(datetime(2026, 12, 7, 16, 5, 9, 1_000, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-12-07T16:05:09.001+02:00"
    )
