"""GET /metrics, as Prometheus scrapes it: requests by route template and status, latencies, executions by
status and node durations by type, each moving when the service does something."""

from __future__ import annotations

import re

import pytest

from tenantflow.store.identity import Level
from tests.api.conftest import World

pytestmark = pytest.mark.anyio


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series (0 when absent); labels may be given in any order."""
    for line in text.splitlines():
        found = re.match(rf"{name}\{{(?P<labels>.*)\}} (?P<value>\S+)$", line)  # labels may hold braces
        if found and all(f'{key}="{value}"' in found["labels"] for key, value in labels.items()):
            return float(found["value"])
    return 0.0


async def test_metrics_count_requests_executions_and_node_runs(world: World) -> None:
    before = (await world.send("GET", "/metrics", who=None)).text
    created = await world.create()
    route = "/api/v1/{tenant}/workflows/{workflow_id}/execute"
    ran = await world.send(
        "POST", world.url(f"/{created['id']}/execute"), who=world.member(world.a, Level.USER), json={}
    )
    assert ran.status_code == 200 and ran.json()["status"] == "success"
    after = (await world.send("GET", "/metrics", who=None)).text
    assert after.startswith("# HELP") or "# HELP" in after

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("tenantflow_http_requests_total", method="POST", route=route, status="200") == 1
    assert moved("tenantflow_http_request_duration_seconds_count", method="POST", route=route) == 1
    assert moved("tenantflow_executions_total", status="success") == 1
    assert moved("tenantflow_node_duration_seconds_count", node_type="n8n-nodes-base.manualTrigger") == 1
    # raw paths never become labels: a scan of random URLs cannot multiply the series
    await world.send("GET", "/no/such/path/" + created["id"], who=None)
    assert created["id"] not in (await world.send("GET", "/metrics", who=None)).text
