"""User patterns in nodes run against a deadline: a backtracking pattern (or a date format whose fields can
split a run of digits exponentially many ways) stops after its matching time with EXPRESSION_LIMIT naming
the pattern, instead of holding the event loop for minutes. The time is the whole run's, not each item's."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from tenantflow.engine.expressions import REGEX_SECONDS, compile_js_regex
from tenantflow.nodes.n8n.data.dates.formats import parse_with_format, zone
from tests.nodes.harness import run_node

pytestmark = pytest.mark.anyio

EVIL = "(a|a)+$"
LONG = "a" * 40 + "!"


async def timed_error(
    node_type: str, parameters: dict[str, Any], data: list[Any], **fields: Any
) -> dict[str, Any]:
    started = time.monotonic()
    run = await run_node(node_type, parameters, data, **fields)
    assert time.monotonic() - started < REGEX_SECONDS + 2
    assert run.error is not None
    return run.error


def rename(search: str, replace: str = "x") -> dict[str, Any]:
    replacements = [{"searchRegex": search, "replaceRegex": replace, "options": {}}]
    return {"additionalOptions": {"regexReplacement": {"replacements": replacements}}}


async def test_rename_keys_stops_a_backtracking_pattern_naming_it() -> None:
    error = await timed_error("n8n-nodes-base.renameKeys", rename(EVIL), [{LONG: 1}])
    assert error["code"] == "EXPRESSION_LIMIT"
    assert f"/{EVIL}/" in error["message"] and "ran out of time" in error["message"]


def slow_key(seconds: float) -> str:
    """A key the pattern takes at least ``seconds`` on (each more ``a`` doubles the work)."""
    pattern = compile_js_regex(EVIL, "")
    for length in range(12, 40):
        key = "a" * length + "!"
        started = time.monotonic()
        pattern.search(key)
        if time.monotonic() - started >= seconds:
            return key
    raise AssertionError("no key slow enough")


async def test_rename_keys_shares_one_deadline_across_items() -> None:
    """Thirty keys each under the deadline would take several times it one by one."""
    key = slow_key(REGEX_SECONDS / 5)
    data = [{key: n} for n in range(30)]
    error = await timed_error("n8n-nodes-base.renameKeys", rename(EVIL), data)
    assert error["code"] == "EXPRESSION_LIMIT"


async def test_rename_keys_reads_patterns_as_javascript() -> None:
    run = await run_node("n8n-nodes-base.renameKeys", rename(r"^(\d+)-(?<rest>.*)$", "$2_$1"), [{"12-ab": 1}])
    assert run.json() == [[{"ab_12": 1}]]
    bad = await run_node("n8n-nodes-base.renameKeys", rename("("), [{"a": 1}])
    assert bad.error is not None and bad.error["code"] == "INVALID_PARAMETER"


async def test_markdown_text_replace_stops_a_backtracking_pattern_naming_it() -> None:
    options = {"textReplace": {"values": [{"pattern": EVIL, "replacement": ""}]}}
    error = await timed_error("n8n-nodes-base.markdown", {"html": f"<p>{LONG}</p>", "options": options}, [{}])
    assert error["code"] == "EXPRESSION_LIMIT" and f"/{EVIL}/" in error["message"]


async def test_markdown_text_replace_uses_javascript_replacements() -> None:
    options = {"textReplace": {"values": [{"pattern": "(\\d+)", "replacement": "<$1>"}]}}
    run = await run_node("n8n-nodes-base.markdown", {"html": "<p>a 12 b 3</p>", "options": options}, [{}])
    assert run.json() == [[{"data": "a <12> b <3>"}]]


def test_a_date_format_reads_field_by_field_in_linear_time() -> None:
    """``x`` is one or more digits: sixteen of them on 40 digits and a mark used to try every split."""
    started = time.monotonic()
    assert math.isnan(parse_with_format("1" * 40 + "!", "x" * 16, zone("UTC")))
    assert time.monotonic() - started < 1
    assert parse_with_format("1231", "MD", zone("UTC")) == parse_with_format("12-31", "M-D", zone("UTC"))


async def test_date_and_time_from_format_on_a_hostile_value_ends_quickly() -> None:
    parameters = {
        "operation": "formatDate",
        "date": "1" * 40 + "!",
        "format": "custom",
        "customFormat": "yyyy",
        "options": {"fromFormat": "x" * 16},
    }
    error = await timed_error("n8n-nodes-base.dateTime", parameters, [{}], version=2)
    assert "Invalid date" in error["message"] or error["code"] == "EXPRESSION_LIMIT"
