"""Date & Time v1 (moment) and v2 (Luxon): n8n's fixtures through the executor, then each operation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.conformance import run_fixture
from tenantflow.engine.expressions.dates import JSDate
from tenantflow.nodes.n8n.data.dates import DateTime
from tenantflow.nodes.n8n.data.dates.formats import diff, duration_iso, moment_format, parse_with_format, zone
from tests.nodes.harness import REGISTRY, run_node

ROOT = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance"
DATE_TIME = "n8n-nodes-base.dateTime"
FIXTURES = [
    "DateTime/DateTimeWorkflowV2.json",
    "DateTime/workflow.includeInputFields_v2.json",
    "DateTime/workflow.luxonDateTime.json",
    "DateTime/workflow.nullDate_v2.json",
    "DateTime/workflow.timestamp.json",
    "DateTime/workflow.timestamp_v2.json",
]
MAY_1_2023 = 1682918315906  # 2023-05-01T05:18:35.906Z


@pytest.mark.anyio
@pytest.mark.parametrize("fixture", FIXTURES)
async def test_n8n_fixture_passes(fixture: str) -> None:
    result = await run_fixture(ROOT / fixture, REGISTRY, ROOT)
    assert result.status == "pass", result.reason


@pytest.mark.anyio
async def test_v1_fixture_passes_in_n8n_default_zone(tmp_path: Path) -> None:
    """n8n's harness runs with the instance default zone America/New_York; ours defaults to UTC."""
    document = json.loads((ROOT / "DateTime" / "DateTimeWorklfow.test.json").read_text())
    document["settings"] = {"timezone": "America/New_York"}
    path = tmp_path / "DateTimeWorklfow.json"
    path.write_text(json.dumps(document))
    result = await run_fixture(path, REGISTRY, tmp_path)
    assert result.status == "pass", result.reason


async def v2(parameters: dict[str, Any], rows: list[Any] | None = None) -> list[Any]:
    run = await run_node(DATE_TIME, parameters, rows if rows is not None else [{}], version=2)
    return run.json()[0]


# --- typeVersion 2 -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_add_months_clamps_to_month_end_and_keeps_input_fields() -> None:
    out = await v2(
        {
            "operation": "addToDate",
            "magnitude": "={{ $json.d }}",
            "timeUnit": "months",
            "duration": 1,
            "options": {"includeInputFields": True},
        },
        [{"d": "2024-01-31T10:00:00Z"}],
    )
    assert out == [{"d": "2024-01-31T10:00:00Z", "newDate": "2024-02-29T10:00:00.000Z"}]


@pytest.mark.anyio
async def test_subtract_hours_from_a_timestamp() -> None:
    out = await v2(
        {
            "operation": "subtractFromDate",
            "magnitude": MAY_1_2023,
            "timeUnit": "hours",
            "duration": 6,
            "outputFieldName": "when",
        }
    )
    assert out == [{"when": "2023-04-30T23:18:35.906Z"}]  # the test workflow's zone is "UTC": Luxon prints Z


@pytest.mark.anyio
async def test_format_custom_with_from_format() -> None:
    out = await v2(
        {
            "operation": "formatDate",
            "date": "31.12.2023 23:05",
            "format": "custom",
            "customFormat": "yyyy-MM-dd HH:mm EEE",
            "options": {"fromFormat": "dd.MM.yyyy HH:mm"},
        }
    )
    assert out == [{"formattedDate": "2023-12-31 23:05 Sun"}]


@pytest.mark.anyio
async def test_format_unix_seconds_and_ms() -> None:
    out = await v2(
        {"operation": "formatDate", "date": "={{ $json.t }}", "format": "x"}, [{"t": "1682918315"}]
    )
    assert out == [{"formattedDate": "1682918315000"}]


@pytest.mark.anyio
async def test_round_up_and_down() -> None:
    down = await v2({"operation": "roundDate", "date": "2023-05-17T13:45:00Z", "toNearest": "month"})
    up = await v2({"operation": "roundDate", "date": "2023-05-17T13:45:00Z", "mode": "roundUp", "to": "hour"})
    assert down == [{"roundedDate": "2023-05-01T00:00:00.000Z"}]
    assert up == [{"roundedDate": "2023-05-17T14:00:00.000Z"}]


@pytest.mark.anyio
async def test_time_between_in_several_units_and_as_iso() -> None:
    params = {
        "operation": "getTimeBetweenDates",
        "startDate": "2023-01-15T00:00:00Z",
        "endDate": "2023-03-16T06:30:00Z",
        "units": ["month", "day", "hour", "minute"],
    }
    assert await v2(params) == [{"timeDifference": {"months": 2, "days": 1, "hours": 6, "minutes": 30}}]
    as_iso = await v2({**params, "options": {"isoString": True}})
    assert as_iso == [{"timeDifference": "P2M1DT6H30M"}]


@pytest.mark.anyio
async def test_extract_week_and_hour() -> None:
    week = await v2({"operation": "extractDate", "date": "2023-01-05T10:00:00Z", "part": "week"})
    assert week == [{"datePart": 1}]


@pytest.mark.anyio
async def test_current_date_without_time_is_midnight_in_the_chosen_zone() -> None:
    out = await v2(
        {"operation": "getCurrentDate", "includeTime": False, "options": {"timezone": "Asia/Kolkata"}}
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00\.000\+05:30", out[0]["currentDate"])


@pytest.mark.anyio
async def test_invalid_date_and_zone_are_node_errors() -> None:
    bad_date = await run_node(DATE_TIME, {"operation": "roundDate", "date": "not a date"}, [{}], version=2)
    assert bad_date.error["message"] == "Invalid date format"
    bad_zone = await run_node(
        DATE_TIME, {"operation": "getCurrentDate", "options": {"timezone": "Mars/Olympus"}}, [{}], version=2
    )
    assert "Mars/Olympus" in bad_zone.error["message"]


# --- typeVersion 1 -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_v1_format_between_zones_into_a_dotted_field() -> None:
    run = await run_node(
        DATE_TIME,
        {
            "value": "2023-06-01 12:00",
            "dataPropertyName": "out.local",
            "custom": True,
            "toFormat": "dddd Do MMMM YYYY, HH:mm Z",
            "options": {"fromTimezone": "Europe/Berlin", "toTimezone": "America/New_York"},
        },
        [{"keep": 1}],
    )
    assert run.json()[0] == [{"keep": 1, "out": {"local": "Thursday 1st June 2023, 06:00 -04:00"}}]


@pytest.mark.anyio
async def test_v1_calculate_subtracts_a_quarter() -> None:
    run = await run_node(
        DATE_TIME,
        {
            "action": "calculate",
            "value": "2023-05-31T08:00:00Z",
            "operation": "subtract",
            "duration": 1,
            "timeUnit": "quarters",
        },
        [{}],
    )
    assert run.json()[0] == [{"data": "2023-02-28T08:00:00.000Z"}]


@pytest.mark.anyio
async def test_v1_drops_items_whose_value_is_undefined() -> None:
    run = await run_node(DATE_TIME, {"value": "={{ $json.missing }}"}, [{"a": 1}, {"missing": MAY_1_2023}])
    assert run.json()[0] == [{"missing": MAY_1_2023, "data": "05/01/2023"}]


# --- helpers and schemas -------------------------------------------------------------------------------


def test_moment_tokens() -> None:
    instant = JSDate(MAY_1_2023, zone("Asia/Tokyo"))
    assert (
        moment_format(instant, "[Q]Q YY-M-D ddd hh:mm:ss.SSS A X")
        == "Q2 23-5-1 Mon 02:18:35.906 PM 1682918315"
    )
    assert moment_format(instant, "") == "2023-05-01T14:18:35+09:00"


def test_parse_with_format_rejects_a_mismatch() -> None:
    assert parse_with_format("2023-13-01", "yyyy-MM-dd", zone("UTC")) != parse_with_format(
        "2023-12-01", "yyyy-MM-dd", zone("UTC")
    )
    assert parse_with_format("12/01", "yyyy-MM-dd", zone("UTC")) != parse_with_format(
        "12/01", "yyyy-MM-dd", zone("UTC")
    )  # NaN


def test_diff_fractions_and_negative() -> None:
    start, end = JSDate(0, zone("UTC")), JSDate(36 * 3_600_000, zone("UTC"))
    assert diff(start, end, ["days"]) == {"days": 1.5}
    assert diff(end, start, ["hours"]) == {"hours": -36}
    assert duration_iso({"seconds": 1, "milliseconds": 500}) == "PT1.5S"


def test_schemas_catch_typos_but_accept_expressions() -> None:
    v2_schema = jsonschema_rs.validator_for(dict(DateTime().schema_for(2)))
    assert not v2_schema.is_valid({"operation": "addDays"})
    assert not v2_schema.is_valid({"operation": "addToDate", "duration": "two"})
    assert v2_schema.is_valid(
        {"operation": "addToDate", "duration": "={{ 2 }}", "magnitude": "x", "extra": 1}
    )
    assert not jsonschema_rs.validator_for(dict(DateTime().schema_for(1))).is_valid({"action": "shift"})


@pytest.mark.anyio
async def test_format_shows_a_plus_offset_string_in_its_own_offset() -> None:
    out = await v2(
        {"operation": "formatDate", "date": "2023-01-01T23:30:00+05:00", "format": "yyyy-MM-dd HH:mm"}
    )
    assert out == [{"formattedDate": "2023-01-01 23:30"}]
