"""The one dependency every route declares: authentication, rate limit, tenant and level, in that order.

No route checks a level or a tenant by hand. ``Access(level, preset)`` resolves the bearer credentials,
counts the request against its rate-limit preset (keyed by tenant + principal + client address), refuses a
principal of another tenant (403 TENANT_MISMATCH, god and supergod included) or below the route's level
(403 PERMISSION_DENIED), audits every refusal, and hands the route a :class:`Caller`. The store's tenant
guard stays the second wall behind it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from tenantflow.api.errors import ApiError, request_id
from tenantflow.api.ratelimit import RateLimiter
from tenantflow.engine.errors import ErrorCode
from tenantflow.services.access import Authenticator, Principal, denial, record_denial
from tenantflow.services.executions import ExecutionService
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.errors import StoreError
from tenantflow.store.identity import Level
from tenantflow.store.tenants import TENANT_ID
from tenantflow.store.unit import Store, Unit
from tenantflow.triggers import Scheduler

if TYPE_CHECKING:  # taskiq loads only in the queue mode
    from taskiq import AsyncBroker


@dataclass
class Runtime:
    """What the app's lifespan opens once and every request shares."""

    settings: Settings
    store: Store
    authenticator: Authenticator
    limiter: RateLimiter
    redis: Redis | None
    executions: ExecutionService
    scheduler: Scheduler | None = None
    broker: AsyncBroker | None = None  # the queue mode: executions go to workers through it


@dataclass(frozen=True, slots=True)
class Caller:
    """An admitted request: who asks, for which tenant, and the store to ask it of."""

    runtime: Runtime
    principal: Principal | None
    actor: Actor

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def level(self) -> Level:
        return Level.PUBLIC if self.principal is None else self.principal.level

    @asynccontextmanager
    async def unit(self, *, read_only: bool = False, query: bool = False) -> AsyncIterator[Unit]:
        """The caller's unit of work. ``query``: the store's arguments came from the query string, so its
        errors point there (``query.cursor``, not ``$.cursor``; ``query.name``, not ``$.filter.name``)."""
        try:
            async with self.store.unit(self.actor, read_only=read_only) as unit:
                yield unit
        except StoreError as error:
            if query and error.path is not None and error.path.startswith("$."):
                error.path = "query." + error.path.removeprefix("$.").removeprefix("filter.")
            raise


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _principal(runtime: Runtime, bearer: HTTPAuthorizationCredentials | None) -> Principal | None:
    if bearer is None:
        return None
    principal = await runtime.authenticator.principal(bearer.credentials)
    if principal is None:
        raise ApiError(
            401,
            ErrorCode.UNAUTHENTICATED,
            "the credentials are unknown, expired or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def rate_limit(request: Request, response: Response, preset: str, tenant: str, principal: str) -> None:
    """Count the request: 429 with ``Retry-After`` when over, else the ``RateLimit-*`` headers."""
    verdict = await runtime_of(request).limiter.hit(preset, tenant, principal, client_ip(request))
    if verdict is None:
        return
    if not verdict.allowed:
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"too many requests for the '{preset}' limit; retry in {max(verdict.reset_seconds, 1)} s",
            details={"preset": preset, "limit": verdict.limit},
            headers=verdict.headers(),
        )
    response.headers.update(verdict.headers())


class Access(HTTPBearer):
    """``Depends(Access(Level.USER, "list", "workflow.list"))``: admit a tenant route's caller or refuse.

    It is the route's bearer security scheme itself (OpenAPI's ``HTTPBearer``) rather than a dependency on
    one: FastAPI solves each level of dependencies anew per request, some 50 µs a level."""

    def __init__(self, level: Level, preset: str, operation: str) -> None:
        super().__init__(
            scheme_name="HTTPBearer",
            description="An API key (`tfk_…`) or a login token.",
            auto_error=False,
        )
        self.level = level
        self.preset = preset
        self.operation = operation

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response, tenant: str
    ) -> Caller:
        bearer = await super().__call__(request)
        runtime = runtime_of(request)
        try:
            principal = await _principal(runtime, bearer)
        except ApiError:
            await rate_limit(request, response, self.preset, tenant, "invalid-credentials")
            raise
        await rate_limit(request, response, self.preset, tenant, principal.name if principal else "anonymous")
        if principal is None:
            if self.level > Level.PUBLIC:
                raise ApiError(
                    401,
                    ErrorCode.UNAUTHENTICATED,
                    "this route needs an API key or a login token (Authorization: Bearer …)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return Caller(runtime, None, Actor(tenant, None, 0, request_id(request), client_ip(request)))
        actor = Actor(
            principal.tenant_id,
            principal.user_id,
            int(principal.level),
            request_id(request),
            client_ip(request),
        )
        if principal.tenant_id != tenant:
            error = denial(ErrorCode.TENANT_MISMATCH, "the route's tenant is not the caller's tenant")
            # A tenant id no tenant can have (a NUL, say) is not looked up: PostgreSQL would refuse the query.
            reached_for = tenant if TENANT_ID.match(tenant) else None
            await record_denial(runtime.store, actor, self.operation, error, reached_for=reached_for)
            raise ApiError(403, ErrorCode.TENANT_MISMATCH, error.message, path="path.tenant")
        if principal.level < self.level:
            error = denial(
                ErrorCode.PERMISSION_DENIED,
                f"{self.operation} needs level {int(self.level)} ({self.level.name.lower()}); "
                f"the caller has {int(principal.level)}",
            )
            await record_denial(runtime.store, actor, self.operation, error)
            raise ApiError(403, ErrorCode.PERMISSION_DENIED, error.message)
        return Caller(runtime, principal, actor)


def admit(level: Level, preset: str, operation: str) -> Any:
    """The ``Depends`` marker routes use; typed loosely because FastAPI reads it, not mypy."""
    return Depends(Access(level, preset, operation))
