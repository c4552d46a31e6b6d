"""Execute Command: refused unless the host allows it; allowed, it runs as n8n's does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import Execution, RunLimits, execute
from tests.nodes.harness import REGISTRY, workflow

pytestmark = pytest.mark.anyio

COMMAND = "n8n-nodes-base.executeCommand"


async def run(parameters: dict[str, Any], items: list[Any], *, allowed: bool) -> Any:
    document = workflow(COMMAND, parameters, items)
    return await execute(document, registry=REGISTRY, limits=RunLimits(allow_host_commands=allowed))


async def test_refused_unless_the_host_allows_it() -> None:
    record = await run({"command": "echo hi"}, [{}], allowed=False)
    assert record.status == "error"
    assert record.state["Node"].error is not None
    assert record.state["Node"].error["code"] == ErrorCode.HOST_ACCESS_DENIED


async def test_runs_once_by_default_and_per_item_when_asked() -> None:
    once = await run({"command": "printf ' hi \\n'; echo oops >&2"}, [{"n": 1}, {"n": 2}], allowed=True)
    assert once.status == "success"
    assert once.state["Node"].output == [
        [{"json": {"exitCode": 0, "stderr": "oops", "stdout": "hi"}, "pairedItem": {"item": 0}}]
    ]
    each = await run(
        {"command": "=echo {{ $json.n }}", "executeOnce": False}, [{"n": 1}, {"n": 2}], allowed=True
    )
    assert [item["json"]["stdout"] for item in each.state["Node"].output[0]] == ["1", "2"]


async def test_a_failing_command_fails_the_node_with_n8n_s_message() -> None:
    record = await run({"command": "echo broken >&2; exit 3"}, [{}], allowed=True)
    assert record.status == "error"
    assert record.state["Node"].error is not None
    assert record.state["Node"].error["message"] == "Command failed: echo broken >&2; exit 3\nbroken"


async def test_the_command_does_not_see_the_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTFLOW_SECRET_KEYS", "k1:c2VjcmV0")
    record = await run({"command": "env"}, [{}], allowed=True)
    assert "TENANTFLOW" not in record.state["Node"].output[0][0]["json"]["stdout"]


async def test_an_abort_kills_the_command() -> None:
    execution = Execution(
        workflow(COMMAND, {"command": "sleep 30"}, [{}]),
        registry=REGISTRY,
        limits=RunLimits(allow_host_commands=True),
    )
    running = asyncio.create_task(execution.run())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    execution.abort("stop")
    record = await running
    assert record.status == "aborted" and time.monotonic() - started < 2


@pytest.mark.parametrize("allowed", [False, True])
async def test_the_service_setting_reaches_every_execution(allowed: bool, tmp_path: Path) -> None:
    from tenantflow.api.app import close_runtime, open_runtime
    from tenantflow.settings import Settings

    files = tmp_path / "files" if allowed else None
    runtime = await open_runtime(Settings(data_dir=tmp_path, allow_host_commands=allowed, files_dir=files))
    try:
        limits = runtime.executions.settings.limits
        assert limits.allow_host_commands is allowed
        assert limits.files_root == (None if files is None else str(files.resolve()))
    finally:
        await close_runtime(runtime)
