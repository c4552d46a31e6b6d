"""Date parsing, zones, moment-style formatting and Luxon durations for the Date & Time node.

Instants are the expression engine's :class:`JSDate` (epoch ms plus a display zone), so calendar arithmetic
(``shift``/``start_of``) and Luxon token formatting (``to_format``) are the very code expressions use and the
node and ``{{ $now.plus(...) }}`` can never disagree. What lives here is what only the node needs: n8n's
timestamp detection, moment's format tokens (typeVersion 1 was built on moment), Luxon's zone rules for
``toISO`` and Luxon's ``diff``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import REGEX_SECONDS, search
from tenantflow.engine.expressions.dates import EPOCH, JSDate, parse_date, shift, to_format

_MS = timedelta(milliseconds=1)
_TIMESTAMP_MS_DIGITS = 12
"""n8n's rule: an integer with fewer digits than a 1990 millisecond timestamp counts as seconds."""


def zone(name: str) -> tzinfo:
    """Luxon's zone for ``name``: "utc"/"gmt" are the fixed UTC zone (ISO ``Z``), anything else IANA."""
    if name.strip().lower() in ("utc", "gmt", "z"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise NodeError(
            f"The timezone {name} is not valid. Please check the timezone.", code=ErrorCode.INVALID_PARAMETER
        ) from None


def to_ms(dt: datetime) -> float:
    return (dt - EPOCH) / _MS


def numeric_timestamp(value: Any) -> float | None:
    """Epoch ms of a number (or numeric string) by n8n's rules: fractional values are seconds, integers
    with fewer than 12 digits are seconds, others milliseconds. None when ``value`` is not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            number = float(value) if value.strip() else math.nan
        except ValueError:
            return None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    if not math.isfinite(number):
        return None
    if not number.is_integer():
        number = round(number * 1000)
    digits = len(str(int(abs(number))))
    return number * 1000 if digits < _TIMESTAMP_MS_DIGITS else number


_LOOSE_FORMATS = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%d %B %Y",
    "%Y-%m-%d %H:%M:%S.%f",
)


def parse_text(text: str, default_zone: tzinfo) -> float:
    """Epoch ms of a date string as ``moment(text)`` reads it: ISO 8601 and RFC 2822 first, naive times
    in ``default_zone``; then the slash and month-name forms of moment's ``new Date`` fallback, which
    ignores any zone and reads the server's local time (UTC here, as in n8n's harness). NaN if unreadable."""
    ms = parse_date(text, default_zone)
    if ms == ms:
        return ms
    for fmt in _LOOSE_FORMATS:
        try:
            return to_ms(datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    return math.nan


def invalid_date(value: Any) -> NodeError:
    return NodeError(
        "Invalid date format",
        code=ErrorCode.INVALID_PARAMETER,
        description=f"Could not read {value!r} as a date or timestamp",
    )


def luxon_iso(d: JSDate) -> str:
    """Luxon ``toISO()``: ``Z`` only in the fixed UTC zone, IANA zones (even ``Etc/UTC``) print the offset."""
    text = to_format(d, "yyyy-MM-dd'T'HH:mm:ss.SSS")
    return text + ("Z" if d.zone is UTC else to_format(d, "ZZ"))


# --- moment format tokens (typeVersion 1) --------------------------------------------------------------

_MOMENT_TOKENS = re.compile(
    r"\[[^\]]*\]|YYYY|YY|Q|MMMM|MMM|MM|Mo|M|DDDD|DDD|Do|DD|D|dddd|ddd|dd|d|E|e|HH|H|hh|h|kk|k|mm|m|ss|s"
    r"|SSS|SS|S|A|a|X|x|ZZ|Z|ww|w|WW|W|GGGG|gggg"
)
_MOMENT_TO_LUXON = {
    "YYYY": "yyyy",
    "YY": "yy",
    "Q": "q",
    "MMMM": "MMMM",
    "MMM": "MMM",
    "MM": "MM",
    "M": "M",
    "DDDD": "ooo",
    "DDD": "o",
    "DD": "dd",
    "D": "d",
    "dddd": "EEEE",
    "ddd": "EEE",
    "E": "E",
    "HH": "HH",
    "H": "H",
    "hh": "hh",
    "h": "h",
    "mm": "mm",
    "m": "m",
    "ss": "ss",
    "s": "s",
    "SSS": "SSS",
    "A": "a",
    "X": "X",
    "x": "x",
    "Z": "ZZ",
    "WW": "WW",
    "W": "W",
    "GGGG": "yyyy",
}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _moment_special(dt: datetime) -> dict[str, Callable[[], str]]:
    """The moment tokens without a Luxon twin."""
    return {
        "Mo": lambda: _ordinal(dt.month),
        "Do": lambda: _ordinal(dt.day),
        "dd": lambda: dt.strftime("%a")[:2],
        "d": lambda: str(dt.isoweekday() % 7),
        "e": lambda: str(dt.isoweekday() % 7),
        "kk": lambda: f"{dt.hour or 24:02d}",
        "k": lambda: str(dt.hour or 24),
        "SS": lambda: f"{dt.microsecond // 10000:02d}",
        "S": lambda: str(dt.microsecond // 100000),
        "a": lambda: "am" if dt.hour < 12 else "pm",
        "ZZ": lambda: to_format(JSDate(to_ms(dt), dt.tzinfo or UTC), "ZZ").replace(":", ""),
        "ww": lambda: f"{_us_week(dt):02d}",
        "w": lambda: str(_us_week(dt)),
        "gggg": lambda: str(dt.year),
    }


def _us_week(dt: datetime) -> int:
    """moment's locale week for ``en``: weeks start on Sunday, week 1 holds January 1st."""
    jan1 = dt.replace(month=1, day=1)
    return (dt.timetuple().tm_yday + jan1.isoweekday() % 7 - 1) // 7 + 1


def moment_format(d: JSDate, fmt: str) -> str:
    """moment's ``format(fmt)`` (English locale); without ``fmt`` moment's default ISO form."""
    dt = d.local()
    if dt is None:
        return "Invalid date"
    if not fmt:
        fmt = "YYYY-MM-DDTHH:mm:ssZ"
    special = _moment_special(dt)

    def render(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("["):
            return token[1:-1]
        if token in special:
            return special[token]()
        return to_format(d, _MOMENT_TO_LUXON[token])

    return _MOMENT_TOKENS.sub(render, fmt)


# --- parsing with an explicit format (moment and Luxon tokens) -----------------------------------------

_MONTH_NAMES = "January|February|March|April|May|June|July|August|September|October|November|December"
_PARSE_FIELDS: dict[str, tuple[str, str]] = {
    # token: (regex, datetime field it fills)
    "yyyy": (r"\d{4}", "year"),
    "YYYY": (r"\d{4}", "year"),
    "yy": (r"\d{2}", "year2"),
    "YY": (r"\d{2}", "year2"),
    "MMMM": (_MONTH_NAMES, "month_name"),
    "MMM": (r"[A-Za-z]{3}", "month_name"),
    "MM": (r"\d{2}", "month"),
    "M": (r"\d{1,2}", "month"),
    "dd": (r"\d{2}", "day"),
    "DD": (r"\d{2}", "day"),
    "d": (r"\d{1,2}", "day"),
    "D": (r"\d{1,2}", "day"),
    "HH": (r"\d{2}", "hour"),
    "H": (r"\d{1,2}", "hour"),
    "hh": (r"\d{2}", "hour12"),
    "h": (r"\d{1,2}", "hour12"),
    "mm": (r"\d{2}", "minute"),
    "m": (r"\d{1,2}", "minute"),
    "ss": (r"\d{2}", "second"),
    "s": (r"\d{1,2}", "second"),
    "SSS": (r"\d{3}", "millisecond"),
    "a": (r"[AaPp][Mm]", "meridiem"),
    "A": (r"[AaPp][Mm]", "meridiem"),
    "x": (r"-?\d+", "epoch_ms"),
    "X": (r"-?\d+(?:\.\d+)?", "epoch_s"),
}
_PARSE_TOKENS = re.compile(
    r"\[[^\]]*\]|'[^']*'|yyyy|YYYY|yy|YY|MMMM|MMM|MM|M|dd|DD|d|D|HH|H|hh|h|mm|m|ss|s|SSS|a|A|x|X"
)


@functools.lru_cache(maxsize=256)
def _format_regex(fmt: str) -> tuple[regex.Pattern[str], tuple[str, ...]]:
    r"""The format as a pattern of one group per field. Each field is atomic, as moment reads a format
    field by field without going back (``MD`` reads ``123`` as month 12, day 3), which also keeps the
    match linear: with backtracking, a run of ``(\d{1,2})`` fields tries exponentially many splits."""
    fields: list[str] = []
    pattern = ""
    position = 0
    for match in _PARSE_TOKENS.finditer(fmt):
        pattern += regex.escape(fmt[position : match.start()])
        token = match.group(0)
        if token[0] in "['":
            pattern += regex.escape(token[1:-1])
        else:
            field, name = _PARSE_FIELDS[token]
            pattern += f"((?>{field}))"
            fields.append(name)
        position = match.end()
    pattern += regex.escape(fmt[position:])
    return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0), tuple(fields)


def _month_number(name: str) -> int:
    for index, month in enumerate(_MONTH_NAMES.split("|")):
        if month.lower().startswith(name.lower()):
            return index + 1
    raise ValueError(name)


def parse_with_format(text: Any, fmt: str, default_zone: tzinfo) -> float:
    """Epoch ms of ``text`` read with ``fmt`` (moment or Luxon tokens for date and time parts), in
    ``default_zone``; NaN when ``text`` does not fit the format."""
    compiled, fields = _format_regex(fmt)
    subject = str(text).strip()
    match = search(compiled, fmt, subject, REGEX_SECONDS, full=True)
    if match is None:
        return math.nan
    parts: dict[str, Any] = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}
    try:
        for name, raw in zip(fields, match.groups(), strict=True):
            _store_part(parts, name, raw)
        if "epoch" in parts:  # a timestamp token fixes the instant whatever the other fields say
            return float(parts["epoch"])
        millis = parts.pop("millisecond", 0)
        meridiem = parts.pop("meridiem", None)
        if meridiem is not None:
            parts["hour"] = parts["hour"] % 12 + (12 if meridiem.lower() == "pm" else 0)
        return to_ms(datetime(**parts, tzinfo=default_zone)) + int(millis)
    except ValueError:
        return math.nan


def _store_part(parts: dict[str, Any], name: str, raw: str) -> None:
    if name == "year2":
        parts["year"] = 2000 + int(raw) if int(raw) < 69 else 1900 + int(raw)
    elif name == "month_name":
        parts["month"] = _month_number(raw)
    elif name == "hour12":
        parts["hour"] = int(raw)
    elif name == "meridiem":
        parts["meridiem"] = raw
    elif name in ("epoch_ms", "epoch_s"):
        parts["epoch"] = float(raw) * (1 if name == "epoch_ms" else 1000)
    else:
        parts[name] = int(raw)


# --- Luxon durations -----------------------------------------------------------------------------------

CALENDAR_UNITS = ("years", "quarters", "months", "weeks", "days")
CLOCK_UNITS = {"hours": 3_600_000, "minutes": 60_000, "seconds": 1000, "milliseconds": 1}


def plural(unit: str) -> str:
    return unit if unit.endswith("s") else unit + "s"


def _calendar_diff(start: JSDate, end: JSDate, unit: str) -> int:
    a, b = start.local(), end.local()
    assert a is not None and b is not None
    if unit == "years":
        return b.year - a.year
    if unit == "quarters":
        return (b.month - 1) // 3 - (a.month - 1) // 3 + (b.year - a.year) * 4
    if unit == "months":
        return b.month - a.month + (b.year - a.year) * 12
    days = (b.date() - a.date()).days
    return int(days - math.fmod(days, 7)) // 7 if unit == "weeks" else days


def diff(start: JSDate, end: JSDate, units: list[str]) -> dict[str, float]:
    """Luxon ``end.diff(start, units)``: whole calendar units from the largest down, the rest in the clock
    units asked for, else as a fraction of the smallest calendar unit. Negative when ``end`` is earlier."""
    if end.ms < start.ms:
        return {unit: -value if value else 0 for unit, value in diff(end, start, units).items()}
    results: dict[str, float] = {}
    cursor, high_water, lowest = start, start, ""
    for unit in (u for u in CALENDAR_UNITS if u in units):
        lowest = unit
        results[unit] = _calendar_diff(cursor, end, unit)
        high_water = shift(start, results, 1)
        if high_water.ms > end.ms:
            results[unit] -= 1
            cursor = shift(start, results, 1)
            if cursor.ms > end.ms:
                high_water = cursor
                results[unit] -= 1
                cursor = shift(start, results, 1)
        else:
            cursor = high_water
    remaining = end.ms - cursor.ms
    clock = [u for u in CLOCK_UNITS if u in units]
    if not clock:
        if lowest and high_water.ms < end.ms:
            high_water = shift(cursor, {lowest: 1}, 1)
        if lowest and high_water.ms != cursor.ms:
            results[lowest] += remaining / (high_water.ms - cursor.ms)
        return {unit: _js_number(value) for unit, value in results.items()}
    for unit in clock:
        size = CLOCK_UNITS[unit]
        whole = remaining / size if unit == clock[-1] else remaining // size
        results[unit] = whole
        remaining -= whole * size
    return {unit: _js_number(value) for unit, value in results.items()}


def _js_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


_ISO_DATE_UNITS = (("years", "Y"), ("quarters", "Q"), ("months", "M"), ("weeks", "W"), ("days", "D"))
_ISO_TIME_UNITS = (("hours", "H"), ("minutes", "M"))


def duration_iso(values: dict[str, float]) -> str:
    """Luxon ``Duration.toISO()`` (quarters as 3 months, milliseconds folded into seconds)."""
    values = dict(values)
    if "quarters" in values:
        values["months"] = values.get("months", 0) + values.pop("quarters") * 3
    text = "P" + "".join(f"{_js_number(values[u])}{s}" for u, s in _ISO_DATE_UNITS if values.get(u))
    time = "".join(f"{_js_number(values[u])}{s}" for u, s in _ISO_TIME_UNITS if values.get(u))
    seconds = values.get("seconds", 0) + values.get("milliseconds", 0) / 1000
    if seconds:
        time += f"{_js_number(round(seconds, 3))}S"
    if time:
        text += "T" + time
    return text if text != "P" else "PT0S"
