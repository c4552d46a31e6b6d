"""n8n's regression workflows, compared by value with the executions n8n recorded. A workflow that passed
before must keep passing.

``regressions_expected.txt`` lists the workflows expected to pass; add a line when one starts to.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantflow.cli import app
from tenantflow.conformance import FixtureResult, first_difference
from tenantflow.nodes import default_registry
from tenantflow.regressions import (
    VARYING,
    missing_local_files,
    regression_workflows,
    run_regression,
    shallow,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "n8n-test-workflows"
EXPECTED = ROOT / "tests" / "regressions_expected.txt"
REGISTRY = default_registry(plugins=False)


def _run_all(root: Path) -> list[FixtureResult]:
    async def run() -> list[FixtureResult]:
        return [await run_regression(w, s, REGISTRY, root) for w, s in regression_workflows(root)]

    return asyncio.run(run())


def test_expected_regression_workflows_still_pass() -> None:
    assert CORPUS.is_dir(), f"the regression corpus is missing at {CORPUS}"
    results = _run_all(CORPUS)
    expected = {line.strip() for line in EXPECTED.read_text().splitlines() if line.strip()}
    by_path = {result.path: result for result in results}
    assert len(by_path) == 14, sorted(by_path)
    assert expected <= by_path.keys(), f"listed but not found: {sorted(expected - by_path.keys())}"
    totals = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "unsupported")}
    print(f"\nn8n regression workflows: {totals}")
    for result in results:
        print(f"  {result.status:<11} {result.path}  {result.reason}")
    unlisted = sorted(r.path for r in results if r.status == "pass" and r.path not in expected)
    if unlisted:
        print("passing now; list them in regressions_expected.txt: " + ", ".join(unlisted))
    regressions = [f"{p}: {by_path[p].reason}" for p in sorted(expected) if by_path[p].status != "pass"]
    assert not regressions, "\n".join(regressions)


def test_shallow_rewrites_one_level_as_n8n_does() -> None:
    data = {"s": "x", "n": 1.5, "b": False, "a": [1, [2]], "o": {"k": {"deep": 1}}, "z": None, "e": {}}
    assert shallow(data) == {
        "s": "x",
        "n": 1.5,
        "b": False,
        "a": ["json array"],
        "o": {"object": True},
        "z": {"object": True},
        "e": {"object": True},
    }


def test_first_difference_names_the_path_deep_in_an_item() -> None:
    expected = {"items": [{"json": {"a": {"b": [1, {"c": "x"}]}}}]}
    assert first_difference(expected, json.loads(json.dumps(expected))) is None
    changed = {"items": [{"json": {"a": {"b": [1, {"c": "y"}]}}}]}
    assert first_difference(expected, changed) == '$.items[0].json.a.b[1].c: expected "x", got "y"'
    assert first_difference({"a b": 1}, {"a b": True}) == '$["a b"]: expected 1, got true'
    assert first_difference({"n": 1}, {"n": 1.0}) is None
    assert first_difference([1, 2], [1]) == "$: expected 2 entries, got 1"
    assert first_difference({"k": 1}, {}) == "$.k: missing (expected 1)"
    assert first_difference({}, {"k": 1}) == "$.k: unexpected (got 1)"


def _node(name: str, node_type: str, x: int, **parameters: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": f"n8n-nodes-base.{node_type}",
        "typeVersion": 1,
        "position": [x, 0],
        "parameters": parameters,
    }


def _run(source: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "startTime": 1,
        "executionTime": 2,
        "hints": [],
        "executionStatus": "success",
        "source": [{"previousNode": source}] if source else [],
        "data": {"main": [items]},
    }


def _corpus(tmp_path: Path, set_value: str, recorded_value: str, **extra_nodes: Any) -> Path:
    """A one-workflow corpus: Start -> Set (v1, ``name``), with the snapshot n8n would have written."""
    nodes = [
        _node("Start", "start", 0),
        _node("Set", "set", 200, values={"string": [{"name": "name", "value": set_value}]}),
        *extra_nodes.values(),
    ]
    connections = {"Start": {"main": [[{"node": "Set", "index": 0}]]}}
    workflow = {"name": "t", "nodes": nodes, "connections": connections}
    recorded = {"json": {"name": recorded_value}, "pairedItem": {"item": 0}, "index": 0}
    run_data = {
        "Start": [_run(None, [{"json": {}, "pairedItem": {"item": 0}}])],
        "Set": [_run("Start", [recorded])],
    }
    snapshot = {"data": {"resultData": {"runData": run_data}}, "startedAt": "x", "status": "running"}
    (tmp_path / "workflows").mkdir(parents=True)
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "workflows" / "1.json").write_text(json.dumps(workflow))
    (tmp_path / "snapshots" / "1-snapshot.json").write_text(json.dumps(snapshot))
    return tmp_path


def test_a_matching_run_passes_and_a_changed_value_fails_with_its_path(tmp_path: Path) -> None:
    (same,) = _run_all(_corpus(tmp_path / "same", "test", "test"))
    assert (same.status, same.reason, same.checked) == ("pass", "", 2)
    (changed,) = _run_all(_corpus(tmp_path / "changed", "test", "tesT"))
    assert changed.status == "fail"
    assert changed.reason == 'runData.Set[0].data.main[0][0].json.name: expected "tesT", got "test"'


def test_an_extra_node_and_a_varying_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = _node("Extra", "noOp", 400)
    corpus = _corpus(tmp_path / "extra", "test", "test", extra=extra)
    workflow = json.loads((corpus / "workflows" / "1.json").read_text())
    workflow["connections"]["Set"] = {"main": [[{"node": "Extra", "index": 0}]]}
    (corpus / "workflows" / "1.json").write_text(json.dumps(workflow))
    (result,) = _run_all(corpus)
    assert result.reason == "runData.Extra: ran, but n8n did not run it"
    varying = _corpus(tmp_path / "varying", "=file{{ Date.now() }}", "file1738078143042")
    (before,) = _run_all(varying)
    assert before.status == "fail" and "json.name" in before.reason
    monkeypatch.setitem(VARYING, "1.json", (re.compile(r"file\d{13}"), "file<now>"))
    (after,) = _run_all(varying)
    assert after.status == "pass", after.reason


def test_a_file_read_but_neither_written_nor_on_this_machine_is_reported(tmp_path: Path) -> None:
    present = tmp_path / "present.pdf"
    present.write_bytes(b"%PDF")
    nodes = [
        _node("Read", "readBinaryFile", 0, filePath=str(tmp_path / "absent.pdf")),
        _node("Here", "readBinaryFile", 0, filePath=str(present)),
        _node("Written", "readBinaryFile", 0, filePath="/tmp/made-by-the-workflow.txt"),
        _node("Write", "writeBinaryFile", 0, fileName="/tmp/made-by-the-workflow.txt"),
        _node("Computed", "readBinaryFile", 0, filePath="={{ $json.path }}"),
    ]
    assert missing_local_files({"nodes": nodes}) == [str(tmp_path / "absent.pdf")]


def test_conformance_command_replays_regressions_and_counts_real_exports(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "regressions", "test", "test")
    exports = tmp_path / "realworld" / "workflows"
    exports.mkdir(parents=True)
    (exports / "good.json").write_text((corpus / "workflows" / "1.json").read_text())
    (exports / "bad.json").write_text(json.dumps({"nodes": [{"name": "x"}], "connections": {}}))
    args = ["conformance", "--regressions", str(corpus), "--realworld", str(tmp_path / "realworld")]
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "regressions: 1 passed, 0 failed, 0 unsupported" in result.stdout
    assert "realworld: 1 of 2 validate" in result.stdout
    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert report["regressions"]["totals"] == {"pass": 1, "fail": 0, "unsupported": 0}
    assert report["realworld"]["validate"] == 1 and list(report["realworld"]["refusals"]) == ["bad.json"]
    assert runner.invoke(app, ["conformance"]).exit_code == 2
