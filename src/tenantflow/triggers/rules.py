"""When a Schedule Trigger fires: n8n's rules (``rule.interval[]``) as cron expressions, and their ticks.

Each interval becomes one cron expression with seconds (n8n's ``toCronExpression``), plus for intervals the
cron cannot space evenly a recurrence filter (its ``recurrenceCheck``) that drops ticks until enough hours,
days, weeks or months have passed since the rule last fired:

============== ===================================== ===============================================
field          cron (second minute hour day month    recurrence filter (N = the interval)
               weekday)
============== ===================================== ===============================================
seconds        ``*/N * * * * *``                     none
minutes        ``S */N * * * *``                     none
hours          ``S M */N * * *``; ``S M * * * *``     hour-of-day difference mod 24 ≥ N, when N ≠ 1
               when N does not divide 24
days           ``S M H * * *``                       day-of-year difference mod 365 ≥ N, when N ≠ 1
weeks          ``S M H * * D,D…`` (``*``: no days)    week difference mod 52 ≥ N or the same week,
                                                     when N ≠ 1
months         ``S M H DoM */N *``; ``S M H DoM * *`` month count difference ≥ N, when N ≠ 1
               when N does not divide 12
cronExpression as written (five fields, or six with      none
               seconds first)
============== ===================================== ===============================================

``M``, ``H``, ``DoM`` and the weekdays are ``triggerAtMinute``/``Hour``/``DayOfMonth``/``Day``, filled with
the node's defaults when absent (0, 0, 1, Sunday), as n8n fills them when it loads a workflow; one set to
null takes n8n's stable value from the workflow and node ids instead, and ``S`` always does (a second
spread over the minute, the same in every process). Ticks are computed with croniter in the workflow's
time zone. Daylight saving follows cron's convention: a fixed time that a spring-forward gap skips fires
right after the gap, a fixed time in a fall-back repeat fires once (the first time), and a rule with a
wildcard or step in its minute or hour keeps its real-time rhythm through both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

FIELDS: Final = ("seconds", "minutes", "hours", "days", "weeks", "months", "cronExpression")
Unit = Literal["hours", "days", "weeks", "months"]
DEFAULTS: Final[Mapping[str, Any]] = {
    "field": "days",
    "secondsInterval": 30,
    "minutesInterval": 5,
    "hoursInterval": 1,
    "daysInterval": 1,
    "weeksInterval": 1,
    "monthsInterval": 1,
    "triggerAtDayOfMonth": 1,
    "triggerAtDay": [0],
    "triggerAtHour": 0,
    "triggerAtMinute": 0,
    "expression": "",
}
DEFAULT_RULE: Final[Mapping[str, Any]] = {"interval": [{"field": "days"}]}
# n8n 1.3 refuses intervals outside these ranges when the workflow is activated.
CHECKED_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "seconds": (1, 59),
    "minutes": (1, 59),
    "hours": (1, 23),
    "days": (1, 31),
    "months": (1, 1_000_000),
}
_UNITS: Final[Mapping[str, Unit]] = {"hours": "hours", "days": "days", "weeks": "weeks", "months": "months"}
MAX_STEPS_BACK: Final = 2000  # candidate ticks looked at, newest first, for one due tick


class ScheduleError(ValueError):
    """A Schedule Trigger that n8n would refuse to activate: the scheduler leaves it out and says why."""


@dataclass(frozen=True, slots=True)
class Recurrence:
    """Fire only when ``size`` units have passed since the rule last fired (n8n's recurrence rule)."""

    unit: Unit
    size: int


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """One interval of a Schedule Trigger, ready to compute ticks with."""

    index: int
    field: str
    cron: str
    recurrence: Recurrence | None = None

    @property
    def fixed_time(self) -> bool:
        """A fixed minute and hour (no wildcard or step): fires once in a repeated fall-back hour."""
        fields = self.cron.split()
        if len(fields) < 5:
            return False  # a macro (@hourly, @daily …): croniter's own, kept to its real-time rhythm
        minute, hour = (fields[1], fields[2]) if len(fields) == 6 else (fields[0], fields[1])
        return not any(mark in part for part in (minute, hour) for mark in "*/")

    def after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first candidate tick after ``moment`` (UTC), before the recurrence filter."""
        found: datetime = _cron(self.cron, moment.astimezone(zone)).get_next(datetime)
        return found.astimezone(UTC)

    def due(
        self, zone: ZoneInfo, *, now: datetime, floor: datetime, last_fired: datetime | None
    ) -> datetime | None:
        """The newest tick in ``(floor, now]`` that the rule fires on, or None: however many ticks were
        missed since ``floor``, one is due. ``last_fired`` feeds the recurrence filter."""
        start = now.replace(microsecond=0) + timedelta(seconds=1)  # croniter's previous is exclusive
        ticks = _cron(self.cron, start.astimezone(zone))
        for _ in range(MAX_STEPS_BACK):
            candidate: datetime = ticks.get_prev(datetime)
            moment = candidate.astimezone(UTC)
            if moment <= floor:
                return None
            local = moment.astimezone(zone)
            if self.fixed_time and local.fold == 1:
                continue  # the repeat of a fall-back hour: a fixed time fired the first time round
            if self.recurrence is None or passes(self.recurrence, local, last_fired, zone):
                return moment
        return None


def schedule_rules(
    parameters: Mapping[str, Any], *, workflow_id: str, node_id: str, type_version: float = 1.3
) -> list[ScheduleRule]:
    """The rules of a Schedule Trigger node's parameters; ScheduleError for one n8n would not activate."""
    rule = parameters.get("rule", DEFAULT_RULE)
    intervals = rule.get("interval", []) if isinstance(rule, Mapping) else None
    if not isinstance(intervals, list):
        raise ScheduleError("rule.interval must be a list of intervals")
    seed = f"{workflow_id}:{node_id}"
    return [_rule(index, interval, seed, type_version) for index, interval in enumerate(intervals)]


def workflow_zone(settings: Mapping[str, Any] | None) -> ZoneInfo:
    """The workflow's time zone (``settings.timezone``); UTC when unset or n8n's ``DEFAULT``."""
    name = (settings or {}).get("timezone") or "UTC"
    if name == "DEFAULT":
        name = "UTC"
    if not isinstance(name, str):
        raise ScheduleError("settings.timezone must be the name of a time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r} in settings.timezone") from None


def passes(recurrence: Recurrence, local: datetime, last_fired: datetime | None, zone: ZoneInfo) -> bool:
    """n8n's recurrence check of a tick at ``local`` against the rule's last firing."""
    if last_fired is None:
        return True
    last = last_fired.astimezone(zone)
    size = recurrence.size
    if recurrence.unit == "hours":
        return (local.hour - last.hour + 24) % 24 >= size
    if recurrence.unit == "days":
        return (_day_of_year(local) - _day_of_year(last) + 365) % 365 >= size
    if recurrence.unit == "weeks":
        week, last_week = moment_week(local.date()), moment_week(last.date())
        return (week - last_week + 52) % 52 >= size or week == last_week
    return (local.year * 12 + local.month) - (last.year * 12 + last.month) >= size


def moment_week(day: date) -> int:
    """moment's ``week()`` in its default locale: weeks start on Sunday, and week 1 holds January 1st."""
    start = day - timedelta(days=(day.weekday() + 1) % 7)
    if (start + timedelta(days=6)).year > day.year:
        return 1
    first = date(day.year, 1, 1)
    first_start = first - timedelta(days=(first.weekday() + 1) % 7)
    return (start - first_start).days // 7 + 1


def stable_int(seed: str, label: str, low: int, high: int) -> int:
    """n8n's ``stableInt``: a value in ``[low, high)`` from the workflow and node ids, the same in every
    process, so schedulers agree on when a rule fires."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low)


def _rule(index: int, raw: Any, seed: str, type_version: float) -> ScheduleRule:
    if not isinstance(raw, Mapping):
        raise ScheduleError(f"rule.interval[{index}] must be an object")
    interval = {**DEFAULTS, **raw}
    field = _literal(interval["field"], index, "field")
    if field not in FIELDS:
        raise ScheduleError(f"rule.interval[{index}].field {field!r} is not one of {', '.join(FIELDS)}")
    if field == "cronExpression":
        expression = _literal(interval["expression"], index, "expression")
        if not isinstance(expression, str) or not croniter.is_valid(
            expression.strip(), second_at_beginning=True
        ):
            raise ScheduleError(f"rule.interval[{index}]: invalid cron expression {expression!r}")
        return ScheduleRule(index, field, " ".join(expression.split()))
    size = _number(interval[f"{field}Interval"], index, f"{field}Interval")
    low, high = CHECKED_RANGES.get(field, (1, 1_000_000))
    if size < 1 or (type_version >= 1.3 and not low <= size <= high):
        raise ScheduleError(f"rule.interval[{index}]: {field} must be in range {low}-{high}")
    cron, recurrence = _cron_of(field, size, interval, index, seed)
    if not croniter.is_valid(cron, second_at_beginning=True):
        raise ScheduleError(f"rule.interval[{index}]: the interval makes no valid schedule ({cron})")
    return ScheduleRule(index, field, cron, recurrence)


def _cron_of(
    field: str, size: int, interval: Mapping[str, Any], index: int, seed: str
) -> tuple[str, Recurrence | None]:
    if field == "seconds":
        return f"*/{size} * * * * *", None
    second = stable_int(seed, "second", 0, 60)
    if field == "minutes":
        return f"{second} */{size} * * * *", None
    minute = _at(interval, "triggerAtMinute", index, seed, "minute", range(60))
    recurrence = Recurrence(_UNITS[field], size) if size != 1 else None
    if field == "hours":
        hours = f"*/{size}" if 24 % size == 0 else "*"
        return f"{second} {minute} {hours} * * *", recurrence
    hour = _at(interval, "triggerAtHour", index, seed, "hour", range(24))
    if field == "days":
        return f"{second} {minute} {hour} * * *", recurrence
    if field == "weeks":
        days = interval["triggerAtDay"]
        if not isinstance(days, list):
            raise ScheduleError(f"rule.interval[{index}].triggerAtDay must be a list of weekdays")
        weekdays = ",".join(str(_number(day, index, "triggerAtDay")) for day in days) or "*"
        return f"{second} {minute} {hour} * * {weekdays}", recurrence
    day = _at(interval, "triggerAtDayOfMonth", index, seed, "dayOfMonth", range(1, 29))
    months = f"*/{size}" if 12 % size == 0 else "*"
    return f"{second} {minute} {hour} {day} {months} *", recurrence


def _at(interval: Mapping[str, Any], name: str, index: int, seed: str, label: str, span: range) -> int:
    """``triggerAt…``: the value given, or n8n's stable one in ``span`` when it is null."""
    value = interval[name]
    return stable_int(seed, label, span.start, span.stop) if value is None else _number(value, index, name)


def _literal(value: Any, index: int, name: str) -> Any:
    """A parameter's value; an expression is usable only when it is a fixed text (``=`` then no ``{{``)."""
    if isinstance(value, str) and value.startswith("="):
        if "{{" in value:
            raise ScheduleError(f"rule.interval[{index}].{name}: expressions are not evaluated in schedules")
        return value[1:]
    return value


def _number(value: Any, index: int, name: str) -> int:
    value = _literal(value, index, name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ScheduleError(f"rule.interval[{index}].{name} must be a whole number")
    return int(value)


def _day_of_year(moment: datetime) -> int:
    return moment.timetuple().tm_yday


def _cron(expression: str, start: datetime) -> croniter:
    return croniter(expression, start, second_at_beginning=True)
