"""The error table: the seed's numbers exactly, one number per code, and every code documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenantflow.engine.errors import ERROR_NUMBERS, VALIDATION_CLASSES, ErrorCode, error_number, seed_class

# Seed document 003's WorkflowErrorCode, copied by hand: the table must match it, not the other way round.
SEED = {
    "INVALID_NODES": 4220,
    "INVALID_EDGES": 4221,
    "CIRCULAR_DEPENDENCY": 4222,
    "ORPHANED_NODE": 4223,
    "MISSING_VARIABLE": 4224,
    "INVALID_VARIABLE_TYPE": 4225,
    "WORKFLOW_LOCKED": 4231,
    "LOCK_ACQUISITION_FAILED": 4232,
    "LOCK_NOT_OWNED": 4233,
    "WORKFLOW_NOT_EXECUTABLE": 4241,
    "EXECUTION_IN_PROGRESS": 4242,
    "VALIDATION_STATUS_INVALID": 4243,
    "TENANT_MISMATCH": 4034,
    "CROSS_TENANT_ACCESS_DENIED": 4035,
    "INVALID_EXPORT_FORMAT": 4251,
    "IMPORT_VALIDATION_FAILED": 4252,
    "WORKFLOW_NOT_FOUND": 4041,
    "WORKFLOW_DISABLED": 4042,
}
SEED_CLASSES = set(list(SEED)[:6])
DOCS = Path(__file__).parents[2] / "docs" / "errors.md"
# A table row: | `CODE` (warning)? | number | [seed class or status |] meaning | fix |
ROW = re.compile(r"^\| `(?P<code>[A-Z_]+)`(?: \(warning\))? \| (?P<number>\d+) \| (?P<rest>.*)\|$")


def documented_rows() -> dict[str, tuple[int, str]]:
    rows: dict[str, tuple[int, str]] = {}
    for line in DOCS.read_text().splitlines():
        match = ROW.match(line)
        if match is not None:
            assert match["code"] not in rows, f"{match['code']} is documented twice"
            rows[match["code"]] = (int(match["number"]), match["rest"])
    return rows


def test_the_seed_codes_have_the_seed_names_and_numbers() -> None:
    assert {name: ERROR_NUMBERS[ErrorCode(name)] for name in SEED} == SEED


def test_every_code_has_one_number_of_its_own() -> None:
    assert set(ERROR_NUMBERS) == set(ErrorCode)
    numbers = list(ERROR_NUMBERS.values())
    assert len(numbers) == len(set(numbers))
    assert all(1000 <= number <= 9999 for number in numbers)


def test_the_projects_own_codes_stay_out_of_the_seeds_ranges() -> None:
    seed_numbers = set(SEED.values())
    reserved = {
        *range(4220, 4226),
        *range(4231, 4234),
        *range(4241, 4244),
        4251,
        4252,
        4034,
        4035,
        4041,
        4042,
    }
    assert seed_numbers <= reserved
    own = {code: number for code, number in ERROR_NUMBERS.items() if code.value not in SEED}
    assert [code for code, number in own.items() if number in reserved or 4200 <= number < 4300] == []


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_number_reads_the_table(code: ErrorCode) -> None:
    assert error_number(code) == ERROR_NUMBERS[code]


def test_every_validation_code_falls_in_one_seed_class() -> None:
    assert {group.value for group in VALIDATION_CLASSES.values()} == SEED_CLASSES
    assert all(seed_class(ErrorCode(name)) is ErrorCode(name) for name in SEED_CLASSES)
    assert seed_class(ErrorCode.UNKNOWN_CONNECTION_TARGET) is ErrorCode.INVALID_EDGES
    assert seed_class(ErrorCode.INVALID_OUTPUT_INDEX) is ErrorCode.INVALID_EDGES
    assert seed_class(ErrorCode.UNKNOWN_NODE_TYPE) is ErrorCode.INVALID_NODES
    assert seed_class(ErrorCode.TIMEOUT) is None


def test_every_error_code_is_documented_with_its_number() -> None:
    rows = documented_rows()
    assert sorted(set(ErrorCode.__members__) - set(rows)) == []
    assert sorted(set(rows) - set(ErrorCode.__members__)) == []  # nothing documented that does not exist
    assert {code: number for code, (number, _) in rows.items()} == {
        code.value: number for code, number in ERROR_NUMBERS.items()
    }


def test_documented_validation_rows_name_their_seed_class() -> None:
    rows = documented_rows()
    for code, group in VALIDATION_CLASSES.items():
        assert rows[code.value][1].startswith(f"`{group.value}` {error_number(group)} |"), code
