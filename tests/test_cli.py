"""The command line's contract: exit codes and JSON shapes other tools rely on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tenantflow.cli import app
from tenantflow.services.runtime import open_store
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.identity import api_key_pepper, authenticate_api_key
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store

T = TypeVar("T")

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


def test_migrate_defaults_to_the_servers_database(operator: Invoke, tmp_path: Path) -> None:
    result = operator("migrate")
    assert result.exit_code == 0 and "upgraded from empty" in result.output
    assert (tmp_path / "data" / "tenantflow.db").is_file()
    assert "schema is current" in operator("migrate", env={"TENANTFLOW_DATA_DIR": "data"}).output


def test_store_prune_command(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    assert runner.invoke(app, ["migrate", "--database-url", url]).exit_code == 0
    result = runner.invoke(app, ["prune", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["deleted"] == 0 and report["vacuum"]["sizeAfter"] > 0
    assert runner.invoke(app, ["prune", "--database-url", url, "--batch-size", "0"]).exit_code == 2


STORE_MODULES = ("sqlalchemy", "alembic", "tenantflow.store", "tenantflow.conformance")


def loaded_by(script: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported once ``script`` ran."""
    probe = f"{script}\nimport json, sys\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_neither_the_store_nor_rich() -> None:
    """Start-up time: every command imports what it uses, so `validate` never pays for the store."""
    assert loaded_by("import tenantflow.cli", (*STORE_MODULES, "rich")) == []


def test_validate_loads_neither_the_store_nor_rich(tmp_path: Path) -> None:
    """Nor aiohttp, BeautifulSoup or cryptography: node modules import those when a node runs."""
    path = write(tmp_path, set_workflow("x"))
    script = f"from tenantflow.cli import app\napp(['validate', {str(path)!r}], standalone_mode=False)"
    lazy = ("rich", "aiohttp", "bs4", "markdown", "cryptography")
    assert loaded_by(script, (*STORE_MODULES, *lazy)) == []


# Operator commands: the embedded default (SQLite and a keyring under ./data), as a first `serve` would use.
Invoke = Callable[..., Result]


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Runs commands in an empty directory with no TENANTFLOW_* settings but those a test passes."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SECRET_KEYS", "REDIS_URL", "DATA_DIR", "HOST", "PORT"):
        monkeypatch.delenv(f"TENANTFLOW_{name}", raising=False)

    def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=stdin, env=env)

    return invoke


def in_store(action: Callable[[Store], Awaitable[T]]) -> T:
    """Look at what the commands did through the store, opened from the same settings."""

    async def run() -> T:
        store = await open_store(Settings())
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(result: Result, *fragments: str) -> None:
    """A refusal: exit 1, each fragment (the error code, the subject) in the message, no traceback."""
    assert result.exit_code == 1, result.output
    assert all(fragment in result.output for fragment in fragments), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def authenticates(key: str) -> bool:
    async def check(store: Store) -> bool:
        return await authenticate_api_key(store.database, api_key_pepper(store.keyring), key) is not None

    return in_store(check)


def test_tenant_create_and_list(operator: Invoke) -> None:
    created = as_json(operator("tenant", "create", "acme", "--name", "Acme [EU]", "--json"))
    assert created == {
        "id": "acme",
        "name": "Acme [EU]",
        "retention": {"days": 14, "maxPerWorkflow": 10000},
        "settings": {},
    }
    human = operator("tenant", "create", "zeta")
    assert human.exit_code == 0 and "created tenant zeta (zeta)" in human.stdout
    assert [t["id"] for t in as_json(operator("tenant", "list", "--json"))] == ["acme", "zeta"]
    assert [t["id"] for t in as_json(operator("tenant", "list", "--after", "acme", "--json"))] == ["zeta"]
    table = operator("tenant", "list")
    assert table.exit_code == 0 and "Acme [EU]" in table.stdout and "14 days" in table.stdout
    refused(operator("tenant", "create", "acme"), "acme", "exists")
    refused(operator("tenant", "create", "Not Valid"), "INVALID_VALUE", "tenant ids")


def test_user_create(operator: Invoke) -> None:
    operator("tenant", "create", "acme")
    user = as_json(
        operator("user", "create", "--tenant", "acme", "--email", "Ann@Example.com", "--level", "3", "--json")
    )
    assert set(user) == {"id", "email", "displayName", "level", "disabled", "createdAt"}
    assert (user["email"], user["level"], user["disabled"]) == ("ann@example.com", 3, False)
    human = operator("user", "create", "--tenant", "acme", "--email", "bob@example.com", "--level", "1")
    assert human.exit_code == 0 and "bob@example.com in acme, level 1 (user)" in human.stdout
    refused(
        operator("user", "create", "--tenant", "nope", "--email", "a@example.com", "--level", "1"),
        "TENANT_NOT_FOUND",
        "nope",
    )
    refused(
        operator("user", "create", "--tenant", "acme", "--email", "ann@example.com", "--level", "1"),
        "DUPLICATE_USER",
    )
    refused(
        operator("user", "create", "--tenant", "acme", "--email", "c@example.com", "--level", "9"),
        "INVALID_VALUE",
    )
    refused(
        operator("user", "create", "--tenant", "acme", "--email", "nope", "--level", "1"), "INVALID_VALUE"
    )


def test_user_create_reads_the_password_from_stdin(operator: Invoke) -> None:
    operator("tenant", "create", "acme")
    args = (
        "user",
        "create",
        "--tenant",
        "acme",
        "--email",
        "ann@example.com",
        "--level",
        "2",
        "--password-stdin",
    )
    assert operator(*args, stdin="s3cret pass\n").exit_code == 0
    refused(operator(*args, stdin=""), "--password-stdin")

    async def verify(store: Store) -> tuple[bool, bool]:
        async with store.unit(Actor("acme")) as unit:
            good = await unit.users.verify_password("ann@example.com", "s3cret pass")
            bad = await unit.users.verify_password("ann@example.com", "s3cret pass\n")
        return good is not None, bad is not None

    assert in_store(verify) == (True, False)


def test_key_create_and_revoke(operator: Invoke) -> None:
    operator("tenant", "create", "acme")
    operator("user", "create", "--tenant", "acme", "--email", "ann@example.com", "--level", "2")
    created = as_json(operator("key", "create", "--tenant", "acme", "--email", "ann@example.com", "--json"))
    assert set(created) == {
        "id",
        "userId",
        "name",
        "prefix",
        "levelCap",
        "createdAt",
        "lastUsedAt",
        "revokedAt",
        "key",
    }
    assert (created["name"], created["levelCap"], created["revokedAt"]) == ("cli", 2, None)
    assert created["key"].startswith(created["prefix"]) and authenticates(created["key"])

    human = operator(
        "key", "create", "--tenant", "acme", "--email", "ann@example.com", "--name", "ci", "--level-cap", "1"
    )
    assert human.exit_code == 0 and "shown once" in human.stderr
    key = human.stdout.strip()
    assert key.startswith("tfk_") and authenticates(key)

    revoked = as_json(operator("key", "revoke", "--tenant", "acme", created["id"], "--json"))
    assert revoked["id"] == created["id"] and revoked["revokedAt"] is not None and "key" not in revoked
    assert not authenticates(created["key"]) and authenticates(key)
    again = operator("key", "revoke", "--tenant", "acme", created["id"])
    assert again.exit_code == 0 and "revoked at" in again.stdout


def test_key_refusals(operator: Invoke) -> None:
    operator("tenant", "create", "acme")
    operator("tenant", "create", "other")
    operator("user", "create", "--tenant", "acme", "--email", "ann@example.com", "--level", "1")
    refused(operator("key", "create", "--tenant", "acme", "--email", "bob@example.com"), "USER_NOT_FOUND")
    refused(operator("key", "create", "--tenant", "nope", "--email", "ann@example.com"), "TENANT_NOT_FOUND")
    refused(
        operator("key", "create", "--tenant", "acme", "--email", "ann@example.com", "--level-cap", "3"),
        "INVALID_VALUE",
        "levelCap",
    )
    refused(operator("key", "revoke", "--tenant", "acme", "no-such-key"), "not found")
    key = as_json(operator("key", "create", "--tenant", "acme", "--email", "ann@example.com", "--json"))
    refused(operator("key", "revoke", "--tenant", "other", key["id"]), "CROSS_TENANT_ACCESS_DENIED")
    assert authenticates(key["key"])


def test_keyring_generate_prints_a_usable_spec(operator: Invoke) -> None:
    first, second = (operator("keyring", "generate").stdout.strip() for _ in range(2))
    assert first != second and len(Keyring.from_spec(first).spec()) > 0
    assert operator("tenant", "create", "acme", env={"TENANTFLOW_SECRET_KEYS": first}).exit_code == 0


def test_operator_commands_refuse_unusable_settings(operator: Invoke, tmp_path: Path) -> None:
    server = {"TENANTFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    refused(operator("tenant", "list", env=server), "TENANTFLOW_SECRET_KEYS is required")
    refused(
        operator("tenant", "list", env={"TENANTFLOW_SECRET_KEYS": "not a keyring"}), "TENANTFLOW_SECRET_KEYS"
    )
    keys = {"TENANTFLOW_SECRET_KEYS": Keyring.generate().spec()}
    refused(operator("tenant", "list", env=server | keys), "cannot use", "127.0.0.1:1")
    refused(operator("tenant", "list", env={"TENANTFLOW_PORT": "many"}), "invalid settings", "port")
    assert not (tmp_path / "data").exists()  # refused before any file or schema change


def test_serve_passes_settings_and_options_to_the_server(
    operator: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server module is another piece's; this pins what `serve` hands it."""
    calls: list[tuple[Settings, int]] = []
    server = types.SimpleNamespace(run_server=lambda settings, *, workers: calls.append((settings, workers)))
    monkeypatch.setitem(sys.modules, "tenantflow.api.server", server)
    assert (
        operator("serve", "--port", "9100", "--workers", "2", env={"TENANTFLOW_HOST": "0.0.0.0"}).exit_code
        == 0
    )
    assert operator("serve", "--host", "::1").exit_code == 0
    [(first, workers), (second, _)] = calls
    assert (first.host, first.port, workers, second.host, second.port) == ("0.0.0.0", 9100, 2, "::1", 8000)
    assert operator("serve", "--port", "70000").exit_code == 2


def _code_workflow(code: str) -> dict[str, Any]:
    return {
        "name": "scripted",
        "nodes": [
            {"id": "t", "name": "Start", "type": "n8n-nodes-base.manualTrigger", "parameters": {}},
            {
                "id": "c",
                "name": "Code",
                "type": "n8n-nodes-base.code",
                "typeVersion": 2,
                "parameters": {"jsCode": code},
            },
        ],
        "connections": {"Start": {"main": [[{"node": "Code", "type": "main", "index": 0}]]}},
    }


def test_run_static_data_is_kept_next_to_the_workflow(tmp_path: Path) -> None:
    code = "const d = $getWorkflowStaticData('global'); d.n = (d.n || 0) + 1; return [{json: {n: d.n}}];"
    path = write(tmp_path, _code_workflow(code))
    for expected in (1, 2):
        done = runner.invoke(app, ["run", str(path), "--json", "--static-data"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["state"]["Code"]["output"][0][0]["json"] == {"n": expected}
    assert json.loads((tmp_path / "wf.json.static-data.json").read_text()) == {"global": {"n": 2}}
    (tmp_path / "wf.json.static-data.json").write_text("[1]")
    refused = runner.invoke(app, ["run", str(path), "--static-data"])
    assert refused.exit_code == 2 and "must hold a JSON object" in refused.output


def test_run_execute_command_needs_the_flag(tmp_path: Path) -> None:
    document = _code_workflow("")
    document["nodes"][1] = {
        "id": "c",
        "name": "Code",
        "type": "n8n-nodes-base.executeCommand",
        "parameters": {"command": "echo hi"},
    }
    path = write(tmp_path, document)
    refused = runner.invoke(app, ["run", str(path), "--json"])
    assert json.loads(refused.stdout)["state"]["Code"]["error"]["code"] == "HOST_ACCESS_DENIED"
    allowed = runner.invoke(app, ["run", str(path), "--json", "--allow-host-commands"])
    assert json.loads(allowed.stdout)["state"]["Code"]["output"][0][0]["json"]["stdout"] == "hi"
