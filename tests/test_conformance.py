"""n8n's own node-test workflows, replayed n8n's way. A fixture that passed before must keep passing.

``conformance_expected.txt`` lists the fixtures expected to pass; add a line when a node lands.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tenantflow.conformance import FixtureResult, fixture_files, run_fixture
from tenantflow.nodes import default_registry

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "n8n-conformance"
EXPECTED = ROOT / "tests" / "conformance_expected.txt"
# Fixtures kept out of the unit run, with the reason; `make conformance` still replays them.
SLOW = {"Wait/Wait.workflow.json": "waits 42 s of real time (n8n's harness used fake timers)"}


def _run_all() -> list[FixtureResult]:
    assert CORPUS.is_dir(), f"the conformance corpus is missing at {CORPUS}"
    registry = default_registry(plugins=False)

    async def run() -> list[FixtureResult]:
        paths = [p for p in fixture_files(CORPUS) if str(p.relative_to(CORPUS)) not in SLOW]
        return [await run_fixture(path, registry, CORPUS) for path in paths]

    return asyncio.run(run())


def test_expected_fixtures_still_pass() -> None:
    results = _run_all()
    expected = {line.strip() for line in EXPECTED.read_text().splitlines() if line.strip()}
    by_path = {result.path: result for result in results}
    expected -= SLOW.keys()
    assert expected <= by_path.keys(), f"listed but not found: {sorted(expected - by_path.keys())}"
    regressions = [f"{p}: {by_path[p].reason}" for p in sorted(expected) if by_path[p].status != "pass"]
    passed = sum(result.status == "pass" for result in results)
    print(f"\nn8n conformance: {passed} of {len(results)} fixtures pass")
    assert not regressions, "\n".join(regressions)
    assert passed >= len(expected)
    # Every issue-2 family (If, Set, Switch, Merge, Filter, SplitInBatches) needing no Code node is listed.
    for family in ("If/", "Set/", "Switch/V2", "Switch/V3", "Merge/", "Filter/", "SplitInBatches/"):
        assert any(path.startswith(family) for path in expected), family
