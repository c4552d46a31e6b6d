"""Schedule Trigger rules against n8n's semantics: the cron each interval becomes, the recurrence filter,
ticks in time zones and across daylight saving, and the due tick after missed ones.

Expected values are n8n's: the stable values and week numbers were computed with n8n's own algorithm in
Node (``crypto``'s sha256, moment-timezone's ``week()``), and the tick sequences with the ``cron`` 4.x
library n8n schedules with (``CronTime.getNextDateFrom``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tenantflow.triggers.rules import (
    Recurrence,
    ScheduleError,
    ScheduleRule,
    moment_week,
    schedule_rules,
    stable_int,
    workflow_zone,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rules(parameters: dict[str, Any], type_version: float = 1.3) -> list[ScheduleRule]:
    """The rules of node ``node-1`` of workflow ``wf-1``: stable second 50, minute 56, hour 22, day 15."""
    return schedule_rules(parameters, workflow_id="wf-1", node_id="node-1", type_version=type_version)


def one(interval: dict[str, Any], type_version: float = 1.3) -> ScheduleRule:
    [rule] = rules({"rule": {"interval": [interval]}}, type_version)
    return rule


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ("wf-1:node-1", (50, 56, 22, 15)),
        ("wf-2:node-9", (11, 54, 12, 27)),
        ("workflow:node", (59, 20, 17, 19)),
    ],
)
def test_stable_values_are_n8ns(seed: str, expected: tuple[int, int, int, int]) -> None:
    found = (
        stable_int(seed, "second", 0, 60),
        stable_int(seed, "minute", 0, 60),
        stable_int(seed, "hour", 0, 24),
        stable_int(seed, "dayOfMonth", 1, 29),
    )
    assert found == expected


@pytest.mark.parametrize(
    ("interval", "cron", "recurrence"),
    [
        ({"field": "seconds", "secondsInterval": 30}, "*/30 * * * * *", None),
        ({"field": "seconds"}, "*/30 * * * * *", None),  # the node's default interval
        ({"field": "minutes", "minutesInterval": 5}, "50 */5 * * * *", None),
        ({"field": "hours"}, "50 0 */1 * * *", None),
        ({"field": "hours", "hoursInterval": 6, "triggerAtMinute": 15}, "50 15 */6 * * *", ("hours", 6)),
        ({"field": "hours", "hoursInterval": 5}, "50 0 * * * *", ("hours", 5)),  # 5 does not divide 24
        ({}, "50 0 0 * * *", None),  # days, at midnight: n8n's defaults
        (
            {"field": "days", "daysInterval": 3, "triggerAtHour": 9, "triggerAtMinute": 30},
            "50 30 9 * * *",
            ("days", 3),
        ),
        ({"field": "weeks"}, "50 0 0 * * 0", None),  # Sundays
        ({"field": "weeks", "triggerAtDay": [1, 3, 5], "triggerAtHour": 8}, "50 0 8 * * 1,3,5", None),
        ({"field": "weeks", "weeksInterval": 2, "triggerAtDay": []}, "50 0 0 * * *", ("weeks", 2)),
        ({"field": "months"}, "50 0 0 1 */1 *", None),
        ({"field": "months", "monthsInterval": 3}, "50 0 0 1 */3 *", ("months", 3)),
        ({"field": "months", "monthsInterval": 5, "triggerAtDayOfMonth": 31}, "50 0 0 31 * *", ("months", 5)),
        (
            {"field": "months", "triggerAtMinute": None, "triggerAtHour": None, "triggerAtDayOfMonth": None},
            "50 56 22 15 */1 *",
            None,
        ),
        ({"field": "cronExpression", "expression": " 0 15  * 1 sun "}, "0 15 * 1 sun", None),
        ({"field": "cronExpression", "expression": "=*/5 * * * * *"}, "*/5 * * * * *", None),
        ({"field": "minutes", "minutesInterval": "=10"}, "50 */10 * * * *", None),
    ],
)
def test_intervals_become_n8ns_cron(
    interval: dict[str, Any], cron: str, recurrence: tuple[str, int] | None
) -> None:
    rule = one(interval)
    assert rule.cron == cron
    assert rule.recurrence == (None if recurrence is None else Recurrence(*recurrence))  # type: ignore[arg-type]


def test_missing_and_empty_rules() -> None:
    [default] = rules({})  # n8n's default rule: every day at midnight
    assert (default.field, default.cron) == ("days", "50 0 0 * * *")
    assert rules({"rule": {}}) == []
    assert rules({"rule": {"interval": []}}) == []
    both = rules({"rule": {"interval": [{"field": "seconds", "secondsInterval": 10}, {"field": "hours"}]}})
    assert [(rule.index, rule.cron) for rule in both] == [(0, "*/10 * * * * *"), (1, "50 0 */1 * * *")]


@pytest.mark.parametrize(
    ("interval", "type_version", "message"),
    [
        ({"field": "seconds", "secondsInterval": 60}, 1.3, "seconds must be in range 1-59"),
        ({"field": "hours", "hoursInterval": 24}, 1.3, "hours must be in range 1-23"),
        ({"field": "days", "daysInterval": 32}, 1.3, "days must be in range 1-31"),
        ({"field": "hours", "hoursInterval": 0}, 1, "hours must be in range 1-23"),
        ({"field": "fortnights"}, 1.3, "is not one of"),
        (
            {"field": "cronExpression", "expression": "={{ $json.cron }}"},
            1.3,
            "expressions are not evaluated",
        ),
        ({"field": "cronExpression", "expression": "61 * * * *"}, 1.3, "invalid cron expression"),
        ({"field": "cronExpression"}, 1.3, "invalid cron expression"),
        ({"field": "minutes", "minutesInterval": 2.5}, 1.3, "must be a whole number"),
        ({"field": "minutes", "minutesInterval": True}, 1.3, "must be a whole number"),
        ({"field": "weeks", "triggerAtDay": "monday"}, 1.3, "must be a list of weekdays"),
        ({"field": "weeks", "triggerAtDay": [9]}, 1.3, "makes no valid schedule"),
    ],
)
def test_intervals_n8n_would_not_activate(
    interval: dict[str, Any], type_version: float, message: str
) -> None:
    with pytest.raises(ScheduleError, match=message):
        one(interval, type_version)


def test_older_versions_take_intervals_1_3_refuses() -> None:
    assert one({"field": "seconds", "secondsInterval": 90}, type_version=1.2).cron == "*/90 * * * * *"
    for bad in ({"rule": {"interval": "daily"}}, {"rule": {"interval": ["daily"]}}):
        with pytest.raises(ScheduleError):
            rules(bad)


def test_time_zones() -> None:
    assert workflow_zone({}) == ZoneInfo("UTC")
    assert workflow_zone({"timezone": "DEFAULT"}) == ZoneInfo("UTC")
    assert workflow_zone({"timezone": "Asia/Tokyo"}) == ZoneInfo("Asia/Tokyo")
    for bad in ("Mars/Olympus", 7, "../etc/passwd"):
        with pytest.raises(ScheduleError):
            workflow_zone({"timezone": bad})


# (cron, zone, start, the next ticks n8n's cron library gives, UTC)
SEQUENCES = [
    # spring forward: 02:30 does not exist on 29 March, so it fires right after the gap (03:00 CEST)
    ("0 30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00", ["2026-03-29T01:00:00", "2026-03-30T00:30:00"]),
    # fall back: 02:30 happens twice on 25 October; a fixed time fires the first time only
    ("0 30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00", ["2026-10-25T00:30:00", "2026-10-26T01:30:00"]),
    # a step keeps its real-time rhythm through the repeated hour…
    (
        "0 */30 * * * *",
        "Europe/Berlin",
        "2026-10-24T23:50:00",
        ["2026-10-25T00:00:00", "2026-10-25T00:30:00", "2026-10-25T01:00:00", "2026-10-25T01:30:00"],
    ),
    # …and through the gap
    (
        "0 */30 * * * *",
        "Europe/Berlin",
        "2026-03-29T00:10:00",
        ["2026-03-29T00:30:00", "2026-03-29T01:00:00"],
    ),
    (
        "0 0 9 * * 1-5",
        "America/New_York",
        "2026-07-03T14:00:00",
        ["2026-07-06T13:00:00", "2026-07-07T13:00:00"],
    ),
    ("50 0 0 1 */3 *", "UTC", "2026-01-15T00:00:00", ["2026-04-01T00:00:50", "2026-07-01T00:00:50"]),
    ("0 15 * 1 sun", "UTC", "2026-01-01T00:00:00", ["2026-01-04T15:00:00", "2026-01-11T15:00:00"]),
    ("*/30 * * * * *", "Asia/Kolkata", "2026-01-01T00:00:10", ["2026-01-01T00:00:30", "2026-01-01T00:01:00"]),
    ("0 0 0 31 * *", "UTC", "2026-01-31T00:00:01", ["2026-03-31T00:00:00", "2026-05-31T00:00:00"]),
    (
        "0 0 0 13 * 5",
        "UTC",
        "2026-01-01T00:00:00",
        ["2026-01-02T00:00:00", "2026-01-09T00:00:00", "2026-01-13T00:00:00"],
    ),
]


@pytest.mark.parametrize(("cron", "zone", "start", "expected"), SEQUENCES)
def test_ticks_follow_n8ns_cron_library(cron: str, zone: str, start: str, expected: list[str]) -> None:
    """Each tick is due exactly at its moment, once (from the previous one as the floor), and not before."""
    rule = one({"field": "cronExpression", "expression": cron})
    local = ZoneInfo(zone)
    floor = utc(start)
    for text in expected:
        moment = utc(text)
        assert rule.due(local, now=moment - timedelta(seconds=1), floor=floor, last_fired=None) is None
        assert (
            rule.due(local, now=moment + timedelta(milliseconds=400), floor=floor, last_fired=None) == moment
        )
        floor = moment


def test_after_gives_the_next_candidate() -> None:
    rule = one({"field": "cronExpression", "expression": "*/1 * * * * *"})
    zone = ZoneInfo("UTC")
    assert rule.after(utc("2026-01-01T00:00:00.250000"), zone) == utc("2026-01-01T00:00:01")
    assert rule.after(utc("2026-01-01T00:00:01"), zone) == utc("2026-01-01T00:00:02")


def test_missed_ticks_come_due_once_the_newest() -> None:
    every_minute = one({"field": "cronExpression", "expression": "0 * * * * *"})
    zone = ZoneInfo("UTC")
    floor = utc("2026-01-01T09:00:00")
    assert every_minute.due(zone, now=utc("2026-01-01T11:59:59"), floor=floor, last_fired=floor) == utc(
        "2026-01-01T11:59:00"
    )
    # the tick the floor is on has fired: nothing is due until the next one
    assert every_minute.due(zone, now=utc("2026-01-01T09:00:59"), floor=floor, last_fired=floor) is None


def test_a_fixed_time_in_a_repeated_hour_fires_once_even_when_missed() -> None:
    rule = one({"field": "cronExpression", "expression": "0 30 2 * * *"})
    berlin = ZoneInfo("Europe/Berlin")
    second_pass = utc("2026-10-25T01:45:00")  # 02:45 CET, after the second 02:30
    assert rule.due(berlin, now=second_pass, floor=utc("2026-10-25T00:30:00"), last_fired=None) is None
    assert rule.due(berlin, now=second_pass, floor=utc("2026-10-24T00:30:00"), last_fired=None) == utc(
        "2026-10-25T00:30:00"
    )


# (interval, zone, last fired, now, due) for the recurrence filter (n8n's recurrenceCheck)
RECURRENCES = [
    # every 5 hours: the cron fires hourly and the filter waits for 5 hours of the clock
    ({"field": "hours", "hoursInterval": 5}, "UTC", "2026-01-01T10:00:50", "2026-01-01T14:10:00", None),
    (
        {"field": "hours", "hoursInterval": 5},
        "UTC",
        "2026-01-01T10:00:50",
        "2026-01-01T15:10:00",
        "2026-01-01T15:00:50",
    ),
    # every 2 days at 06:00 in Tokyo, over the new year (day of year modulo 365)
    (
        {"field": "days", "daysInterval": 2, "triggerAtHour": 6},
        "Asia/Tokyo",
        "2025-12-30T21:00:50",
        "2026-01-01T22:00:00",
        "2026-01-01T21:00:50",
    ),
    (
        {"field": "days", "daysInterval": 2, "triggerAtHour": 6},
        "Asia/Tokyo",
        "2025-12-31T21:00:50",
        "2026-01-01T22:00:00",
        None,
    ),
    # every 2 weeks on Mondays: moment's weeks (Sunday first; 5 January 2026 is in week 2)
    (
        {"field": "weeks", "weeksInterval": 2, "triggerAtDay": [1], "triggerAtHour": 8},
        "UTC",
        "2026-01-05T08:00:50",
        "2026-01-13T12:00:00",
        None,
    ),
    (
        {"field": "weeks", "weeksInterval": 2, "triggerAtDay": [1], "triggerAtHour": 8},
        "UTC",
        "2026-01-05T08:00:50",
        "2026-01-20T12:00:00",
        "2026-01-19T08:00:50",
    ),
    # several days of the week that fired already fire again within the same week
    (
        {"field": "weeks", "weeksInterval": 2, "triggerAtDay": [1, 3], "triggerAtHour": 8},
        "UTC",
        "2026-01-05T08:00:50",
        "2026-01-08T12:00:00",
        "2026-01-07T08:00:50",
    ),
    # every 5 months (monthly cron, counted in absolute months)
    ({"field": "months", "monthsInterval": 5}, "UTC", "2026-01-01T00:00:50", "2026-05-15T00:00:00", None),
    (
        {"field": "months", "monthsInterval": 5},
        "UTC",
        "2026-01-01T00:00:50",
        "2026-06-15T00:00:00",
        "2026-06-01T00:00:50",
    ),
    # the first firing has nothing to wait for
    ({"field": "months", "monthsInterval": 5}, "UTC", None, "2026-05-15T00:00:00", "2026-05-01T00:00:50"),
]


@pytest.mark.parametrize(("interval", "zone", "last", "now", "due"), RECURRENCES)
def test_recurrence_filter(
    interval: dict[str, Any], zone: str, last: str | None, now: str, due: str | None
) -> None:
    rule = one(interval)
    last_fired = None if last is None else utc(last)
    floor = last_fired or utc("2025-12-01T00:00:00")
    found = rule.due(ZoneInfo(zone), now=utc(now), floor=floor, last_fired=last_fired)
    assert found == (None if due is None else utc(due))


@pytest.mark.parametrize(
    ("day", "week"),
    [
        ("2026-01-01", 1),
        ("2025-12-28", 1),
        ("2026-01-04", 2),
        ("2026-12-26", 52),
        ("2026-12-27", 1),
        ("2027-01-02", 1),
        ("2024-12-29", 1),
        ("2021-01-01", 1),
        ("2021-01-03", 2),
        ("2022-12-31", 53),
        ("2023-01-01", 1),
    ],
)
def test_week_numbers_are_moments(day: str, week: int) -> None:
    assert moment_week(date.fromisoformat(day)) == week


def test_fixed_time_is_told_from_wildcards() -> None:
    assert one({"field": "days"}).fixed_time
    assert not one({"field": "hours"}).fixed_time
    assert not one({"field": "cronExpression", "expression": "0 */30 * * * *"}).fixed_time
    assert one({"field": "cronExpression", "expression": "30 2 * * *"}).fixed_time
    assert not one({"field": "cronExpression", "expression": "@daily"}).fixed_time
