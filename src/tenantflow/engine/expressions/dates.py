"""One date type serving both JS ``Date`` and a Luxon ``DateTime`` subset.

n8n exposes Luxon (``$now``, ``DateTime``) while plain JS uses ``Date``; workflows mix both, so a single value
class answers both method sets. ``luxon`` only changes how the value stringifies and coerces. JS ``Date``
getters (``getHours``...) are UTC getters: the server has no meaningful local zone.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ExpressionError
from .runtime import Builtin, Context, arg
from .values import NAN, UNDEFINED, JSValue, is_number, js_num, js_string, to_number

UTC = UTC
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 8.64e15
_MS = timedelta(milliseconds=1)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class JSDate(JSValue):
    """An instant (epoch milliseconds, NaN when invalid) plus the zone Luxon methods display it in."""

    __slots__ = ("luxon", "ms", "zone")

    def __init__(self, ms: float, zone: tzinfo = UTC, luxon: bool = False) -> None:
        valid = ms == ms and abs(ms) <= _MAX_MS
        self.ms: int | float = js_num(float(math.trunc(ms))) if valid else NAN
        self.zone = zone
        self.luxon = luxon

    def local(self) -> datetime | None:
        """Wall-clock datetime in ``zone``; None when invalid or outside Python's year range."""
        if self.ms != self.ms:
            return None
        try:
            return (EPOCH + self.ms * _MS).astimezone(self.zone)
        except (OverflowError, ValueError):
            return None

    def utc(self) -> datetime | None:
        if self.ms != self.ms:
            return None
        try:
            return EPOCH + self.ms * _MS
        except (OverflowError, ValueError):
            return None

    def with_ms(self, ms: float) -> JSDate:
        return JSDate(ms, self.zone, self.luxon)

    def iso(self) -> str | None:
        """Luxon ``toISO``: local time with offset (``Z`` in UTC)."""
        dt = self.local()
        return None if dt is None else _iso(dt)

    def iso_utc(self) -> str:
        """JS ``toISOString``."""
        dt = self.utc()
        if dt is None:
            raise ExpressionError("RangeError: Invalid time value")
        return _iso(dt)

    def js_string(self) -> str:
        if self.luxon:
            return self.iso() or "Invalid DateTime"
        dt = self.utc()
        if dt is None:
            return "Invalid Date"
        return (
            dt.strftime("%a %b %d ")
            + f"{dt.year:04d}"
            + dt.strftime(" %H:%M:%S")
            + (" GMT+0000 (Coordinated Universal Time)")
        )

    def to_number(self) -> int | float:
        return self.ms

    def to_primitive(self) -> Any:
        return self.ms if self.luxon else self.js_string()

    def to_json_value(self) -> Any:
        if self.luxon:
            return self.iso()
        return None if self.utc() is None else self.iso_utc()


def _iso(dt: datetime) -> str:
    offset = dt.utcoffset() or timedelta(0)
    if dt.tzinfo is UTC or (
        offset == timedelta(0) and getattr(dt.tzinfo, "key", "UTC") in ("UTC", "Etc/UTC")
    ):
        suffix = "Z"
    else:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        suffix = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        f".{dt.microsecond // 1000:03d}{suffix}"
    )


def make_date(dt: datetime) -> JSDate:
    """A Luxon-flavoured date for host values such as ``$now``; naive datetimes are taken as UTC."""
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return JSDate((aware - EPOCH) // _MS, aware.tzinfo or UTC, luxon=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=128)
def resolve_zone(name: str) -> tzinfo:
    if name.lower() in ("utc", "gmt", "z", "system", "local", "default"):
        return UTC
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", name):
        raise ExpressionError(f"Invalid time zone '{name}'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ExpressionError(f"Invalid time zone '{name}'") from None


# ---------------------------------------------------------------- parsing

_YEAR_MONTH = re.compile(r"([+-]?\d{4,6})(?:-(\d{2}))?")


def _to_ms(dt: datetime, zone: tzinfo) -> float:
    aware = dt if dt.tzinfo else dt.replace(tzinfo=zone)
    return (aware - EPOCH) / _MS


def parse_date(text: str, zone: tzinfo = UTC) -> float:
    """Epoch ms of an ISO-8601 or RFC-2822 string (naive times in ``zone``), NaN when unparseable."""
    s = text.strip()
    short = _YEAR_MONTH.fullmatch(s)
    if short:
        try:
            return _to_ms(datetime(int(short.group(1)), int(short.group(2) or 1), 1), UTC)
        except ValueError:
            return NAN
    try:
        return _to_ms(datetime.fromisoformat(s), zone)
    except ValueError:
        pass
    s = _without_zone_name(s)
    try:
        return _to_ms(datetime.strptime(s, "%a %b %d %Y %H:%M:%S GMT%z"), zone)
    except ValueError:
        pass
    try:
        return _to_ms(email.utils.parsedate_to_datetime(s), zone)
    except (TypeError, ValueError, IndexError):
        return NAN


def _without_zone_name(s: str) -> str:
    r"""``s`` without a trailing parenthesised zone name, as JS ``Date.toString()`` writes one (what
    ``re.sub(r"\s*\([^)]*\)$", "", s)`` does, found from the end: that search rescans the rest of the
    text from every ``(``, quadratic on a long run of them)."""
    if not s.endswith(")"):
        return s
    opening = s.find("(", s.rfind(")", 0, len(s) - 1) + 1)
    return s if opening == -1 else s[:opening].rstrip()


def _from_components(args: list[Any]) -> float:
    """``Date.UTC`` / ``new Date(y, m, ...)`` with JS overflow normalisation (month 12 = next January)."""
    args = args if len(args) > 1 else [*args, 0]
    values = [to_number(a) for a in args] + [1, 0, 0, 0, 0][len(args) - 2 :]
    if any(v != v or abs(v) > _MAX_MS for v in values):
        return NAN
    year, month, day, hours, minutes, seconds, millis = (int(v) for v in values[:7])
    if 0 <= year <= 99:
        year += 1900
    year += month // 12
    try:
        days = date(year, month % 12 + 1, 1).toordinal() - date(1970, 1, 1).toordinal() + day - 1
    except ValueError:
        return NAN
    return float(days * 86_400_000 + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis)


def new_date(args: list[Any]) -> JSDate:
    """``new Date(...)``."""
    if not args:
        return JSDate(now_ms())
    if len(args) >= 2:
        return JSDate(_from_components(args))
    value = args[0]
    if isinstance(value, JSDate):
        return JSDate(value.ms)
    if isinstance(value, str):
        return JSDate(parse_date(value))
    return JSDate(to_number(value))


# ---------------------------------------------------------------- Luxon arithmetic

_UNITS = {
    "year": "years",
    "quarter": "quarters",
    "month": "months",
    "week": "weeks",
    "day": "days",
    "hour": "hours",
    "minute": "minutes",
    "second": "seconds",
    "millisecond": "milliseconds",
}
_UNIT_MS = {"hours": 3_600_000, "minutes": 60_000, "seconds": 1000, "milliseconds": 1}


def _unit(name: Any) -> str:
    key = js_string(name).lower()
    unit = _UNITS.get(key) or (key if key in _UNITS.values() else None)
    if unit is None:
        raise ExpressionError(f"Invalid unit '{key}'")
    return unit


def _duration(args: list[Any]) -> dict[str, float]:
    """Luxon ``{days: 1}``, n8n ``(1, 'days')`` or plain milliseconds."""
    spec = arg(args, 0)
    if is_number(spec):
        if len(args) > 1:
            return {_unit(args[1]): float(spec)}
        return {"milliseconds": float(spec)}
    if not isinstance(spec, dict):
        raise ExpressionError("Invalid duration: expected an object such as {days: 1}")
    return {_unit(k): float(to_number(v)) for k, v in spec.items()}


def _localize(wall: datetime, zone: tzinfo) -> float:
    return _to_ms(wall.replace(tzinfo=zone), zone)


def shift(d: JSDate, parts: dict[str, float], sign: int) -> JSDate:
    """Calendar units move the wall clock in the date's zone; time units move the instant."""
    local = d.local()
    if local is None:
        return d
    wall = local.replace(tzinfo=None)
    months = int(parts.get("years", 0) * 12 + parts.get("quarters", 0) * 3 + parts.get("months", 0)) * sign
    days = (parts.get("weeks", 0) * 7 + parts.get("days", 0)) * sign
    try:
        if months:
            y, m = divmod(wall.month - 1 + months, 12)
            year, month = wall.year + y, m + 1
            wall = wall.replace(year=year, month=month, day=min(wall.day, _days_in_month(year, month)))
        wall += timedelta(days=days)
    except (ValueError, OverflowError):
        return d.with_ms(NAN)
    extra = sum(parts.get(unit, 0) * size for unit, size in _UNIT_MS.items()) * sign
    return d.with_ms(_localize(wall, d.zone) + extra)


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def start_of(d: JSDate, unit: str) -> JSDate:
    local = d.local()
    if local is None:
        return d
    wall = local.replace(tzinfo=None, microsecond=0)
    if unit == "weeks":
        wall = (wall - timedelta(days=wall.weekday())).replace(hour=0, minute=0, second=0)
    elif unit in _START_RESETS:
        wall = _START_RESETS[unit](wall)
    elif unit != "seconds":
        raise ExpressionError(f"Invalid unit for startOf: '{unit}'")
    return d.with_ms(_localize(wall, d.zone))


_START_RESETS: dict[str, Callable[[datetime], datetime]] = {
    "minutes": lambda w: w.replace(second=0),
    "hours": lambda w: w.replace(minute=0, second=0),
    "days": lambda w: w.replace(hour=0, minute=0, second=0),
    "months": lambda w: w.replace(day=1, hour=0, minute=0, second=0),
    "quarters": lambda w: w.replace(month=(w.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0),
    "years": lambda w: w.replace(month=1, day=1, hour=0, minute=0, second=0),
}


def end_of(d: JSDate, unit: str) -> JSDate:
    start = start_of(d, unit)
    return start.with_ms(shift(start, {unit: 1}, 1).ms - 1)


# ---------------------------------------------------------------- formatting

_FORMAT_TOKENS = re.compile(
    r"'[^']*'|yyyy|yy|y|MMMM|MMM|MM|M|LLLL|LLL|LL|L|dd|d|EEEE|EEE|E|cccc|ccc|c|HH|H|hh|h|mm|m|ss|s|SSS|S"
    r"|a|ZZ|Z|z|x|X|q|ooo|o|WW|W"
)


def _format_token(dt: datetime, token: str, ms: float) -> str:
    if token.startswith("'"):
        return token[1:-1] or "'"
    offset = int((dt.utcoffset() or timedelta(0)).total_seconds()) // 60
    hour12 = dt.hour % 12 or 12
    values: dict[str, Callable[[], str]] = {
        "yyyy": lambda: f"{dt.year:04d}",
        "yy": lambda: f"{dt.year % 100:02d}",
        "y": lambda: str(dt.year),
        "MMMM": lambda: _MONTHS[dt.month - 1],
        "MMM": lambda: _MONTHS[dt.month - 1][:3],
        "MM": lambda: f"{dt.month:02d}",
        "M": lambda: str(dt.month),
        "dd": lambda: f"{dt.day:02d}",
        "d": lambda: str(dt.day),
        "EEEE": lambda: _DAYS[dt.weekday()],
        "EEE": lambda: _DAYS[dt.weekday()][:3],
        "E": lambda: str(dt.isoweekday()),
        "HH": lambda: f"{dt.hour:02d}",
        "H": lambda: str(dt.hour),
        "hh": lambda: f"{hour12:02d}",
        "h": lambda: str(hour12),
        "mm": lambda: f"{dt.minute:02d}",
        "m": lambda: str(dt.minute),
        "ss": lambda: f"{dt.second:02d}",
        "s": lambda: str(dt.second),
        "SSS": lambda: f"{dt.microsecond // 1000:03d}",
        "S": lambda: str(dt.microsecond // 1000),
        "a": lambda: "AM" if dt.hour < 12 else "PM",
        "ZZ": lambda: f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}",
        "Z": lambda: (
            f"{'+' if offset >= 0 else '-'}{abs(offset) // 60}"
            + (f":{abs(offset) % 60:02d}" if offset % 60 else "")
        ),
        "z": lambda: getattr(dt.tzinfo, "key", "UTC"),
        "x": lambda: js_string(ms),
        "X": lambda: str(int(ms // 1000)),
        "q": lambda: str((dt.month - 1) // 3 + 1),
        "ooo": lambda: f"{dt.timetuple().tm_yday:03d}",
        "o": lambda: str(dt.timetuple().tm_yday),
        "WW": lambda: f"{dt.isocalendar()[1]:02d}",
        "W": lambda: str(dt.isocalendar()[1]),
    }
    aliases = {"LLLL": "MMMM", "LLL": "MMM", "LL": "MM", "L": "M", "cccc": "EEEE", "ccc": "EEE", "c": "E"}
    return values[aliases.get(token, token)]()


def to_format(d: JSDate, fmt: str) -> str:
    dt = d.local()
    if dt is None:
        return "Invalid DateTime"
    return _FORMAT_TOKENS.sub(lambda m: _format_token(dt, m.group(0), d.ms), fmt)


# ---------------------------------------------------------------- methods and properties

Method = Callable[[Context, Any, list[Any]], Any]


def _utc_getter(read: Callable[[datetime], int]) -> Method:
    def getter(ctx: Context, this: JSDate, args: list[Any]) -> Any:
        dt = this.utc()
        return NAN if dt is None else read(dt)

    return getter


_UTC_FIELDS: dict[str, Callable[[datetime], int]] = {
    "FullYear": lambda dt: dt.year,
    "Month": lambda dt: dt.month - 1,
    "Date": lambda dt: dt.day,
    "Day": lambda dt: dt.isoweekday() % 7,
    "Hours": lambda dt: dt.hour,
    "Minutes": lambda dt: dt.minute,
    "Seconds": lambda dt: dt.second,
    "Milliseconds": lambda dt: dt.microsecond // 1000,
}


def _local_prop(read: Callable[[datetime], Any]) -> Callable[[JSDate], Any]:
    def prop(d: JSDate) -> Any:
        dt = d.local()
        return NAN if dt is None else read(dt)

    return prop


DATE_PROPERTIES: dict[str, Callable[[JSDate], Any]] = {
    "year": _local_prop(lambda dt: dt.year),
    "quarter": _local_prop(lambda dt: (dt.month - 1) // 3 + 1),
    "month": _local_prop(lambda dt: dt.month),
    "day": _local_prop(lambda dt: dt.day),
    "hour": _local_prop(lambda dt: dt.hour),
    "minute": _local_prop(lambda dt: dt.minute),
    "second": _local_prop(lambda dt: dt.second),
    "millisecond": _local_prop(lambda dt: dt.microsecond // 1000),
    "weekday": _local_prop(lambda dt: dt.isoweekday()),
    "weekNumber": _local_prop(lambda dt: dt.isocalendar()[1]),
    "ordinal": _local_prop(lambda dt: dt.timetuple().tm_yday),
    "daysInMonth": _local_prop(lambda dt: _days_in_month(dt.year, dt.month)),
    "offset": _local_prop(lambda dt: int((dt.utcoffset() or timedelta(0)).total_seconds()) // 60),
    "zoneName": lambda d: getattr(d.zone, "key", "UTC"),
    "isValid": lambda d: d.local() is not None,
    "ts": lambda d: d.ms,
}


def _luxon(d: JSDate) -> JSDate:
    return JSDate(d.ms, d.zone, luxon=True)


def _locale_date(dt: datetime) -> str:
    return f"{dt.month}/{dt.day}/{dt.year}"


def _locale_time(dt: datetime) -> str:
    return f"{dt.hour % 12 or 12}:{dt.minute:02d}:{dt.second:02d} {'AM' if dt.hour < 12 else 'PM'}"


def _with_local(render: Callable[[datetime], Any], invalid: Any = "Invalid Date") -> Method:
    def method(ctx: Context, this: JSDate, args: list[Any]) -> Any:
        dt = this.local() if this.luxon else this.utc()
        return invalid if dt is None else render(dt)

    return method


def _set_zone(ctx: Context, this: JSDate, args: list[Any]) -> JSDate:
    zone = arg(args, 0)
    return JSDate(this.ms, UTC if zone is UNDEFINED else resolve_zone(js_string(zone)), luxon=True)


DATE_METHODS: dict[str, Method] = {
    **{f"get{name}": _utc_getter(read) for name, read in _UTC_FIELDS.items()},
    **{f"getUTC{name}": _utc_getter(read) for name, read in _UTC_FIELDS.items()},
    "getTime": lambda ctx, this, args: this.ms,
    "valueOf": lambda ctx, this, args: this.ms,
    "getTimezoneOffset": lambda ctx, this, args: 0,
    "toISOString": lambda ctx, this, args: this.iso_utc(),
    "toJSON": lambda ctx, this, args: this.to_json_value(),
    "toString": lambda ctx, this, args: this.js_string(),
    "toUTCString": _with_local(
        lambda dt: dt.strftime("%a, %d %b ") + f"{dt.year:04d}" + dt.strftime(" %H:%M:%S GMT")
    ),
    "toDateString": _with_local(lambda dt: dt.strftime("%a %b %d ") + f"{dt.year:04d}"),
    "toLocaleDateString": _with_local(_locale_date),
    "toLocaleTimeString": _with_local(_locale_time),
    "toLocaleString": _with_local(lambda dt: f"{_locale_date(dt)}, {_locale_time(dt)}"),
    # Luxon
    "toISO": lambda ctx, this, args: this.iso(),
    "toISODate": _with_local(lambda dt: f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}", None),
    "toISOTime": lambda ctx, this, args: (this.iso() or "T")[11:] or None,
    "toMillis": lambda ctx, this, args: this.ms,
    "toSeconds": lambda ctx, this, args: js_num(this.ms / 1000),
    "toUnixInteger": lambda ctx, this, args: NAN if this.ms != this.ms else int(this.ms // 1000),
    "toFormat": lambda ctx, this, args: to_format(this, js_string(arg(args, 0))),
    "format": lambda ctx, this, args: to_format(this, js_string(arg(args, 0))),
    "toJSDate": lambda ctx, this, args: JSDate(this.ms),
    "toUTC": lambda ctx, this, args: JSDate(this.ms, UTC, luxon=True),
    "setZone": _set_zone,
    "plus": lambda ctx, this, args: shift(_luxon(this), _duration(args), 1),
    "minus": lambda ctx, this, args: shift(_luxon(this), _duration(args), -1),
    "startOf": lambda ctx, this, args: start_of(_luxon(this), _unit(arg(args, 0))),
    "endOf": lambda ctx, this, args: end_of(_luxon(this), _unit(arg(args, 0))),
    "equals": lambda ctx, this, args: isinstance(arg(args, 0), JSDate) and arg(args, 0).ms == this.ms,
    "isWeekend": _with_local(lambda dt: dt.isoweekday() >= 6, False),
}


# ---------------------------------------------------------------- globals


def _zone_option(options: Any) -> tzinfo:
    if isinstance(options, dict) and isinstance(options.get("zone"), str):
        return resolve_zone(options["zone"])
    return UTC


def _from_iso(ctx: Context, args: list[Any]) -> JSDate:
    zone = _zone_option(arg(args, 1))
    return JSDate(parse_date(js_string(arg(args, 0)), zone), zone, luxon=True)


def _from_millis(scale: int) -> Callable[[Context, list[Any]], JSDate]:
    def build(ctx: Context, args: list[Any]) -> JSDate:
        return JSDate(to_number(arg(args, 0)) * scale, _zone_option(arg(args, 1)), luxon=True)

    return build


def _from_js_date(ctx: Context, args: list[Any]) -> JSDate:
    source = arg(args, 0)
    ms = source.ms if isinstance(source, JSDate) else NAN
    return JSDate(ms, _zone_option(arg(args, 1)), luxon=True)


DATETIME = {
    "now": Builtin("now", lambda ctx, args: JSDate(now_ms(), luxon=True)),
    "utc": Builtin("utc", lambda ctx, args: JSDate(now_ms(), luxon=True)),
    "local": Builtin("local", lambda ctx, args: JSDate(now_ms(), luxon=True)),
    "fromISO": Builtin("fromISO", _from_iso),
    "fromMillis": Builtin("fromMillis", _from_millis(1)),
    "fromSeconds": Builtin("fromSeconds", _from_millis(1000)),
    "fromJSDate": Builtin("fromJSDate", _from_js_date),
    "isDateTime": Builtin(
        "isDateTime", lambda ctx, args: isinstance(arg(args, 0), JSDate) and arg(args, 0).luxon
    ),
}


def _date_call(ctx: Context, args: list[Any]) -> str:
    return JSDate(now_ms()).js_string()


DATE = Builtin(
    "Date",
    _date_call,
    members={
        "now": Builtin("now", lambda ctx, args: now_ms()),
        "parse": Builtin("parse", lambda ctx, args: js_num(parse_date(js_string(arg(args, 0))))),
        "UTC": Builtin("UTC", lambda ctx, args: js_num(_from_components(args)) if args else NAN),
    },
)
