"""The Python Code node's sandbox runner: each job in a new, confined process.

Loaded by the fork server (:mod:`forkserver`: ``python -I forkserver.py python_sandbox.py``, empty
environment). CPython offers no in-process boundary (restricted builtins are not one), so the boundary is the
process itself. Each job's process:

- is forked from a *zygote* forked from the server before the server read any job, so its memory holds no
  other job's code, items or results (the server's freed buffers would); the job arrives through a memfd;
- is re-parented to the server (a child subreaper), which reaps and kills it; dies with the server;
- keeps a single descriptor (its reply pipe, as fd 0), drops root for ``nobody`` and takes rlimits: CPU time,
  address space (the memory limit), file size 0, no new descriptors, no processes;
- then loads a seccomp filter that allows only what running Python code needs (memory, clocks, randomness,
  writing the reply, exiting): no ``open``, sockets, ``fork``/``clone``/``exec``, ``ptrace``, signals to
  others, timers or signal handlers (so the wall-time alarm set before it cannot be disarmed);
- runs the code as n8n's Pyodide Code node does (an ``async def`` body with ``_input``, ``_json``, ``_()``…,
  ``print`` to the node's logs), writes one JSON reply and exits.

Imports: the standard-library modules below are loaded here once, as the job's process can open no file;
user code may import those and nothing else. Kept free of ``tenantflow`` imports.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import datetime
import errno
import functools
import importlib
import json
import math
import os
import random
import resource
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, NoReturn

import jmespath
import pyseccomp

ALLOWED_MODULES = frozenset(
    {
        "array",
        "base64",
        "binascii",
        "bisect",
        "calendar",
        "cmath",
        "collections",
        "collections.abc",
        "copy",
        "csv",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "hmac",
        "html",
        "ipaddress",
        "itertools",
        "json",
        "math",
        "numbers",
        "operator",
        "pprint",
        "random",
        "re",
        "secrets",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "time",
        "typing",
        "unicodedata",
        "urllib",
        "urllib.parse",
        "uuid",
        "zlib",
    }
)
"""What user code may import: pure computation, no I/O (which the seccomp filter would refuse anyway)."""
_PRELOADED = ("_strptime", "encodings.latin_1", "encodings.utf_16", "encodings.utf_32", "encodings.cp1252")
"""Modules the allowed ones load lazily (``datetime.strptime``, ``str.encode``)."""
for _module in sorted(ALLOWED_MODULES) + list(_PRELOADED):
    importlib.import_module(_module)

_ALLOWED_SYSCALLS = (
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "futex",
    "rt_sigreturn",
    "restart_syscall",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "getrandom",
    "getpid",
    "gettid",
    "sched_yield",
    "getrusage",
    "times",
    "close",
    "exit",
    "exit_group",
)
_AT_EMPTY_PATH = 0x1000
_NOBODY = 65534
_MAX_LOG_LINES = 100
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_REPLY_FD = 0
_STATE: dict[str, bool] = {"replying": False}


# --- processes: the zygote and each job's process -----------------------------------------------------------


def start_spawner() -> Callable[[dict[str, Any]], tuple[int, int]]:
    """Fork the zygote now, before the server reads any job; return how the server starts a job."""
    server = os.getpid()
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.fork() == 0:
        _zygote(theirs, server)
    theirs.close()
    ours.settimeout(10)
    return functools.partial(_spawn, ours)


def _spawn(zygote: socket.socket, job: dict[str, Any]) -> tuple[int, int]:
    """Start ``job``: hand its data (a memfd) and reply pipe to the zygote; its process reports its pid once
    it is the server's child."""
    memfd = os.memfd_create("job")
    try:
        _write_all(memfd, json.dumps(job).encode())
        read_fd, write_fd = os.pipe()
        try:
            socket.send_fds(zygote, [b"j"], [memfd, write_fd])
        finally:
            os.close(write_fd)
    finally:
        os.close(memfd)
    pid = bytearray()
    while len(pid) < 4:
        chunk = zygote.recv(4 - len(pid))
        if not chunk:
            raise ConnectionError("the Python sandbox's zygote is gone")
        pid += chunk
    return int.from_bytes(pid, "big"), read_fd


def _zygote(sock: socket.socket, server: int) -> NoReturn:
    """Fork a job process per request, through a short-lived middle process, so that the job's process is
    orphaned at once and re-parented to the server."""
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server:
            os._exit(1)
        keep = sock.fileno()
        os.closerange(0, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
        while True:
            data, fds, _, _ = socket.recv_fds(sock, 1, 2)
            if not data:
                os._exit(0)
            middle = os.fork()
            if middle == 0:
                if os.fork() == 0:
                    _job_process(sock, fds, server)
                os._exit(0)
            for fd in fds:
                os.close(fd)
            os.waitpid(middle, 0)
    finally:
        os._exit(0)


def _job_process(sock: socket.socket, fds: list[int], server: int) -> NoReturn:
    try:
        memfd, reply_fd = fds
        deadline = time.monotonic() + 5
        while os.getppid() != server:  # the middle process is exiting
            if time.monotonic() > deadline:
                os._exit(1)
            time.sleep(0.0002)
        sock.sendall(os.getpid().to_bytes(4, "big"))
        job = json.loads(os.pread(memfd, os.fstat(memfd).st_size, 0), object_hook=JsonDict)
        if reply_fd != _REPLY_FD:
            os.dup2(reply_fd, _REPLY_FD)
        os.closerange(_REPLY_FD + 1, os.sysconf("SC_OPEN_MAX"))
        if os.geteuid() == 0:
            os.setgroups([])
            os.setresgid(_NOBODY, _NOBODY, _NOBODY)
            os.setresuid(_NOBODY, _NOBODY, _NOBODY)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
        if os.getppid() != server:
            os._exit(1)
        run_job(job)
    finally:
        os._exit(0)


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --- confinement --------------------------------------------------------------------------------------------


def confine(timeout: float, max_memory_mb: int) -> None:
    """Limits, the wall-time alarm and the seccomp filter; after this the process can only compute."""
    random.seed()  # the zygote's generator state is every job's
    with open("/proc/self/statm") as statm:  # the last file this process opens
        pages = int(statm.read().split()[0])
    address_space = pages * os.sysconf("SC_PAGE_SIZE") + max_memory_mb * 2**20
    cpu = math.ceil(timeout) + 1
    for limit, value in (
        (resource.RLIMIT_AS, (address_space, address_space)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_FSIZE, (0, 0)),
        (resource.RLIMIT_NOFILE, (_REPLY_FD + 1, _REPLY_FD + 1)),
        (resource.RLIMIT_NPROC, (0, 0)),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(limit, value)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    syscalls = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    for name in _ALLOWED_SYSCALLS:
        syscalls.add_rule(pyseccomp.ALLOW, name)
    syscalls.add_rule(pyseccomp.ALLOW, "write", pyseccomp.Arg(0, pyseccomp.EQ, _REPLY_FD))
    for name, flags in (("newfstatat", 3), ("statx", 2)):  # fstat() on an open descriptor only
        syscalls.add_rule(
            pyseccomp.ALLOW, name, pyseccomp.Arg(flags, pyseccomp.MASKED_EQ, _AT_EMPTY_PATH, _AT_EMPTY_PATH)
        )
    syscalls.load()


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    """The wall-time limit: reply and exit at once, past any ``except`` in the script."""
    if not _STATE["replying"]:
        _reply({"error": {"kind": "timeout"}})


def _reply(reply: dict[str, Any], max_bytes: int = 1 << 16) -> NoReturn:
    """Write the reply and exit; one longer than ``max_bytes`` once serialised is replaced by a size error.

    The reply pipe is this process's, and so within the script's reach (CPython has no boundary inside a
    process): the fork server caps what it reads from it, and the service checks what it holds."""
    _STATE["replying"] = True
    _write_all(_REPLY_FD, _encode(reply, max_bytes))
    os._exit(0)


def _encode(reply: dict[str, Any], max_bytes: int) -> bytes:
    try:
        text = json.dumps(reply, default=_json_value, allow_nan=False).encode()
        return text if len(text) <= max_bytes else b'{"error": {"kind": "size"}}'
    except MemoryError:
        return json.dumps({"error": {"kind": "memory"}}).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        error = {"name": type(exc).__name__, "message": str(exc), "itemIndex": None}
        return json.dumps({"error": error, "logs": reply.get("logs", [])}).encode()


def _json_value(value: Any) -> Any:
    """Python values JSON lacks, as n8n's conversion gives them: dates as ISO text, sets as lists."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# --- running the code ---------------------------------------------------------------------------------------


def run_job(job: dict[str, Any]) -> NoReturn:
    """Confine this process, run the job and exit with its reply written."""
    logs: list[list[str]] = []
    try:
        confine(float(job["timeout"]), int(job["maxMemoryMb"]))
        sys.stdout = _LogStream(logs, "info")
        sys.stderr = _LogStream(logs, "error")
        _reply(_run(job, logs), int(job["maxReplyBytes"]))
    except MemoryError:
        _reply({"error": {"kind": "memory"}})


def _run(job: dict[str, Any], logs: list[list[str]]) -> dict[str, Any]:
    data = job["data"]
    try:
        code = compile(_wrap(job["code"]), "<code>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = f" (line {exc.lineno - 1})" if exc.lineno else ""
        return {
            "error": {"name": "SyntaxError", "message": f"{exc.msg}{line}", "itemIndex": None},
            "logs": logs,
        }
    static = data.get("staticData") or JsonDict({"global": JsonDict(), "node": JsonDict()})
    items = data["items"]
    per_item = data["mode"] == "runOnceForEachItem"
    result: Any = []
    for index in range(len(items)) if per_item else [None]:
        try:
            value = _call(code, _scope(data, index, static))
        except MemoryError:
            raise
        except BaseException as exc:  # the script's own error, as n8n reports it
            error = {"name": type(exc).__name__, "message": str(exc), "stack": _stack(exc, job["code"])}
            _flush()
            return {"error": {**error, "itemIndex": index}, "logs": logs}
        if not per_item:
            result = value
            break
        result.append(value)
    _flush()
    reply = {"ok": result, "logs": logs}
    if data.get("staticData"):
        reply["staticData"] = static
    return reply


def _wrap(code: str) -> str:
    """The code as the body of ``async def __main()``, as n8n runs it (``return`` and ``await`` work)."""
    body = "\n".join("  " + line for line in code.split("\n"))
    return f"async def __main():\n{body}\n  pass\n"


def _call(code: CodeType, scope: dict[str, Any]) -> Any:
    exec(code, scope)
    coroutine = scope["__main"]()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("The Code node's Python has no event loop: awaiting asyncio is not supported")


def _stack(exc: BaseException, code: str) -> str:
    """The traceback through the script's own lines, numbered as the user wrote them."""
    lines = code.split("\n")
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<code>"]
    text = ["Traceback (most recent call last):"]
    for frame in frames:
        number = (frame.lineno or 2) - 1
        source = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        name = "<module>" if frame.name == "__main" else frame.name
        text += [f"  line {number}, in {name}", f"    {source}"]
    return "\n".join([*text, f"{type(exc).__name__}: {exc}"])


class _LogStream:
    """``sys.stdout``/``sys.stderr``: each line printed becomes a log line of the node (at most 100)."""

    def __init__(self, logs: list[list[str]], level: str) -> None:
        self.logs, self.level, self.partial = logs, level, ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + str(text)).split("\n")
        for line in lines:
            self.add(line)
        return len(text)

    def add(self, line: str) -> None:
        if len(self.logs) < _MAX_LOG_LINES:
            self.logs.append([self.level, line])

    def flush(self) -> None:
        if self.partial:
            self.add(self.partial)
            self.partial = ""


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _LogStream):
            stream.flush()


# --- what the script sees -----------------------------------------------------------------------------------


class JsonDict(dict[str, Any]):
    """A JSON object whose keys also read as attributes (``item.json.name``), as on n8n's Pyodide proxies."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def _import(name: str, *args: Any, **kwargs: Any) -> Any:
    """``import`` in the script: the allowed modules, and the private ones they load lazily from C."""
    known = name in ALLOWED_MODULES or name in _PRELOADED
    if not known or kwargs.get("level", args[3] if len(args) > 3 else 0):
        allowed = ", ".join(sorted(ALLOWED_MODULES))
        raise ImportError(f"Import of module '{name}' is not allowed in the Code node. Allowed: {allowed}")
    return builtins.__import__(name, *args, **kwargs)


_BUILTINS = {**vars(builtins), "__import__": _import}


class _EnvAccess:
    """``_env``: refused, as environment variables are not the script's to read."""

    def __getattr__(self, name: str) -> NoReturn:
        raise PermissionError("access to env vars denied")

    __getitem__ = __getattr__


class _Input:
    """``_input``: the node's input items; ``.item`` is the current one (the first when run for all items, as
    n8n's proxy for item 0 gives it)."""

    def __init__(self, items: list[Any], item: Any, params: Any) -> None:
        self._items, self.item, self.params = items, item, params

    def all(self) -> list[Any]:
        return self._items

    def first(self) -> Any:
        return self._items[0] if self._items else None

    def last(self) -> Any:
        return self._items[-1] if self._items else None


class _NodeView:
    """``_('Name')``: another node's output items, as ``$('Name')`` in JavaScript."""

    def __init__(self, data: dict[str, Any], name: str, item_index: int | None) -> None:
        if name not in data["nodeNames"]:
            raise ValueError("Referenced node doesn't exist")
        self._name, self._record = name, data["nodes"].get(name) or {}
        self._paired = data.get("pairedItems", {}).get(name) or []
        self._index = item_index or 0
        self.isExecuted = "runs" in self._record
        self.params = self._record.get("parameter")
        self.context = self._record.get("context")

    def all(self, branch: int | None = None, run: int | None = None) -> list[Any]:
        if not self.isExecuted:
            raise ValueError(f"Node '{self._name}' hasn't been executed")
        runs = self._record["runs"]
        index = len(runs) - 1 if run is None or run == -1 else run
        if not 0 <= index < len(runs):
            raise ValueError(f'Run {index} of node "{self._name}" not found')
        outputs = runs[index]
        chosen = self._record["defaults"][index] if branch is None else branch
        return list(outputs[chosen]) if 0 <= chosen < len(outputs) else []

    def first(self, branch: int | None = None, run: int | None = None) -> Any:
        items = self.all(branch, run)
        return items[0] if items else None

    def last(self, branch: int | None = None, run: int | None = None) -> Any:
        items = self.all(branch, run)
        return items[-1] if items else None

    @property
    def item(self) -> Any:
        return self.itemMatching(self._index)

    def pairedItem(self, index: int | None = None) -> Any:
        return self.itemMatching(self._index if index is None else index)

    def itemMatching(self, index: int) -> Any:
        """The item input item ``index`` derives from, as the engine resolved it."""
        if index < len(self._paired):
            entry = self._paired[index]
            if "error" in entry:
                raise ValueError(entry["error"])
            return entry["item"]
        items = self.all()
        return items[index] if index < len(items) else None


def _scope(data: dict[str, Any], index: int | None, static: dict[str, Any]) -> dict[str, Any]:
    """The script's globals, fresh for every run of it (n8n builds a new globals dict per call)."""
    items = data["items"]
    item = items[index] if index is not None else None
    now = datetime.datetime.now(datetime.UTC)
    return {
        "__builtins__": _BUILTINS,
        "__name__": "__main__",
        "_input": _Input(items, items[index or 0] if items else None, data["params"]),
        "_json": (item or (items[0] if items else JsonDict())).get("json"),
        "_items": items,
        "_item": item,
        "_itemIndex": index or 0,
        "_runIndex": data["runIndex"],
        "_workflow": data["workflow"],
        "_execution": data["execution"],
        "_vars": data["vars"],
        "_parameter": data["params"],
        "_mode": data["execution"].get("mode"),
        "_now": now,
        "_today": now.replace(hour=0, minute=0, second=0, microsecond=0),
        "_": lambda name: _NodeView(data, name, index),
        "_jmespath": lambda value, expression: jmespath.search(expression, value),
        "_getWorkflowStaticData": lambda kind="global": static["node" if kind == "node" else "global"],
        "_env": _EnvAccess(),
    }
