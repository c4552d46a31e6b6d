"""The condition engine on its own: legacy (v1) comparisons, filter conditions, type validation, schemas."""

from __future__ import annotations

import math
import time
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.engine.expressions import UNDEFINED, ExpressionLimitError
from tenantflow.nodes.n8n.flow.conditions import (
    FILTER_SCHEMA,
    REGEX_SECONDS,
    FilterOptions,
    condition_passes,
    filter_options,
    filter_passes,
    js_regex_test,
    legacy_compare,
    legacy_conditions_pass,
    legacy_conditions_schema,
)

STRICT = FilterOptions()
LOOSE = FilterOptions(strict=False)


def cond(
    kind: str, operation: str, left: Any = UNDEFINED, right: Any = UNDEFINED, **operator: Any
) -> dict[str, Any]:
    return {
        "leftValue": left,
        "rightValue": right,
        "operator": {"type": kind, "operation": operation, **operator},
    }


def check(condition: dict[str, Any], options: FilterOptions = STRICT) -> bool:
    return condition_passes(condition, options, 0, 0)


# --- legacy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "operation", "value1", "value2", "expected"),
    [
        ("boolean", "equal", True, True, True),
        ("boolean", "equal", 1, True, False),  # === never coerces
        ("boolean", "notEqual", False, True, True),
        ("number", "smaller", 1, 2, True),
        ("number", "smaller", 2, 2, False),
        ("number", "smallerEqual", 2, 2, True),
        ("number", "larger", 2, 1, True),
        ("number", "largerEqual", 1, 1, True),
        ("number", "larger", None, -1, True),  # (null || 0) > -1
        ("number", "larger", "10", 9, True),  # JS relational comparison converts the string
        ("number", "equal", "1", 1, False),
        ("number", "isEmpty", math.nan, None, True),
        ("number", "isEmpty", 0, None, False),
        ("number", "isNotEmpty", 1, None, True),
        ("string", "isEmpty", "", None, True),
        ("string", "isEmpty", UNDEFINED, None, True),
        ("string", "isEmpty", {}, None, True),
        ("string", "isEmpty", [1], None, False),
        ("string", "contains", "Elon Musk", "Elon", True),
        ("string", "contains", None, "x", False),
        ("string", "contains", 12345, 23, True),
        ("string", "notContains", "Elon Musk", "Arnold", True),
        ("string", "startsWith", "Elon Musk", "Elon", True),
        ("string", "notStartsWith", "Elon Musk", "Elon", False),
        ("string", "endsWith", "Elon Musk", "Musk", True),
        ("string", "notEndsWith", "Elon Musk", "Musk", False),
        ("string", "equal", "a", "a", True),
        ("string", "notEqual", "a", None, True),
        ("string", "regex", "Elon Musk", "([E])", True),
        ("string", "regex", "Sam", "/^[A-Z][a-z]*$/", True),
        ("string", "regex", "sam", "/^S/i", True),
        ("string", "notRegex", "SAM", "^[A-Z]+$/", True),  # not a literal: the slash is part of the source
        ("dateTime", "after", "2023-01-02T00:00:00.000-05:00", "2023-01-01T00:00:00.000-05:00", True),
        ("dateTime", "before", "2023-01-02T00:00:00.000-05:00", "2023-01-01T00:00:00.000-05:00", False),
        ("dateTime", "after", "2023-01-01T06:00:00+01:00", "2023-01-01T04:00:00Z", True),
        ("dateTime", "before", 1000, "1970-01-01T00:00:02Z", True),
    ],
)
def test_legacy_operations(data_type: str, operation: str, value1: Any, value2: Any, expected: bool) -> None:
    assert legacy_compare(data_type, operation, value1, value2) is expected


def test_legacy_string_method_needs_a_string() -> None:
    with pytest.raises(NodeError, match="endsWith"):
        legacy_compare("string", "endsWith", None, "x")


def test_legacy_invalid_date_is_an_error() -> None:
    with pytest.raises(NodeError, match=r'The value "soon" is not a valid DateTime\.'):
        legacy_compare("dateTime", "after", "soon", "2020-01-01")


def test_legacy_unknown_operation() -> None:
    with pytest.raises(NodeError, match="Unknown comparison operation"):
        legacy_compare("number", "between", 1, 2)


def test_legacy_groups_short_circuit_in_n8n_order() -> None:
    # With "all", the failing boolean group decides before the invalid date is ever converted.
    conditions = {
        "dateTime": [{"value1": "not a date", "value2": "2020-01-01"}],
        "boolean": [{"value1": False, "value2": True}],
    }
    assert legacy_conditions_pass(conditions, require_all=True) is False
    with pytest.raises(NodeError):
        legacy_conditions_pass(conditions, require_all=False)


def test_legacy_defaults_and_empty_conditions() -> None:
    assert legacy_conditions_pass({"boolean": [{"value1": False}]}, require_all=True) is True
    assert legacy_conditions_pass({"number": [{"value1": -1}]}, require_all=True) is True  # smaller than 0
    assert legacy_conditions_pass({}, require_all=True) is True
    assert legacy_conditions_pass({}, require_all=False) is False


# --- regex ------------------------------------------------------------------------------------------


def test_regex_literal_and_bare_source() -> None:
    assert js_regex_test("/^value$/g", "value")
    assert js_regex_test("^value$", "value")
    assert not js_regex_test("/^value$/", "value\n")  # JS $ does not match before a final newline
    assert js_regex_test(r"/(?<word>\w+)/", "hi")


def test_a_backtracking_regex_stops_at_its_time_limit() -> None:
    """If/Filter/Switch regex operators match outside an expression: they get the expression budget."""
    started = time.monotonic()
    with pytest.raises(ExpressionLimitError, match="ran out of time"):
        js_regex_test("/(a|a)+$/", "a" * 40 + "b")
    assert time.monotonic() - started < 2 * REGEX_SECONDS
    assert js_regex_test("/^(\\*\\.)?([a-zA-Z0-9-]+\\.)+[a-zA-Z]{2,}$/", "*.example.com")
    assert js_regex_test("/b+/y", "bbc") and not js_regex_test("/c/y", "bbc")  # sticky: from the start


def test_invalid_regex_is_a_node_error() -> None:
    with pytest.raises(NodeError, match="Invalid regular expression"):
        js_regex_test("/(/", "x")


# --- filter conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("string", "equals", "a", "a"), True),
        (cond("string", "notEquals", "a", "b"), True),
        (cond("string", "contains", "foobar", "oba"), True),
        (cond("string", "notContains", "foobar", "x"), True),
        (cond("string", "startsWith", "foobar", "foo"), True),
        (cond("string", "notStartsWith", "foobar", "bar"), True),
        (cond("string", "endsWith", "foobar", "bar"), True),
        (cond("string", "notEndsWith", "foobar", "foo"), True),
        (cond("string", "regex", "value", "/^value$/g"), True),
        (cond("string", "notRegex", "value", "^value$"), False),
        (cond("string", "empty", ""), True),
        (cond("string", "empty", None), True),
        (cond("string", "notEmpty", "x"), True),
        (cond("string", "exists", None), False),
        (cond("string", "notExists", UNDEFINED), True),
        (cond("number", "equals", 3, 3), True),
        (cond("number", "notEquals", 3, 4), True),
        (cond("number", "gt", 5, 3), True),
        (cond("number", "lt", 5, 3), False),
        (cond("number", "gte", 3, 3), True),
        (cond("number", "lte", 2.5, 3), True),
        (cond("number", "gt", math.nan, 1), False),
        (cond("number", "exists", math.nan), False),
        (cond("number", "empty", None), True),
        (cond("number", "notEmpty", 0), True),
        (cond("dateTime", "after", "2023-10-26T16:45:52.367Z", "2023-10-21"), True),
        (cond("dateTime", "before", "2023-10-20T16:45:52.367Z", "2023-10-21"), True),
        (cond("dateTime", "afterOrEquals", "2023-10-21T00:00:00Z", "2023-10-21"), True),
        (cond("dateTime", "beforeOrEquals", "2023-10-21T00:00:01Z", "2023-10-21"), False),
        (cond("dateTime", "equals", "2023-10-21T02:00:00+02:00", "2023-10-21T00:00:00Z"), True),
        (cond("dateTime", "notEquals", "2023-10-21", "2023-10-22"), True),
        (cond("dateTime", "empty", None), True),
        (cond("boolean", "true", True), True),
        (cond("boolean", "false", False), True),
        (cond("boolean", "equals", True, True), True),
        (cond("boolean", "notEquals", True, False), True),
        (cond("boolean", "notEmpty", False), True),
        (cond("array", "contains", ["exotic"], "exotic", rightType="any"), True),
        (cond("array", "contains", [1, 2], "1", rightType="any"), False),
        (cond("array", "contains", None, "x", rightType="any"), False),
        (cond("array", "notContains", [], "x", rightType="any"), True),
        (cond("array", "contains", [math.nan], math.nan, rightType="any"), True),
        (cond("array", "lengthEquals", [1, 2], 2, rightType="number"), True),
        (cond("array", "lengthNotEquals", [1, 2], 2, rightType="number"), False),
        (cond("array", "lengthGt", [1, 2], 1, rightType="number"), True),
        (cond("array", "lengthLt", [1, 2], 1, rightType="number"), False),
        (cond("array", "lengthGte", [1], 1, rightType="number"), True),
        (cond("array", "lengthLte", [1], 0, rightType="number"), False),
        (cond("array", "lengthEquals", [1, 2], 2), True),  # rightType left out: the editor's "number"
        (cond("array", "contains", ["a"], "a"), True),  # rightType left out: the editor's "any"
        (cond("array", "empty", []), True),
        (cond("array", "notEmpty", [0]), True),
        (cond("object", "empty", {}), True),
        (cond("object", "notEmpty", {"foo": "bar"}), True),
        (cond("object", "notEmpty", None), False),
        (cond("object", "empty", None), False),
        (cond("any", "exists", 0), True),
        (cond("any", "notExists", None), True),
    ],
)
def test_filter_operations(condition: dict[str, Any], expected: bool) -> None:
    assert check(condition) is expected


def test_strict_validation_names_the_wrong_type() -> None:
    with pytest.raises(NodeError) as caught:
        condition_passes(cond("number", "gt", "5", 3), STRICT, 2, 7)
    error = caught.value
    assert error.message == "Wrong type: '5' is a string but was expecting a number [condition 2, item 7]"
    assert error.description is not None and "Convert Value Types" in error.description
    assert error.details == {"itemIndex": 7, "conditionIndex": 2}


def test_strict_validation_of_the_right_value() -> None:
    with pytest.raises(NodeError, match="Wrong type: 'x' is a string but was expecting a number"):
        check(cond("number", "gt", 5, "x"))


def test_strict_validation_when_both_fields_are_wrong() -> None:
    with pytest.raises(NodeError, match="Comparison type expects a number but both fields are a string"):
        check(cond("number", "gt", "5", "3"))


def test_strict_validation_articles_and_objects() -> None:
    with pytest.raises(NodeError, match="Wrong type: '1,2' is an object but was expecting a string"):
        check(cond("string", "equals", [1, 2], "1,2"))
    with pytest.raises(NodeError, match="Wrong type: 'true' is a boolean but was expecting an array"):
        check(cond("array", "lengthEquals", True, 1, rightType="number"))


def test_exists_still_validates_the_type_in_strict_mode() -> None:
    with pytest.raises(NodeError, match="is a number but was expecting a string"):
        check(cond("string", "exists", 1, singleValue=True))
    assert check(cond("string", "exists", 1, singleValue=True), LOOSE)


def test_single_value_operators_ignore_the_right_value() -> None:
    assert check(cond("boolean", "true", True, "not a boolean", singleValue=True))


def test_invalid_date_is_a_type_error_in_both_modes() -> None:
    for options in (STRICT, LOOSE):
        with pytest.raises(NodeError, match="was expecting a dateTime"):
            check(cond("dateTime", "after", "someday", "2020-01-01"), options)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("number", "equals", "1", "1.0"), True),
        (cond("number", "gt", "12", "10"), True),
        (cond("number", "equals", True, 1), True),
        (cond("string", "equals", 5, "5"), True),
        (cond("string", "equals", {"a": 1}, '{"a":1}'), True),
        (cond("array", "contains", '["exotic"]', "exotic", rightType="any"), True),
        (cond("array", "lengthEquals", "['a', 'b']", "2", rightType="number"), True),
        (cond("object", "notEmpty", '{"a": 1}'), True),
        (cond("boolean", "true", "false"), True),  # options version 1: JavaScript truthiness
        (cond("boolean", "true", "0"), True),
    ],
)
def test_loose_conversions(condition: dict[str, Any], expected: bool) -> None:
    assert check(condition, LOOSE) is expected


def test_loose_booleans_parse_text_from_options_version_2() -> None:
    v2 = FilterOptions(strict=False, version=2)
    assert check(cond("boolean", "true", "false"), v2) is False
    assert check(cond("boolean", "true", "0"), v2) is False
    assert check(cond("boolean", "true", 1), v2) is True
    assert check(cond("boolean", "true", "yes"), v2) is True  # unparseable: truthiness again


def test_loose_conversion_failure_is_still_an_error() -> None:
    with pytest.raises(NodeError, match="Wrong type: 'abc' is a string but was expecting a number") as caught:
        check(cond("number", "gt", "abc", 1), LOOSE)
    assert caught.value.description is not None and "Convert Value Types" not in caught.value.description


def test_case_insensitive_comparisons() -> None:
    insensitive = FilterOptions(case_sensitive=False)
    assert check(cond("string", "startsWith", "Shane", "s"), insensitive)
    assert check(cond("string", "equals", "ABC", "abc"), insensitive)
    assert check(cond("array", "contains", ["Exotic"], "exotic", rightType="any"), insensitive)
    # n8n lowercases only the subject for regex operators, never the pattern
    assert not check(cond("string", "regex", "ABC", "^ABC$"), insensitive)
    assert not check(cond("string", "startsWith", "Shane", "s"))


def test_naive_dates_are_read_in_the_workflow_zone() -> None:
    berlin = filter_options({}, ignore_case=False, loose=False, version=1, timezone="Europe/Berlin")
    # 2023-10-21T00:00 in Berlin is 2023-10-20T22:00Z
    assert condition_passes(
        cond("dateTime", "after", "2023-10-20T22:30:00Z", "2023-10-21T00:00:00"), berlin, 0, 0
    )


def test_unknown_operator_is_an_error() -> None:
    with pytest.raises(NodeError, match="Unknown filter operator 'number:contains'"):
        check(cond("number", "contains", 1, 1))


def test_filter_combinators() -> None:
    true, false = cond("number", "equals", 1, 1), cond("number", "equals", 1, 2)
    assert filter_passes({"conditions": [true, false], "combinator": "or"}, STRICT, 0)
    assert not filter_passes({"conditions": [true, false], "combinator": "and"}, STRICT, 0)
    assert filter_passes({"conditions": [], "combinator": "and"}, STRICT, 0)
    assert filter_passes(None, STRICT, 0)


def test_or_stops_before_a_later_type_error() -> None:
    value = {"conditions": [cond("number", "equals", 1, 1), cond("number", "gt", "x", 1)], "combinator": "or"}
    assert filter_passes(value, STRICT, 0)


def test_filter_options_from_value_and_node_switches() -> None:
    stored = {"options": {"caseSensitive": False, "typeValidation": "loose", "version": 2}}
    options = filter_options(stored, ignore_case=False, loose=False, version=1)
    assert (options.case_sensitive, options.strict, options.version) == (False, False, 2)
    defaults = filter_options({}, ignore_case=False, loose=False, version=1)
    assert (defaults.case_sensitive, defaults.strict, defaults.version) == (True, True, 1)
    switched = filter_options(
        {"options": {"typeValidation": "strict"}}, ignore_case=True, loose=True, version=2
    )
    assert (switched.case_sensitive, switched.strict, switched.version) == (False, False, 2)
    assert (
        filter_options({}, ignore_case=False, loose=False, version=1, timezone="Not/AZone").zone is not None
    )


# --- schemas ----------------------------------------------------------------------------------------


def _valid(schema: dict[str, Any], instance: Any) -> bool:
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(instance))


def test_filter_schema() -> None:
    good = {"conditions": [cond("string", "equals", "={{ $json.a }}", "x")], "combinator": "and"}
    assert _valid(FILTER_SCHEMA, good)
    assert not _valid(FILTER_SCHEMA, {"conditions": [cond("string", "gt", "a", "b")]})
    assert not _valid(FILTER_SCHEMA, {"conditions": [cond("text", "equals", "a", "b")]})
    assert not _valid(FILTER_SCHEMA, {"conditions": [{"leftValue": 1}]})
    assert not _valid(FILTER_SCHEMA, {"combinator": "xor"})
    assert not _valid(FILTER_SCHEMA, {"options": {"typeValidation": "lenient"}})
    assert _valid(FILTER_SCHEMA, {"options": {"caseSensitive": "={{ true }}"}, "conditions": []})


def test_legacy_schema() -> None:
    schema = legacy_conditions_schema()
    assert _valid(schema, {"number": [{"value1": "={{ $json.v }}", "operation": "isEmpty"}]})
    assert _valid(schema, {"string": [{"value1": "={{ $json.v }}", "value2": "={{ null }}"}]})
    assert not _valid(schema, {"number": [{"value1": 1, "operation": "contains"}]})
    assert not _valid(schema, {"number": [{"value1": "one"}]})
    assert not _valid(schema, {"boolean": [{"value1": "yes"}]})
    assert not _valid(schema, {"dateTime": [{"operation": "isEmpty"}]})


def test_single_value_operators_without_the_flag() -> None:
    assert check(cond("number", "exists", 1, ""))
    assert check(cond("boolean", "false", False, ""))
    with pytest.raises(NodeError, match="Wrong type: '' is a string but was expecting a number"):
        check(cond("number", "equals", 1, ""))
