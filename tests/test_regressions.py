"""n8n's regression workflows, compared by value with the executions n8n recorded. A workflow that passed
before must keep passing.

``regressions_expected.txt`` lists the workflows expected to pass; add a line when one starts to.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantflow import regressions
from tenantflow.cli import app
from tenantflow.conformance import FixtureResult, first_difference
from tenantflow.nodes import default_registry
from tenantflow.regressions import (
    VARYING,
    missing_local_files,
    recorded_files,
    regression_workflows,
    run_regression,
    shallow,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "n8n-test-workflows"
EXPECTED = ROOT / "tests" / "regressions_expected.txt"
REGISTRY = default_registry(plugins=False)


def _run_all(root: Path, *, allow_host_commands: bool = True) -> list[FixtureResult]:
    """Replays ``root``; n8n's own workflows are trusted with Execute Command, as the operator opts in."""

    async def run() -> list[FixtureResult]:
        return [
            await run_regression(w, s, REGISTRY, root, allow_host_commands=allow_host_commands)
            for w, s in regression_workflows(root)
        ]

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
    recorded = {"json": {"name": recorded_value}, "pairedItem": {"item": 0}, "index": 0}
    return _chain_corpus(tmp_path, nodes, {"Set": [recorded]})


START_ITEM = {"json": {}, "pairedItem": {"item": 0}}


def _chain_corpus(tmp_path: Path, nodes: list[dict[str, Any]], outputs: dict[str, list[Any]]) -> Path:
    """Workflow ``1.json``: ``nodes`` connected in the order of ``outputs`` after Start, and the snapshot
    in which each of them output those items."""
    order = ["Start", *outputs]
    connections = {a: {"main": [[{"node": b, "index": 0}]]} for a, b in itertools.pairwise(order)}
    workflow = {"name": "t", "nodes": nodes, "connections": connections}
    run_data = {"Start": [_run(None, [START_ITEM])]}
    run_data.update({node: [_run(order[i], items)] for i, (node, items) in enumerate(outputs.items())})
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


def _read_file_corpus(tmp_path: Path, directory: Path, write_it: bool = False) -> Path:
    """Start -> Read Binary File of ``directory/fixture.txt`` (written first by the workflow if
    ``write_it``), with the snapshot n8n wrote where the file held ``hi``."""
    path = str(directory / "fixture.txt")
    data = {"data": "aGk=", "fileExtension": "txt", "fileName": "fixture.txt"}
    nodes = [_node("Start", "start", 0), _node("Read", "readBinaryFile", 200, filePath=path)]
    outputs: dict[str, list[Any]] = {}
    if write_it:
        nodes += [
            _node(
                "Make",
                "function",
                0,
                functionCode=f"return [{{json: {{}}, binary: {{data: {json.dumps(data)}}}}}];",
            ),
            _node("Write", "writeBinaryFile", 0, fileName=path),
        ]
        outputs["Make"] = [{"json": {}, "binary": {"data": data}, "pairedItem": {"item": 0}}]
        outputs["Write"] = [{"json": {"fileName": path}, "binary": {"data": data}, "pairedItem": {"item": 0}}]
    read = {
        **data,
        "mimeType": "text/plain",
        "fileType": "text",
        "directory": str(directory),
        "fileSize": "2 B",
    }
    json_before = outputs["Write"][0]["json"] if write_it else {}
    outputs["Read"] = [{"json": json_before, "binary": {"data": read}, "pairedItem": {"item": 0}}]
    return _chain_corpus(tmp_path, nodes, outputs)


def test_the_files_a_read_node_found_are_restored_from_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "files"
    monkeypatch.setattr(regressions, "FILES_ROOT", str(files))
    (result,) = _run_all(_read_file_corpus(tmp_path / "restored", files / "in"))
    assert (result.status, result.reason) == ("pass", "")
    assert (files / "in" / "fixture.txt").read_bytes() == b"hi"
    (files / "in" / "fixture.txt").write_bytes(b"changed on this machine")
    (again,) = _run_all(_read_file_corpus(tmp_path / "again", files / "in"))
    assert again.status == "pass" and (files / "in" / "fixture.txt").read_bytes() == b"hi"
    # Outside the files directory nothing is written; the workflow is unsupported, as the file is missing.
    (outside,) = _run_all(_read_file_corpus(tmp_path / "outside", tmp_path / "elsewhere"))
    assert outside.status == "unsupported" and "elsewhere/fixture.txt" in outside.reason
    assert not (tmp_path / "elsewhere").exists()


def test_a_file_the_workflow_writes_is_not_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tmp_path / "files"
    files.mkdir()
    monkeypatch.setattr(regressions, "FILES_ROOT", str(files))
    corpus = _read_file_corpus(tmp_path / "written", files, write_it=True)
    document = json.loads((corpus / "workflows" / "1.json").read_text())
    run_data = json.loads((corpus / "snapshots" / "1-snapshot.json").read_text())["data"]["resultData"][
        "runData"
    ]
    assert recorded_files(document, run_data, str(files)) == {}
    (result,) = _run_all(corpus)
    assert (result.status, result.reason) == ("pass", "")


def test_execute_command_runs_only_when_the_replay_allows_it(tmp_path: Path) -> None:
    nodes = [_node("Start", "start", 0), _node("Shell", "executeCommand", 200, command="echo hi")]
    shell = {"json": {"exitCode": 0, "stderr": "", "stdout": "hi"}, "pairedItem": {"item": 0}}
    corpus = _chain_corpus(tmp_path, nodes, {"Shell": [shell]})
    (refused,) = _run_all(corpus, allow_host_commands=False)
    assert refused.status == "unsupported" and "--allow-host-commands" in refused.reason
    (allowed,) = _run_all(corpus)
    assert (allowed.status, allowed.reason) == ("pass", "")
    args = ["conformance", "--regressions", str(corpus)]
    assert "0 passed, 0 failed, 1 unsupported" in CliRunner().invoke(app, args).stdout
    assert "1 passed, 0 failed" in CliRunner().invoke(app, [*args, "--allow-host-commands"]).stdout
