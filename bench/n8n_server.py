"""n8n itself, beside tenantflow on the same machine, for the benchmarks that compare the two.

The issues' targets are multiples of n8n measured on this machine (48.6 webhooks/s at c=16 for n8n 1.123),
but this VM's speed moves by 2× from one minute to the next (``bench_api.host_loop_ms``), so a figure taken
on another day says little about a ratio. :func:`n8n_server` starts a real n8n with one workflow created
and activated through its REST API, so that the same wrk command can be pointed at both within minutes:

- regular mode (n8n's default): one process, its default SQLite database;
- queue mode (:class:`QueueMode`, n8n's production layout and the peer of tenantflow's queue mode): the
  main process takes the webhooks, ``n8n worker`` runs the executions from Redis (Bull), both on
  PostgreSQL.

Either way every execution is saved, as n8n saves them by default. n8n is not a dependency of tenantflow:
install it anywhere and pass its command, e.g.::

    npm install n8n@1.123.0     # cdn.sheetjs.com unreachable? add "overrides": {"xlsx": "0.18.5"}
    uv run --frozen python bench/bench_queue.py --only webhook --n8n node_modules/.bin/n8n
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx2 as httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bench_api import cpu_seconds, free_port


@dataclass(frozen=True)
class QueueMode:
    """n8n's queue mode: its database on PostgreSQL, its jobs in Redis, one ``n8n worker``."""

    database_url: str  # postgresql://user@host:port/name, a database of its own
    redis_url: str  # redis://host:port/db; the run's keys are deleted afterwards
    concurrency: int

    def environment(self) -> dict[str, str]:
        database, redis = make_url(self.database_url), make_url(self.redis_url)
        return {
            "EXECUTIONS_MODE": "queue",
            "DB_TYPE": "postgresdb",
            "DB_POSTGRESDB_HOST": database.host or "127.0.0.1",
            "DB_POSTGRESDB_PORT": str(database.port or 5432),
            "DB_POSTGRESDB_DATABASE": database.database or "",
            "DB_POSTGRESDB_USER": database.username or "postgres",
            "DB_POSTGRESDB_PASSWORD": database.password or "",
            "QUEUE_BULL_REDIS_HOST": redis.host or "127.0.0.1",
            "QUEUE_BULL_REDIS_PORT": str(redis.port or 6379),
            "QUEUE_BULL_REDIS_DB": redis.database or "0",
            "QUEUE_BULL_PREFIX": self.prefix,
            "N8N_ENCRYPTION_KEY": "tenantflow-bench-" + self.prefix,  # main and worker must share it
        }

    @property
    def prefix(self) -> str:
        return "n8nbench" + make_url(self.database_url).database.rsplit("_", 1)[-1]  # type: ignore[union-attr]

    def count(self, workflow_id: str) -> int:
        async def fetch() -> int:
            connection = await asyncpg.connect(self.database_url)
            try:
                query = 'SELECT count(*) FROM execution_entity WHERE "workflowId" = $1'
                return int(await connection.fetchval(query, workflow_id))
            finally:
                await connection.close()

        return asyncio.run(fetch())

    def forget(self) -> None:
        """Delete the run's Bull keys."""

        async def delete() -> None:
            client = Redis.from_url(self.redis_url)
            try:
                keys = [key async for key in client.scan_iter(f"{self.prefix}:*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()

        asyncio.run(delete())


@dataclass(frozen=True)
class N8n:
    """A running n8n: its base URL, version, the workflow's id, and how to read what it did."""

    base: str
    version: str
    workflow_id: str
    pids: tuple[int, ...]  # the main process, then the worker in the queue mode
    home: Path
    queue: QueueMode | None

    @property
    def label(self) -> str:
        layout = "PostgreSQL, 1 worker, Redis (queue mode)" if self.queue else "SQLite, regular mode"
        return f"n8n {self.version}, {layout}"

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds the main process and the worker (none in regular mode) have used so far."""
        main, *workers = (cpu_seconds(pid) for pid in self.pids)
        return main, sum(workers)

    def stored(self) -> int:
        """Executions of the workflow n8n has saved so far."""
        if self.queue is not None:
            return self.queue.count(self.workflow_id)
        database = self.home / ".n8n" / "database.sqlite"
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
            query = "SELECT count(*) FROM execution_entity WHERE workflowId = ?"
            return int(db.execute(query, (self.workflow_id,)).fetchone()[0])


def n8n_environment(home: Path, port: int) -> dict[str, str]:
    """n8n's defaults, less what would reach out of this machine or print banners; the expression
    evaluator and anything else ``N8N_*`` set in this process's environment pass through."""
    env = dict(os.environ)
    env.update(
        N8N_USER_FOLDER=str(home),
        N8N_PORT=str(port),
        N8N_LISTEN_ADDRESS="127.0.0.1",
        N8N_DIAGNOSTICS_ENABLED="false",
        N8N_VERSION_NOTIFICATIONS_ENABLED="false",
        N8N_TEMPLATES_ENABLED="false",
        N8N_PERSONALIZATION_ENABLED="false",
        N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="true",
        N8N_SECURE_COOKIE="false",  # plain HTTP on loopback: the set-up's cookie must come back
        N8N_LOG_LEVEL=env.get("N8N_LOG_LEVEL", "warn"),
    )
    return env


def n8n_command(command: str, env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [command, *arguments], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"n8n {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


@contextmanager
def n8n_server(
    command: str, workdir: Path, workflow: dict[str, Any], probe: str, queue: QueueMode | None = None
) -> Iterator[N8n]:
    """n8n on a free port (with a worker in the queue mode) with ``workflow`` created and activated
    through its own REST API as its editor does it (owner set-up, create, activate), once a POST of
    ``{"who": "ada"}`` to its production webhook ``probe`` (a path under ``/webhook/``) answers 200;
    stopped on exit."""
    home = workdir / f"n8n-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    port = free_port()
    env = n8n_environment(home, port) | (queue.environment() if queue else {})
    version = n8n_command(command, env, "--version")
    with ExitStack() as stack:
        if queue is not None:
            stack.callback(queue.forget)
        log = home / "main.log"
        main = stack.enter_context(started(command, env, log, "start"))
        base = f"http://127.0.0.1:{port}"
        wait_for(main, log, lambda: answers_json(httpx.get(f"{base}/rest/settings", timeout=5)))
        pids = [main.pid]
        if queue is not None:
            arguments = ("worker", f"--concurrency={queue.concurrency}")
            pids.append(stack.enter_context(started(command, env, home / "worker.log", *arguments)).pid)
        workflow_id = activated(base, workflow)
        hook = f"{base}/webhook/{probe}"
        wait_for(main, log, lambda: httpx.post(hook, json={"who": "ada"}, timeout=10).status_code == 200)
        yield N8n(base, version, workflow_id, tuple(pids), home, queue)


@contextmanager
def started(
    command: str, env: dict[str, str], log: Path, *arguments: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen([command, *arguments], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"n8n did not start:\n{log.read_text(errors='replace')}")
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)


def activated(base: str, workflow: dict[str, Any]) -> str:
    """Set up n8n's owner, create ``workflow`` and activate it: its id."""
    headers = {"browser-id": uuid.uuid4().hex}  # n8n binds its session cookie to the browser's id
    with httpx.Client(base_url=f"{base}/rest", headers=headers, timeout=60) as rest:
        owner = {
            "email": "bench@example.com",
            "firstName": "Bench",
            "lastName": "Mark",
            "password": "Bench-2026",
        }
        checked(rest.post("/owner/setup", json=owner))
        created = checked(rest.post("/workflows", json={**workflow, "active": False, "settings": {}}))
        body = {"versionId": created["versionId"]}
        checked(rest.post(f"/workflows/{created['id']}/activate", json=body))
        return str(created["id"])


def answers_json(response: httpx.Response) -> bool:
    """n8n answers 200 with plain text while it migrates its database."""
    kind = response.headers.get("content-type", "")
    return response.status_code == 200 and kind.startswith("application/json")


def checked(response: httpx.Response) -> dict[str, Any]:
    if not answers_json(response):
        raise SystemExit(f"n8n {response.request.url.path} answered {response.status_code}: {response.text}")
    data: dict[str, Any] = response.json()["data"]
    return data
