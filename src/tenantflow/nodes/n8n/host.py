"""n8n's Execute Command: a shell command on the machine that runs the workflow.

In a service that runs many tenants' workflows that is a way into the host, so it is refused
(HOST_ACCESS_DENIED) unless the operator allows it (``RunLimits.allow_host_commands``: the service's
``TENANTFLOW_ALLOW_HOST_COMMANDS``, ``tenantflow run --allow-host-commands``). Allowed, it runs as n8n's does:
``/bin/sh -c`` in the process's working directory, once (``executeOnce``, the default) or once per item,
giving ``{exitCode, stderr, stdout}`` trimmed; a command that exits non-zero fails the node with n8n's
"Command failed" message. The command gets a minimal environment (PATH, HOME, LANG), never the service's
own (which holds its keys), and each stream is capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, object_schema

MAX_OUTPUT_BYTES: Final = 8 * 1024 * 1024  # per stream
_PASSED_ENVIRONMENT: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


class ExecuteCommand(NodeType):
    """``Execute Command`` (n8n v1), behind the host's permission; see the module docstring."""

    type = "n8n-nodes-base.executeCommand"
    display_name = "Execute Command"
    description = "Runs a shell command on the host (only where the operator allows it)."
    aliases = ("executeCommand",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"command": STRING, "executeOnce": BOOLEAN}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        if not ctx.allow_host_commands:
            raise NodeError(
                "Execute Command runs a shell on the host, which this deployment does not allow",
                code=ErrorCode.HOST_ACCESS_DENIED,
                description="The operator enables it with TENANTFLOW_ALLOW_HOST_COMMANDS=true "
                "(tenantflow run --allow-host-commands)",
            )
        items = inputs[0] if inputs and inputs[0] else [{"json": {}}]
        count = 1 if ctx.param("executeOnce", 0, True) else len(items)
        out: Items = []
        for index in range(count):
            command = str(ctx.param("command", index, ""))
            exit_code, stdout, stderr = await _shell(command)
            if exit_code != 0:
                raise NodeError(
                    f"Command failed: {command}\n{stderr}".rstrip(), code=ErrorCode.NODE_EXECUTION_FAILED
                )
            out.append(
                {
                    "json": {"exitCode": exit_code, "stderr": stderr, "stdout": stdout},
                    "pairedItem": {"item": index},
                }
            )
        return [out]


async def _shell(command: str) -> tuple[int, str, str]:
    """Run ``command`` under ``/bin/sh``; killed if the node is cancelled (its timeout, an abort)."""
    environment = {name: os.environ[name] for name in _PASSED_ENVIRONMENT if name in os.environ}
    process = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = await asyncio.gather(_capped(process.stdout), _capped(process.stderr))
        code = await process.wait()
    except BaseException:
        if process.returncode is None:  # the shell and whatever it started: their own process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        raise
    return code, stdout, stderr


async def _capped(stream: asyncio.StreamReader) -> str:
    """The stream's text, trimmed as n8n trims it; more than MAX_OUTPUT_BYTES is an error, not a crash."""
    data = bytearray()
    while chunk := await stream.read(65536):
        data += chunk
        if len(data) > MAX_OUTPUT_BYTES:
            raise NodeError(
                f"the command wrote more than {MAX_OUTPUT_BYTES // (1024 * 1024)} MB to one stream",
                code=ErrorCode.NODE_EXECUTION_FAILED,
            )
    return data.decode("utf-8", errors="replace").strip()


NODE_TYPES: list[type[NodeType]] = [ExecuteCommand]
