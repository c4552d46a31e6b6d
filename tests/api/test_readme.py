"""README's route table is the ACL table: a route, a level or an owner rule changed in one but not the
other fails here, so the documentation users read cannot drift from what the service enforces."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.acl import TABLE

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(
    r"^\| `(?P<method>[A-Z]+) (?P<path>\S+)` \| (?P<level>\d) (?P<name>[a-z]+)(?: or (?P<owner>[a-z ]+))? \|"
)


def documented() -> dict[tuple[str, str], tuple[int, str | None]]:
    rows: dict[tuple[str, str], tuple[int, str | None]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        found = _ROW.match(line)
        if found:
            path = found["path"].replace("…", "/api/v1/{tenant}")
            rows[(found["method"], path)] = (int(found["level"]), found["owner"])
    return rows


def test_readme_lists_every_route_with_its_level_and_owner_rule() -> None:
    expected = {rule.key: (int(rule.level), rule.owner.value if rule.owner else None) for rule in TABLE}
    assert documented() == expected
