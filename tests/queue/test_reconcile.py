"""A worker that starts reconciles what a dead worker of its host held: the executions it was running go on
at once on the new worker, not after their leases run out (a 30 s lease here; they end within a few)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tenantflow.settings import Settings
from tests.queue.conftest import Api, CountingServer, Workers, chain, create_workflow, poll
from tests.queue.test_queue_mode import http_node

pytestmark = pytest.mark.anyio

LONG_LEASE = 30.0


async def test_a_restarted_worker_takes_over_at_once_what_its_dead_predecessor_held(
    api: Api, queue_settings: Settings, tmp_path: Path, counting_server: CountingServer
) -> None:
    logs = tmp_path / "reconcile-logs"
    logs.mkdir()
    workers = Workers(queue_settings.model_copy(update={"lease_seconds": LONG_LEASE}), logs)
    try:
        counting_server.stall = "/node/2"
        nodes = [http_node(index, counting_server.port) for index in (1, 2, 3)]
        workflow_id = await create_workflow(api.client, chain("reconciled", nodes))
        first = workers.start()
        accepted = await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
        assert accepted.status_code == 202, accepted.text
        execution_id = accepted.json()["executionId"]
        await poll(api.client, execution_id, lambda run: "Call 1" in run["state"], 20)
        first.send_signal(signal.SIGKILL)
        first.wait()
        restarted = time.monotonic()
        workers.start()

        ended = await poll(
            api.client, execution_id, lambda run: run["status"] not in ("queued", "running"), 20
        )

        took = time.monotonic() - restarted
        assert ended["status"] == "success" and ended["attempt"] == 2, (ended, workers.logs())
        assert took < LONG_LEASE / 3, took  # not the lease's expiry
    finally:
        workers.stop_all()
