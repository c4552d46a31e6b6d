"""The Python Code node's walls: every test really attempts the escape and checks that it failed.

Import restrictions are no boundary in CPython, so the scripts here go around them: the sandbox runner's own
module globals (reached through ``type(_input).all.__globals__``) hold ``os``, ``socket``, ``ctypes``,
``signal`` and ``resource``. What must stop them is the process: seccomp, rlimits, ``nobody``, an empty
environment, and a memory that never held another job's data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.engine.executor import execute
from tenantflow.nodes import default_registry
from tenantflow.nodes.n8n.code import CodeNode, SandboxJob, SandboxLimits, run_sandbox
from tenantflow.nodes.n8n.code.server import PYTHON_SERVER
from tests.nodes.harness import NodeRun, run_node, workflow

pytestmark = pytest.mark.anyio

CODE = "n8n-nodes-base.code"
HOST = """
g = type(_input).all.__globals__
os, socket, ctypes, signal, resource = g["os"], g["socket"], g["ctypes"], g["signal"], g["resource"]
def attempt(action):
    try:
        return ["succeeded", repr(action())]
    except BaseException as exc:
        return [type(exc).__name__, str(exc)]
"""
"""A prelude that reaches the host modules the import hook would refuse, and records what each try did."""


async def run_python(code: str, rows: list[Any] | None = None) -> NodeRun:
    parameters = {"language": "python", "pythonCode": HOST + code}
    return await run_node(CODE, parameters, rows or [{"n": 1}], version=2)


async def attempts(code: str) -> dict[str, list[str]]:
    """Run ``code``, which returns ``{name: attempt(...)}``; what each attempt gave."""
    run = await run_python(code)
    [[result]] = run.json()
    return dict(result)


def _refused(outcome: list[str]) -> bool:
    return outcome[0] in {"PermissionError", "OSError"} and "Operation not permitted" in outcome[1]


async def test_files_cannot_be_read() -> None:
    tried = await attempts("""
return {
    "open": attempt(lambda: open("/etc/passwd").read()),
    "os.open": attempt(lambda: os.read(os.open("/etc/passwd", os.O_RDONLY), 100)),
    "proc": attempt(lambda: open("/proc/self/environ", "rb").read()),
    "listdir": attempt(lambda: os.listdir("/")),
    "stat": attempt(lambda: os.stat("/etc/passwd").st_size),
}
""")
    assert all(_refused(outcome) for outcome in tried.values()), tried
    assert "root:" not in json.dumps(tried)


async def test_the_environment_is_empty() -> None:
    tried = await attempts(
        "return {'environ': attempt(lambda: dict(os.environ)), 'env': attempt(lambda: _env.HOME)}"
    )
    assert tried["environ"] == ["succeeded", "{'LC_CTYPE': 'C.UTF-8'}"]  # set by Python itself (PEP 538)
    assert tried["env"] == ["PermissionError", "access to env vars denied"]


async def test_files_cannot_be_written() -> None:
    target = Path("/tmp") / f"tenantflow-escape-{uuid.uuid4().hex}"  # world-writable: only seccomp stops it
    tried = await attempts(f"""
path = {str(target)!r}
return {{
    "open": attempt(lambda: open(path, "w").write("x")),
    "os.open": attempt(lambda: os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)),
    "mkdir": attempt(lambda: os.mkdir(path)),
    "symlink": attempt(lambda: os.symlink("/etc/passwd", path)),
    "libc": attempt(lambda: ctypes.CDLL(None).creat(path.encode(), 0o644)),
}}
""")
    assert tried.pop("libc") == ["succeeded", "-1"]
    assert all(_refused(outcome) for outcome in tried.values()), tried
    assert not target.exists()


async def test_the_network_is_unreachable() -> None:
    with socket.create_connection(("127.0.0.1", 6379), timeout=2):  # Redis is there for the test itself
        pass
    tried = await attempts("""
return {
    "connect": attempt(lambda: socket.socket().connect(("127.0.0.1", 6379))),
    "udp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
    "unix": attempt(lambda: socket.socket(socket.AF_UNIX)),
    "raw syscall": attempt(lambda: ctypes.CDLL(None).syscall(41, 2, 1, 0)),
}
""")
    assert tried.pop("raw syscall") == ["succeeded", "-1"]
    assert all(_refused(outcome) for outcome in tried.values()), tried


async def test_no_process_can_be_started_or_touched() -> None:
    tried = await attempts("""
libc = ctypes.CDLL(None)
return {
    "fork": attempt(os.fork),
    "exec": attempt(lambda: os.execv("/bin/sh", ["sh", "-c", "true"])),
    "spawn": attempt(lambda: os.posix_spawn("/bin/true", ["true"], {})),
    "kill the server": attempt(lambda: os.kill(os.getppid(), 9)),
    "libc fork": attempt(lambda: libc.fork()),
    "clone": attempt(lambda: libc.syscall(56, 17, 0, 0, 0, 0)),
    "ptrace": attempt(lambda: libc.ptrace(16, os.getppid(), 0, 0)),
}
""")
    for name in ("libc fork", "clone", "ptrace"):
        assert tried.pop(name) == ["succeeded", "-1"], name
    assert all(_refused(outcome) for outcome in tried.values()), tried


async def test_the_limits_cannot_be_lifted() -> None:
    tried = await attempts("""
return {
    "disarm alarm": attempt(lambda: signal.setitimer(signal.ITIMER_REAL, 0)),
    "ignore alarm": attempt(lambda: signal.signal(signal.SIGALRM, signal.SIG_IGN)),
    "ignore cpu": attempt(lambda: signal.signal(signal.SIGXCPU, signal.SIG_IGN)),
    "raise cpu": attempt(lambda: resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))),
    "raise memory": attempt(lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1))),
    "become root": attempt(lambda: os.setuid(0)),
}
""")
    assert tried.pop("disarm alarm") == ["itimer_error", "[Errno 1] Operation not permitted"]
    for name in ("raise cpu", "raise memory"):  # EPERM, in the resource module's words
        assert tried.pop(name) == ["ValueError", "not allowed to raise maximum limit"], name
    assert all(_refused(outcome) for outcome in tried.values()), tried


# --- time and memory ---


def _tight_registry() -> Any:
    registry = default_registry(plugins=False)
    registry.register(CodeNode(SandboxLimits(timeout=1, max_memory_mb=64)))
    return registry


async def _run_tight(code: str) -> NodeRun:
    document = workflow(CODE, {"language": "python", "pythonCode": HOST + code}, [{"n": 1}], version=2)
    return NodeRun(await execute(document, registry=_tight_registry()))


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        ("while True:\n    pass", "TIMEOUT"),
        (
            "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass",
            "TIMEOUT",
        ),
        ("import time\ntime.sleep(60)", "TIMEOUT"),
        ("attempt(lambda: signal.setitimer(signal.ITIMER_REAL, 0))\nwhile True:\n    pass", "TIMEOUT"),
        ("import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", "TIMEOUT"),  # inside C: the CPU rlimit ends it
        ("x = 10 ** 10 ** 9", "TIMEOUT"),
        ("sum(range(10**13))", "TIMEOUT"),
        # the alarm's reply switched off from inside: the CPU rlimit, then the service's own deadline, end it
        ("g['_STATE']['replying'] = True\nwhile True:\n    pass", "TIMEOUT"),
        ("g['_STATE']['replying'] = True\nimport time\ntime.sleep(60)", "TIMEOUT"),
        ("bytearray(10**10)", "LIMIT_EXCEEDED"),
        ("x = []\nwhile True:\n    x.append(' ' * 10**6)", "LIMIT_EXCEEDED"),
        ("try:\n    bytearray(10**10)\nexcept MemoryError:\n    pass\nreturn [{'caught': True}]", None),
    ],
)
async def test_runaway_scripts_end_in_bounded_time_and_the_next_run_works(code: str, error_code: str) -> None:
    started = time.monotonic()
    run = await _run_tight(code)
    assert time.monotonic() - started < 8
    if error_code is None:
        assert run.json() == [[{"caught": True}]]
    else:
        assert run.error["code"] == error_code, run.error
    assert (await _run_tight("return [{'ok': True}]")).json() == [[{"ok": True}]]


# --- nothing crosses from one run to the next ---


async def test_no_state_leaks_between_runs() -> None:
    first = await run_python("""
import random
g["builtins"].leaked = 42
type(_input).leaked = 1
g["ALLOWED_MODULES"] = frozenset({"os"})
random.seed(7)
return [{"set": True}]
""")
    assert first.json() == [[{"set": True}]]
    second = await run_python("""
import random
return [{"builtin": hasattr(g["builtins"], "leaked"), "class": hasattr(type(_input), "leaked"),
         "modules": "os" in g["ALLOWED_MODULES"], "random": random.random()}]
""")
    [[seen]] = second.json()
    random_after_seed_7 = 0.32383276483316237
    assert seen == {"builtin": False, "class": False, "modules": False, "random": seen["random"]}
    assert seen["random"] != random_after_seed_7
    third = await run_python("import random\nreturn [{'random': random.random()}]")
    assert third.json()[0][0]["random"] != seen["random"]  # each process seeds its own generator


def _job_pids(server: int) -> list[int]:
    """The server's children that run jobs (under seccomp), not its zygote."""
    children = [
        int(pid)
        for task in Path(f"/proc/{server}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]
    return [pid for pid in children if "\nSeccomp:\t2\n" in Path(f"/proc/{pid}/status").read_text()]


def _memory_holds(pid: int, needle: bytes) -> bool:
    """Whether any readable mapping of process ``pid`` contains ``needle`` (read as root through /proc)."""
    with open(f"/proc/{pid}/mem", "rb") as memory:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            span, permissions = line.split()[:2]
            if not permissions.startswith("r") or line.endswith(("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(bound, 16) for bound in span.split("-"))
            memory.seek(start)
            try:
                if needle in memory.read(end - start):
                    return True
            except OSError:
                continue
    return False


def _job(code: str, rows: list[Any]) -> SandboxJob:
    data = {
        "mode": "runOnceForAllItems",
        "items": [{"json": row} for row in rows],
        "runIndex": 0,
        "vars": {},
        "params": {},
        "workflow": {},
        "execution": {"mode": "manual"},
        "nodeNames": [],
        "nodes": {},
        "pairedItems": {},
        "staticData": None,
    }
    return SandboxJob("runOnceForAllItems", code, data)


async def test_a_job_process_holds_no_other_jobs_data_and_is_confined() -> None:
    secret = f"tenant-a-secret-{uuid.uuid4().hex}"
    marker = f"tenant-b-marker-{uuid.uuid4().hex}"
    limits = SandboxLimits(timeout=10)
    done = await run_sandbox(_job("return [{'echo': _json['s']}]", [{"s": secret}]), limits, PYTHON_SERVER)
    assert done["ok"] == [{"echo": secret}]
    sleeper = asyncio.ensure_future(
        run_sandbox(_job(f"import time\nx = {marker!r}\ntime.sleep(2)\nreturn []", []), limits, PYTHON_SERVER)
    )
    server = PYTHON_SERVER.pid
    assert server is not None
    for _ in range(100):
        await asyncio.sleep(0.02)
        if pids := _job_pids(server):
            break
    else:
        raise AssertionError("the job's process never started")
    [pid] = pids
    status = Path(f"/proc/{pid}/status").read_text()
    assert "\nSeccomp:\t2\n" in status and "\nNoNewPrivs:\t1\n" in status
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""
    assert _memory_holds(pid, marker.encode())  # the scan finds what this job does hold
    assert not _memory_holds(pid, secret.encode())
    assert (await sleeper)["ok"] == []


async def test_jobs_die_with_their_server_and_a_new_server_takes_over() -> None:
    limits = SandboxLimits(timeout=30)
    task = asyncio.ensure_future(run_sandbox(_job("while True:\n    pass", []), limits, PYTHON_SERVER))
    for _ in range(100):
        await asyncio.sleep(0.02)
        server = PYTHON_SERVER.pid
        if server is not None and (pids := _job_pids(server)):
            break
    else:
        raise AssertionError("the job's process never started")
    os.kill(server, signal.SIGKILL)
    with pytest.raises(NodeError, match="stopped before the script finished"):
        await asyncio.wait_for(task, 10)
    for _ in range(100):
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the job's process outlived its server")
    again = await run_sandbox(_job("return [{'again': True}]", []), limits, PYTHON_SERVER)
    assert again["ok"] == [{"again": True}]
