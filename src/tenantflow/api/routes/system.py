"""Routes outside tenants: health, readiness, metrics, the node catalogue, login and first-run bootstrap."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from tenantflow import metrics
from tenantflow.api.deps import client_ip, rate_limit, runtime_of
from tenantflow.api.errors import ApiError, request_id
from tenantflow.api.schemas.common import ERROR_RESPONSES, Strict
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import utc_now
from tenantflow.queue.liveness import live_within_seconds
from tenantflow.services import provisioning
from tenantflow.store.audit import Actor
from tenantflow.store.tenants import TENANT_ID
from tenantflow.store.workers import QueueStats, queue_stats

router = APIRouter(responses=ERROR_RESPONSES)
_READY_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class LoginBody(Strict):
    tenant: str = Field(pattern=TENANT_ID.pattern)
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginResult(BaseModel):
    accessToken: str
    tokenType: str
    expiresIn: int
    tenant: str
    userId: str
    level: int


class BootstrapBody(Strict):
    tenant: str = Field(default="demo", min_length=1, max_length=64)
    tenantName: str = Field(default="Demo", min_length=1, max_length=255)
    email: str = Field(default="admin@example.com", min_length=3, max_length=320)
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class BootstrapResult(BaseModel):
    tenant: str
    userId: str
    email: str
    password: str
    apiKey: str


async def _public(request: Request, response: Response, preset: str = "public") -> None:
    await rate_limit(request, response, preset, "-", "anonymous")


@router.get("/healthz", response_model=Health, tags=["system"], summary="Liveness")
async def healthz(request: Request, response: Response) -> dict[str, str]:
    await _public(request, response)
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, tags=["system"], summary="Database and Redis reachable")
async def readyz(request: Request, response: Response) -> JSONResponse:
    await _public(request, response)
    store = runtime_of(request).store
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S), store.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; the reason goes to the body, not a 500
        checks["database"] = f"unreachable: {type(error).__name__}"
    redis = runtime_of(request).redis
    if redis is not None:
        try:
            async with asyncio.timeout(_READY_TIMEOUT_S):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"unreachable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503, headers=dict(response.headers))


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=Response)
async def prometheus(request: Request, response: Response) -> Response:
    await _public(request, response)
    await _queue_figures(request).refresh()
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE, headers=dict(response.headers))


def _queue_figures(request: Request) -> metrics.QueueFigures:
    """The app's reader of the queue's gauges, made on the first scrape."""
    state = request.app.state
    figures: metrics.QueueFigures | None = getattr(state, "queue_figures", None)
    if figures is None:
        runtime = runtime_of(request)
        database, lease_seconds = runtime.store.database, runtime.settings.lease_seconds

        async def read() -> QueueStats:
            live_within = live_within_seconds(lease_seconds)
            return await queue_stats(
                database, utc_now(), lease_seconds=lease_seconds, live_within_seconds=live_within
            )

        figures = state.queue_figures = metrics.QueueFigures(read)
    return figures


@router.get("/api/v1/nodes", tags=["system"], summary="The node catalogue with parameter schemas")
async def nodes(request: Request, response: Response) -> list[dict[str, Any]]:
    await _public(request, response)
    return [node_type.describe() for node_type in runtime_of(request).store.registry]


@router.post(
    "/api/v1/auth/login", response_model=LoginResult, tags=["identity"], summary="Email + password → token"
)
async def login(request: Request, response: Response, body: LoginBody) -> dict[str, Any]:
    await rate_limit(request, response, "login", body.tenant, f"email:{body.email.lower()}")
    runtime = runtime_of(request)
    actor = Actor(body.tenant, None, 0, request_id(request), client_ip(request))
    token = await runtime.authenticator.login(body.tenant, body.email, body.password, actor=actor)
    if token is None:
        raise ApiError(401, ErrorCode.INVALID_CREDENTIALS, "unknown tenant, email or password")
    principal = token.principal
    return {
        "accessToken": token.access_token,
        "tokenType": "Bearer",
        "expiresIn": token.expires_in,
        "tenant": principal.tenant_id,
        "userId": principal.user_id,
        "level": int(principal.level),
    }


@router.post(
    "/api/v1/bootstrap",
    status_code=201,
    response_model=BootstrapResult,
    tags=["identity"],
    summary="First run: a tenant, its admin and an API key, on an empty database only",
)
async def bootstrap(
    request: Request, response: Response, body: BootstrapBody | None = None
) -> dict[str, Any]:
    await _public(request, response, "bootstrap")
    body = body or BootstrapBody()
    made = await provisioning.bootstrap(
        runtime_of(request).store,
        tenant_id=body.tenant,
        tenant_name=body.tenantName,
        email=body.email,
        password=body.password,
    )
    if made is None:
        raise ApiError(409, ErrorCode.BOOTSTRAP_DONE, "this service already has tenants; bootstrap runs once")
    return {
        "tenant": made.tenant_id,
        "userId": made.user_id,
        "email": made.email,
        "password": made.password,
        "apiKey": made.api_key,
    }
