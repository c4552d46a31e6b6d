"""``tenantflow serve`` as users meet it: its own command as a subprocess on a free port, real HTTP.

The first start on an empty data dir prints the demo tenant's API key; with it a test creates a workflow,
executes it, aborts a long one and reads both back, on the embedded SQLite default and on PostgreSQL. Two
processes sharing the local Redis enforce one rate limit exactly between them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.engine import make_url

from tenantflow.store.database import async_url, run_on_server
from tests.store.conftest import DATABASE_VAR, REDIS_VAR, required_env

TENANTFLOW = str(Path(sys.executable).with_name("tenantflow"))
START_TIMEOUT_S = 60.0
_KEY_LINE = re.compile(r"API key\s+(tfk_\S+)")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TWO_NODES: dict[str, Any] = json.loads((EXAMPLES / "greet.json").read_text())  # README's walk-through
WEBHOOK: dict[str, Any] = {  # README's webhook example: POST /webhook/demo/greet answers the Set node's item
    "name": "greet by webhook",
    "category": "automation",
    "nodes": [
        {
            "id": "1",
            "name": "Hook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "parameters": {"httpMethod": "POST", "path": "greet", "responseMode": "lastNode"},
        },
        {
            "id": "2",
            "name": "Set",
            "type": "n8n-nodes-base.set",
            "typeVersion": 3.4,
            "position": [1, 0],
            "parameters": {
                "assignments": {
                    "assignments": [
                        {
                            "id": "a",
                            "name": "greeting",
                            "type": "string",
                            "value": "={{ 'hello ' + $json.body.who }}",
                        }
                    ]
                },
                "options": {},
            },
        },
    ],
    "connections": {"Hook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
}
LONG_WAIT: dict[str, Any] = {
    "name": "long wait",
    "category": "automation",
    "nodes": [
        {
            "id": "1",
            "name": "Start",
            "type": "n8n-nodes-base.manualTrigger",
            "typeVersion": 1,
            "position": [0, 0],
            "parameters": {},
        },
        {
            "id": "2",
            "name": "Wait",
            "type": "n8n-nodes-base.wait",
            "typeVersion": 1.1,
            "position": [1, 0],
            "parameters": {"resume": "timeInterval", "amount": 60, "unit": "seconds"},
        },
    ],
    "connections": {"Start": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def api_key(self) -> str:
        found = _KEY_LINE.search(self.output())
        assert found, f"no API key printed on first start:\n{self.output()}"
        return found.group(1)


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TENANTFLOW_")}
    env["TENANTFLOW_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


@contextmanager
def serving(workdir: Path, env: dict[str, str]) -> Iterator[Server]:
    """Start ``tenantflow serve`` on a free port and wait for /healthz; stop it with SIGTERM afterwards."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [TENANTFLOW, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=sink, stderr=sink
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"serve exited early:\n{server.output()}"
            try:
                if httpx.get(server.base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                f"serve did not answer in {START_TIMEOUT_S} s:\n{server.output()}"
            )
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"serve did not stop on SIGINT:\n{server.output()}")


def run_cli(env: dict[str, str], workdir: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [TENANTFLOW, *args, "--json"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def walk_through(server: Server) -> None:
    """What README's curl walk-through does: create, execute, abort a long one, read both back."""
    key = server.api_key()
    with httpx.Client(
        base_url=server.base + "/api/v1/demo", headers={"Authorization": f"Bearer {key}"}
    ) as api:
        created = api.post("/workflows", json=TWO_NODES)
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]
        ran = api.post(f"/workflows/{workflow_id}/execute", json={"triggerData": {"who": "ada"}}, timeout=30)
        assert ran.status_code == 200, ran.text
        record = ran.json()
        assert record["status"] == "success"
        assert record["state"]["Set"]["output"][0][0]["json"]["greeting"] == "hello ada"

        long = api.post("/workflows", json=LONG_WAIT).json()["id"]
        started = api.post(f"/workflows/{long}/execute", params={"wait": "false"}, json={})
        assert started.status_code == 202, started.text
        execution_id = started.json()["executionId"]
        assert started.headers["Location"].endswith(f"/executions/{execution_id}")
        time.sleep(0.3)
        asked = time.monotonic()
        assert api.post(f"/executions/{execution_id}/abort").status_code == 200
        while (status := api.get(f"/executions/{execution_id}").json()["status"]) in ("queued", "running"):
            assert time.monotonic() - asked < 1.0, "abort took longer than 1 s"
            time.sleep(0.02)
        assert status == "aborted"

        stored = api.get(f"/executions/{record['executionId']}").json()
        assert stored["status"] == "success"
        assert stored["state"]["Set"]["output"][0][0]["json"]["greeting"] == "hello ada"
        listed = api.get("/executions", params={"workflowId": workflow_id}).json()
        assert [item["id"] for item in listed["items"]] == [record["executionId"]]

        hooked = api.post("/workflows", json=WEBHOOK)
        assert hooked.status_code == 201, hooked.text
        answer = httpx.post(server.base + "/webhook/demo/greet", json={"who": "ada"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["greeting"] == "hello ada"
        stored = api.get(f"/executions/{answer.headers['X-Execution-Id']}").json()
        assert (stored["triggerKind"], stored["status"]) == ("webhook", "success")


def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data")
    with serving(tmp_path, env) as server:
        assert "created a new secret keyring" in server.output()
        walk_through(server)
    assert oct((tmp_path / "data" / "keyring").stat().st_mode & 0o777) == "0o600"
    with serving(tmp_path, env) as again:  # a second start finds its tenants and prints no new key
        assert _KEY_LINE.search(again.output()) is None


def test_serve_on_postgresql(tmp_path: Path, empty_database: str) -> None:
    env = service_env(
        tmp_path / "data",
        TENANTFLOW_DATABASE_URL=empty_database,
        TENANTFLOW_SECRET_KEYS=new_keyring(tmp_path),
    )
    with serving(tmp_path, env) as server:
        walk_through(server)


def test_serve_refuses_postgresql_without_a_keyring(tmp_path: Path, empty_database: str) -> None:
    env = service_env(tmp_path / "data", TENANTFLOW_DATABASE_URL=empty_database)
    done = subprocess.run(
        [TENANTFLOW, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "TENANTFLOW_SECRET_KEYS is required" in done.stderr
    assert "Traceback" not in done.stderr


def test_two_processes_share_one_rate_limit(tmp_path: Path, empty_database: str) -> None:
    """N of N + k requests of one preset pass, counted across both processes through Redis."""
    limit, extra = 10, 5
    env = service_env(
        tmp_path / "data",
        TENANTFLOW_DATABASE_URL=empty_database,
        TENANTFLOW_SECRET_KEYS=new_keyring(tmp_path),
        TENANTFLOW_REDIS_URL=required_env(REDIS_VAR),
        TENANTFLOW_RATE_LIMITS=json.dumps({"list": f"{limit}/minute"}),
    )
    tenant = f"rl{uuid.uuid4().hex[:12]}"  # counters are per tenant: a fresh one starts at zero
    run_cli(env, tmp_path, "tenant", "create", tenant)
    run_cli(env, tmp_path, "user", "create", "--tenant", tenant, "--email", "ops@example.com", "--level", "3")
    key = run_cli(env, tmp_path, "key", "create", "--tenant", tenant, "--email", "ops@example.com")["key"]
    with serving(tmp_path, env) as first, serving(tmp_path, env) as second:
        statuses = []
        for attempt in range(limit + extra):
            server = (first, second)[attempt % 2]
            answer = httpx.get(
                f"{server.base}/api/v1/{tenant}/workflows", headers={"Authorization": f"Bearer {key}"}
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.json()["error"]["code"] == "RATE_LIMITED"
    assert statuses.count(200) == limit
    assert statuses.count(429) == extra
    assert statuses[limit:] == [429] * extra


def new_keyring(workdir: Path) -> str:
    done = subprocess.run(
        [TENANTFLOW, "keyring", "generate"],
        cwd=workdir,
        env=service_env(workdir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database of its own on the test server, empty: the server migrates and bootstraps it."""
    server = async_url(required_env(DATABASE_VAR))
    name = f"tenantflow_serve_{uuid.uuid4().hex[:10]}"
    asyncio.run(run_on_server(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run_on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
