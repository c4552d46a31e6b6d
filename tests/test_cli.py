"""The command line's contract: exit codes and JSON shapes other tools rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tenantflow.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "order-routing.json"
ORDERS = ROOT / "examples" / "orders.json"
runner = CliRunner()


def write(tmp_path: Path, document: Any, name: str = "wf.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def set_workflow(value: str, **node: Any) -> dict[str, Any]:
    return {
        "name": "cli",
        "nodes": [
            {
                "id": "t",
                "name": "Start",
                "type": "n8n-nodes-base.manualTrigger",
                "typeVersion": 1,
                "position": [0, 0],
            },
            {
                "id": "s",
                "name": "Set",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "position": [200, 0],
                "parameters": {
                    "assignments": {
                        "assignments": [{"id": "1", "name": "out", "value": value, "type": "string"}]
                    },
                    "includeOtherFields": True,
                },
                **node,
            },
        ],
        "connections": {"Start": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
    }


def test_validate_exit_codes(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(EXAMPLE)]).exit_code == 0
    bad = write(tmp_path, {"nodes": [{"name": "x", "type": "nope"}], "connections": {}})
    result = runner.invoke(app, ["validate", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert any(e["code"] == "UNKNOWN_NODE_TYPE" and e["path"] == "nodes[0].type" for e in report["errors"])
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.json")]).exit_code == 2
    garbled = write(tmp_path, "{not json", "garbled.json")
    result = runner.invoke(app, ["validate", str(garbled), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0]["code"] == "INVALID_JSON"


def test_run_json_prints_the_execution_record() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLE), "--input", f"@{ORDERS}", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "success"
    assert set(record) == {
        "id",
        "workflowId",
        "status",
        "startTime",
        "endTime",
        "duration",
        "state",
        "metrics",
        "logs",
        "error",
    }
    merged = record["state"]["All orders"]["output"][0]
    assert [item["json"]["route"] for item in merged] == ["manual-review", "manual-review", "auto", "auto"]
    assert record["metrics"]["nodesExecuted"] == 5


def test_run_readable_summary_shows_a_line_per_node() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLE), "--input", f"@{ORDERS}"])
    assert result.exit_code == 0
    for node in ("When orders arrive", "Large order?", "Flag for review", "Auto-approve", "All orders"):
        assert node in result.output


def test_run_vars_secrets_and_failure_exit_code(tmp_path: Path) -> None:
    path = write(tmp_path, set_workflow("={{ $vars.who }} uses {{ $secrets.TOKEN }}"))
    result = runner.invoke(app, ["run", str(path), "--var", "who=ann", "--secret", "TOKEN=hunter2", "--json"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.stdout
    assert json.loads(result.stdout)["state"]["Set"]["output"][0][0]["json"]["out"] == "ann uses ***"
    failing = write(tmp_path, set_workflow("={{ JSON.parse('{') }}"), "failing.json")
    result = runner.invoke(app, ["run", str(failing), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_EXPRESSION"


def test_run_input_inline_json_and_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, set_workflow("={{ $json.name }}!"))
    result = runner.invoke(app, ["run", str(path), "--input", '{"name": "x"}', "--json"])
    assert json.loads(result.stdout)["state"]["Set"]["output"][0][0]["json"] == {"name": "x", "out": "x!"}
    assert runner.invoke(app, ["run", str(path), "--input", "{nope"]).exit_code == 2


def test_run_timeout_ends_with_status_timeout(tmp_path: Path) -> None:
    wait = {
        "id": "w",
        "name": "Wait",
        "type": "n8n-nodes-base.wait",
        "typeVersion": 1.1,
        "position": [0, 0],
        "parameters": {"resume": "timeInterval", "amount": 30, "unit": "seconds"},
    }
    document = set_workflow("x")
    document["nodes"].append(wait)
    document["connections"]["Set"] = {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}
    result = runner.invoke(app, ["run", str(write(tmp_path, document)), "--timeout", "0.2", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "timeout"


def test_nodes_and_schema() -> None:
    listed = json.loads(runner.invoke(app, ["nodes", "--json"]).stdout)
    types = {entry["type"] for entry in listed}
    assert {
        "n8n-nodes-base.set",
        "n8n-nodes-base.if",
        "n8n-nodes-base.merge",
        "n8n-nodes-testing.testData",
    } <= types
    assert all("parameters" in entry for entry in listed)
    schema = json.loads(runner.invoke(app, ["schema"]).stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "nodes" in schema["properties"]


@pytest.mark.parametrize("as_json", [False, True])
def test_conformance_command_reports_each_fixture(tmp_path: Path, as_json: bool) -> None:
    document = set_workflow("={{ 'a' + 'b' }}")
    document["pinData"] = {"Set": [{"json": {"out": "ab"}}]}
    write(tmp_path, document, "one.json")
    args = ["conformance", str(tmp_path), *(["--json"] if as_json else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    if as_json:
        assert json.loads(result.stdout)["totals"] == {"pass": 1, "fail": 0, "unsupported": 0}
    else:
        assert "1 passed, 0 failed, 0 unsupported" in result.stdout


def test_store_migrate_command(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = runner.invoke(app, ["migrate", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "upgraded from empty" in first.output
    second = runner.invoke(app, ["migrate"], env={"TENANTFLOW_DATABASE_URL": url})
    assert second.exit_code == 0 and "schema is current" in second.output
    refused = runner.invoke(app, ["migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
    assert refused.exit_code == 1 and "cannot migrate" in refused.output


def test_store_prune_command(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    assert runner.invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    result = runner.invoke(app, ["prune", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["deleted"] == 0 and report["vacuum"]["sizeAfter"] > 0
    assert runner.invoke(app, ["prune", "--database-url", url, "--batch-size", "0"]).exit_code == 2
