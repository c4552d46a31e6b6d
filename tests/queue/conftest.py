"""The queue mode's world: PostgreSQL, the machine's RabbitMQ, the app in-process and real worker processes.

Each test gets its own RabbitMQ queue (deleted afterwards) and its own tenant, so tests and their leftovers
never meet. Workers are ``tenantflow worker`` subprocesses with the same settings as the app, through the
environment, as an operator would start them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import aio_pika
import httpx2
import pytest
import redis
from fastapi import FastAPI

from tenantflow.api.app import create_app
from tenantflow.settings import Settings
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.conftest import REDIS_VAR, migrated_postgres, required_env
from tests.served import admin_client, served_settings
from tests.store.conftest import open_store

BROKER_URL: Final = os.environ.get("TENANTFLOW_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
WORKER: Final = str(Path(sys.executable).with_name("tenantflow"))
LEASE_SECONDS: Final = 3.0  # the least the settings allow: a killed worker's runs wait this long


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    """A store on the test PostgreSQL database, for a worker run in this process."""
    opened = await open_store(postgres_url, Keyring.generate())
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(scope="module")
def queue_database_url() -> Iterator[str]:
    """A database of the queue tests' own: their workers and reapers take any stale execution they find,
    so rows other tests leave queued on the shared one must not be theirs to run."""
    yield from migrated_postgres("tenantflow_queue")


@pytest.fixture
def queue_settings(
    queue_database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """The queue mode's settings, on RabbitMQ; a test parametrized indirectly with ``"redis"`` gets the
    Redis list broker instead."""
    name = f"tenantflow.test.{uuid.uuid4().hex[:10]}"
    broker: str = getattr(request, "param", "amqp")
    yield served_settings(
        queue_database_url,
        tmp_path,
        schedules_enabled=False,
        broker_url=required_env(REDIS_VAR) if broker == "redis" else BROKER_URL,
        broker_queue=name,
        lease_seconds=LEASE_SECONDS,
        requeue_after_seconds=1.0,
        allow_private_network=True,
        execution_wait_seconds=20,
        redis_url=required_env(REDIS_VAR),  # live progress crosses processes, as in production
    )
    if broker == "redis":
        with redis.Redis.from_url(required_env(REDIS_VAR)) as client:
            client.delete(name)
    else:
        asyncio.run(_delete_queue(name))


async def _delete_queue(name: str) -> None:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        for queue in (name, f"{name}.dead_letter"):
            await channel.queue_delete(queue)
        await channel.exchange_delete(name)


class Workers:
    """``tenantflow worker`` processes started with the test's settings; all stopped at the end."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("TENANTFLOW_")}
        self.env = {**inherited, **_environment(settings)}
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"worker-{len(self.started)}.log", "wb")  # noqa: SIM115 (the process owns it)
        process = subprocess.Popen(
            [WORKER, "worker", "--concurrency", str(concurrency)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("*.log")))


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.secret_keys is not None and settings.broker_url is not None and settings.redis_url
    return {
        "TENANTFLOW_DATABASE_URL": settings.resolved_database_url,
        "TENANTFLOW_DATA_DIR": str(settings.data_dir),
        "TENANTFLOW_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "TENANTFLOW_BROKER_URL": settings.broker_url,
        "TENANTFLOW_BROKER_QUEUE": settings.broker_queue,
        "TENANTFLOW_LEASE_SECONDS": str(settings.lease_seconds),
        "TENANTFLOW_REQUEUE_AFTER_SECONDS": str(settings.requeue_after_seconds),
        "TENANTFLOW_ALLOW_PRIVATE_NETWORK": "true",
        "TENANTFLOW_SCHEDULES_ENABLED": "false",
        "TENANTFLOW_REDIS_URL": settings.redis_url or "",
    }


@pytest.fixture
def workers(queue_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Workers(queue_settings, logs)
    try:
        yield started
    finally:
        started.stop_all()


@dataclass
class Api:
    app: FastAPI
    client: httpx2.AsyncClient
    tenant: str


@pytest.fixture
async def api(queue_settings: Settings) -> AsyncIterator[Api]:
    """The app in this process, in the queue mode, and an admin's client for a fresh tenant."""
    app = create_app(queue_settings)
    async with app.router.lifespan_context(app), admin_client(app, "queue") as (client, tenant):
        yield Api(app, client, tenant)


@dataclass
class CountingServer:
    """An HTTP server on 127.0.0.1 that counts requests per path; ``stall`` holds the first request to
    that path until the test releases it (or the server stops), so a node can be caught mid-run, and
    ``fail_once`` answers the first request to its path with a 500."""

    port: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    stall: str | None = None
    fail_once: str | None = None  # the first request to this path gets a 500
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        with self.lock:
            return self.counts.get(path, 0)


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    state = CountingServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                seen = state.counts[self.path] = state.counts.get(self.path, 0) + 1
            if self.path == state.stall and seen == 1:
                state.released.wait(30)
            body = b'{"ok": true}'
            self.send_response(500 if self.path == state.fail_once and seen == 1 else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()


def chain(name: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A workflow: a manual trigger, then ``nodes`` one after another."""
    start = {
        "id": "start",
        "name": "Start",
        "type": "n8n-nodes-base.manualTrigger",
        "typeVersion": 1,
        "position": [0, 0],
        "parameters": {},
    }
    names = ["Start", *(node["name"] for node in nodes)]
    connections = {
        source: {"main": [[{"node": target, "type": "main", "index": 0}]]}
        for source, target in itertools.pairwise(names)
    }
    everything = [start, *({"position": [index * 200, 0], **node} for index, node in enumerate(nodes, 1))]
    return {"name": name, "category": "automation", "nodes": everything, "connections": connections}


async def create_workflow(client: httpx2.AsyncClient, document: dict[str, Any]) -> str:
    created = await client.post("/workflows", json=document)
    assert created.status_code == 201, created.text
    workflow_id: str = created.json()["id"]
    return workflow_id


async def poll(client: httpx2.AsyncClient, execution_id: str, until: Any, timeout: float) -> dict[str, Any]:
    """The execution as stored, once ``until(execution)`` holds; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get(f"/executions/{execution_id}")
        assert response.status_code == 200, response.text
        execution: dict[str, Any] = response.json()
        if until(execution):
            return execution
        assert loop.time() < deadline, f"not reached in {timeout} s: {execution}"
        await asyncio.sleep(0.05)
