"""Plain ASGI middleware (no per-request task or body copy): request ids, body size cap, metrics.

Written against ASGI directly because Starlette's ``BaseHTTPMiddleware`` costs a task and a queue per
request, which shows at thousands of requests a second.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantflow import metrics
from tenantflow.engine.errors import ErrorCode, error_number

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class BodyTooLarge(BaseException):
    """Raised from ``receive`` once a streamed body passes the cap. A BaseException, like a cancellation,
    because FastAPI turns any Exception raised while it reads a body into a 400 "error parsing the body",
    which would hide the 413 this middleware answers."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ServiceMiddleware:
    """Gives each request an id (``X-Request-Id`` in, or a new one, and out), refuses bodies over the cap
    with 413 before reading them where Content-Length says so and while streaming otherwise, and records
    request counts and latencies by route template and status."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            length = _header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._too_large(send_with_id, request_id)
                return
            await self.app(scope, self._capped(receive), send_with_id)
        except BodyTooLarge:
            await self._too_large(send_with_id, request_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return counted

    async def _too_large(self, send: Send, request_id: str) -> None:
        error: dict[str, Any] = {
            "code": ErrorCode.PAYLOAD_TOO_LARGE.value,
            "number": error_number(ErrorCode.PAYLOAD_TOO_LARGE),
            "message": f"the request body is larger than {self.max_body_bytes} bytes",
            "path": "$",
            "requestId": request_id,
        }
        body = json.dumps({"error": error}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
