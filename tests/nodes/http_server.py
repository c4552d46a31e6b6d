"""A loopback HTTP server for the HTTP nodes' tests: it records every request and echoes it as JSON, unless
a test gave the path a route of its own."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


class Server:
    """A loopback test server that records every request it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.routes: dict[str, Any] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        route = self.routes.get(request.path)
        if route is None:
            return await self.echo(request)
        response: web.StreamResponse = await route(request)
        return response

    async def echo(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": await request.text(),
            }
        )


@asynccontextmanager
async def serve(*hosts: str) -> AsyncIterator[tuple[Server, int]]:
    """Start a :class:`Server` on ``hosts`` (default 127.0.0.1), all on one free port."""
    server = Server()
    runner = web.AppRunner(server.app)
    await runner.setup()
    port = free_port()
    for host in hosts or ("127.0.0.1",):
        await web.TCPSite(runner, host, port).start()
    try:
        yield server, port
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})
