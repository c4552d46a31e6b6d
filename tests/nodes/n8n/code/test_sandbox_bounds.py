"""The Code node's sandboxes bounded as a group: how many run at once, how large a reply may be, and a reply
the script cannot forge (issue 12, item 6)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.definition import DefinitionError
from tenantflow.engine.errors import NodeError
from tenantflow.engine.executor import execute
from tenantflow.nodes.n8n.code import SandboxJob, SandboxLimits, run_sandbox
from tenantflow.nodes.n8n.code.server import PYTHON_SERVER, SERVER, SandboxServer
from tenantflow.nodes.n8n.code.slots import SandboxSlots
from tests.nodes.harness import REGISTRY
from tests.process_memory import MB, peak_pss, pss, tree

pytestmark = pytest.mark.anyio


def _sandbox_tree() -> list[int]:
    """Both fork servers and every sandbox below them (not this test process)."""
    return tree(*(pid for pid in (SERVER.pid, PYTHON_SERVER.pid) if pid is not None))


def _this_process() -> list[int]:
    return [os.getpid()]


async def test_48_parallel_code_nodes_keep_the_sandboxes_under_1_gb() -> None:
    # Each script holds ~100 MB for a while: 48 at once would be ~5 GB.
    code = "const held = new Float64Array(12e6).fill(1.5);\n" + (
        "await new Promise((resolve) => setTimeout(resolve, 200));\nreturn [{ n: held.length }];"
    )
    names = [f"Code {index}" for index in range(48)]
    nodes: list[dict[str, Any]] = [
        {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}},
        *(
            {"name": name, "type": "n8n-nodes-base.code", "typeVersion": 2, "parameters": {"jsCode": code}}
            for name in names
        ),
    ]
    document = {
        "nodes": nodes,
        "connections": {
            "Trigger": {"main": [[{"node": name, "type": "main", "index": 0} for name in names]]}
        },
        "settings": {"maxConcurrency": 48},
    }
    await run_sandbox(_job("return [];"), SandboxLimits())  # the server is up before sampling starts
    with peak_pss(_sandbox_tree) as peak:
        record = await execute(document, registry=REGISTRY)
    assert record.status == "success", record.error
    assert all(record.state[name].output[0][0]["json"] == {"n": 12_000_000} for name in names)
    assert peak.bytes < 1024 * MB, f"the sandboxes' PSS peaked at {peak.mb} MB"


async def test_max_concurrency_is_capped() -> None:
    document = {
        "nodes": [{"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}}],
        "connections": {},
        "settings": {"maxConcurrency": 1024},
    }
    with pytest.raises(DefinitionError, match=r"settings\.maxConcurrency: .*less than or equal to 64"):
        await execute(document, registry=REGISTRY)


def _job(code: str, mode: str = "runOnceForAllItems", **data: Any) -> SandboxJob:
    base = {
        "mode": mode,
        "items": [],
        "runIndex": 0,
        "vars": {},
        "params": {},
        "workflow": {"id": None, "name": "w", "active": False},
        "execution": {"id": "e", "mode": "manual"},
        "nodeNames": [],
        "nodes": {},
        "pairedItems": {},
        "staticData": None,
    }
    return SandboxJob(mode, code, {**base, **data})


@pytest.mark.parametrize(
    ("code", "server"),
    [
        ("const s = 'a'.repeat(2e7);\nreturn Array(10).fill(0).map(() => ({ s }));", SERVER),
        ("s = 'a' * 3_000_000\nreturn [{'s': s}] * 10", PYTHON_SERVER),
    ],
    ids=["javascript", "python"],
)
async def test_a_reply_larger_than_the_cap_is_refused_quickly_and_cheaply(code: str, server: Any) -> None:
    await run_sandbox(_job("return []"), SandboxLimits(), server)
    started = time.monotonic()
    with peak_pss(_this_process) as peak:
        baseline = pss(os.getpid())
        with pytest.raises(NodeError) as raised:
            await run_sandbox(_job(code), SandboxLimits(), server)
    assert time.monotonic() - started < 5 + 2
    assert raised.value.code == "LIMIT_EXCEEDED"
    assert "16 MB" in raised.value.message
    assert peak.bytes - baseline < 100 * MB, f"the host grew by {(peak.bytes - baseline) // MB} MB"


async def test_the_host_refuses_a_reply_from_its_length_prefix(tmp_path: Path) -> None:
    """A fork server that announces a 40 MB reply: the host skips it unread and reports it as too large."""
    fake = tmp_path / "fake_server.py"
    fake.write_text(
        "import json, os, sys\n"
        "inbox = os.read(0, 1 << 16)\n"
        "request = json.loads(inbox[4:])\n"
        "header = json.dumps({'id': request['id'], 'status': 0, 'size': 40 << 20}).encode()\n"
        "os.write(1, len(header).to_bytes(4, 'big') + header)\n"
        "chunk = b'x' * (1 << 20)\n"
        "for _ in range(40):\n"
        "    os.write(1, chunk)\n"
        "sys.stdin.read()\n"
    )
    server = SandboxServer(fake, fork_server=fake)
    try:
        with peak_pss(_this_process) as peak:
            baseline = pss(os.getpid())
            with pytest.raises(NodeError) as raised:
                await run_sandbox(_job("return []"), SandboxLimits(), server)
        assert raised.value.code == "LIMIT_EXCEEDED"
        assert peak.bytes - baseline < 30 * MB
    finally:
        server.close()


_JS_FORGERIES = {
    "closing the wrapper": (
        "return [];\n}).call(undefined);\n};\n"
        "globalThis.__tfMain = async function () {\n"
        "  return JSON.stringify({ ok: [{ forged: true }], logs: Array(200000).fill(['info', 'x']),"
        " staticData: { global: { forged: 1 }, node: {} } });\n"
        "};\n{ (function () {"
    ),
    "replacing JSON.stringify": (
        "const original = JSON.stringify;\n"
        "JSON.stringify = (value) => original({ ok: [{ forged: true }],"
        " logs: Array(200000).fill(['info', 'x']), staticData: { global: { forged: 1 }, node: {} } });\n"
        "return [];"
    ),
    "replacing Array.prototype.push": (
        "const push = Array.prototype.push;\n"
        "Array.prototype.push = function (...args) {\n"
        "  for (let i = 0; i < 2000; i++) push.apply(this, args);\n"
        "  return this.length;\n"
        "};\n"
        "for (let i = 0; i < 100; i++) console.log('line', i);\n"
        "return [];"
    ),
}

_PY_FORGERY = (
    "module = type(_input).__init__.__globals__\n"
    "forged = {'ok': [{'forged': True}], 'logs': [['info', 'x']] * 200000,"
    " 'staticData': {'global': {'forged': 1}, 'node': {}}}\n"
    "body = module['json'].dumps(forged).encode()\n"
    "frame = len(body).to_bytes(4, 'big') + body\n"
    "for fd in (1, 2, 3):\n"
    "    try:\n"
    "        module['os'].write(fd, frame)\n"
    "    except OSError:\n"
    "        pass\n"
    "module['_reply'](forged)\n"
)


@pytest.mark.parametrize(
    ("code", "server"),
    [*((code, SERVER) for code in _JS_FORGERIES.values()), (_PY_FORGERY, PYTHON_SERVER)],
    ids=[*_JS_FORGERIES, "python writing its reply pipe"],
)
async def test_a_script_cannot_forge_the_reply(code: str, server: SandboxServer) -> None:
    try:
        reply = await run_sandbox(_job(code), SandboxLimits(), server)
    except NodeError as exc:  # refusing the forged reply outright is fine too
        assert exc.code in ("CODE_ERROR", "LIMIT_EXCEEDED")
        return
    assert len(reply.get("logs") or []) <= 100
    assert "staticData" not in reply  # the job sent none, so none comes back
    assert len(str(reply)) < 16 * MB


async def test_a_forged_python_reply_cannot_settle_another_job() -> None:
    """Writing a host-protocol frame naming another request id changes nothing for that request."""
    forger = "module = type(_input).__init__.__globals__\n" + (
        "for request in range(0, 200):\n"
        "    body = module['json'].dumps({'id': request, 'reply': '{\"ok\": [{\"forged\": 1}]}',"
        " 'status': 0}).encode()\n"
        "    module['os'].write(0, len(body).to_bytes(4, 'big') + body)\n"
        "return []"
    )
    honest = "import time\ntime.sleep(0.3)\nreturn [{'honest': True}]"
    results = await asyncio.gather(
        run_sandbox(_job(honest), SandboxLimits(), PYTHON_SERVER),
        run_sandbox(_job(forger), SandboxLimits(), PYTHON_SERVER),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException), results[0]
    assert results[0]["ok"] == [{"honest": True}]


async def test_slots_cap_each_execution_and_the_process_and_a_job_that_gives_up_holds_none() -> None:
    slots = SandboxSlots(per_process=2, per_execution=1)
    order: list[str] = []

    async def job(execution: str, name: str, hold: float) -> None:
        async with slots.slot(execution, wait=5):
            order.append(name)
            await asyncio.sleep(hold)

    # A's second job waits for A's first although the process has room; B's runs beside A's first.
    await asyncio.gather(job("A", "a1", 0.2), job("A", "a2", 0), job("B", "b1", 0.05))
    assert order == ["a1", "b1", "a2"]
    async with slots.slot("A", 1), slots.slot("B", 1):
        with pytest.raises(TimeoutError):  # the process is full
            async with slots.slot("C", 0.05):
                pass
    assert slots.process.used == 0
    async with slots.slot("C", 0.05):  # nothing was left held by the job that gave up
        assert slots.process.used == 1
