"""The HTTP suite's world: the real app on each backend, two tenants with a user and an API key per level.

``world`` is module-scoped: one app per backend and test module, entered through its own lifespan (one Store)
and spoken to in-process with ``httpx2.AsyncClient(transport=ASGITransport(app))``. Tenants A and B each have
a user at every level 0-5 with an API key capped at that level, A has a second level-1 user (``peer``) for
the owner rules, and A's admin (level 3) also has a password and a login token. Only that one user pays for
argon2. Tests create their own workflows, so they do not depend on one another's leftovers.

SQLite runs with no Redis (the embedded default), PostgreSQL with Redis (the server set-up). Both servers
come from ``make test``'s environment; without them the PostgreSQL tests fail, never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from tenantflow.api.app import create_app
from tenantflow.services import provisioning
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tenantflow.store.models import AuditEntry, Workflow, WorkflowVersion
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.conftest import REDIS_VAR, required_env

BACKENDS: Final = ("sqlite", "postgres")
LEVELS: Final = tuple(int(level) for level in Level)
PASSWORD: Final = "api suite password 1"
MAX_BODY_BYTES: Final = 256 * 1024
BASE_URL: Final = "http://tenantflow.test"
ANY: Final = object()
NO_BODY: Final[Any] = object()  # send() without a body (``None`` would send JSON null)


def unique(label: str = "wf") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def workflow_body(name: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid workflow in seed 000's create shape: a manual trigger feeding a no-op."""
    return {
        "name": name or unique(),
        "category": "automation",
        "nodes": [
            {
                "id": "n1",
                "name": "Start",
                "type": "n8n-nodes-base.manualTrigger",
                "typeVersion": 1,
                "position": [0, 0],
                "parameters": {},
            },
            {
                "id": "n2",
                "name": "Pass",
                "type": "n8n-nodes-base.noOp",
                "typeVersion": 1,
                "position": [200, 0],
                "parameters": {},
            },
        ],
        "connections": {"Start": {"main": [[{"node": "Pass", "type": "main", "index": 0}]]}},
        **fields,
    }


def n8n_export(name: str | None = None) -> dict[str, Any]:
    """The same workflow as n8n exports it: no category, n8n's own top-level fields."""
    body = workflow_body(name)
    del body["category"]
    return {**body, "active": False, "settings": {"executionOrder": "v1"}, "pinData": {}, "meta": {}}


def expect_error(response: httpx2.Response, status: int, code: str, *, path: object = ANY) -> dict[str, Any]:
    """Assert the one error shape every refusal has, and return its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["number"], int) and isinstance(error["message"], str), error
    assert error["requestId"] == response.headers["x-request-id"], error
    assert set(error) <= {"code", "number", "message", "path", "details", "requestId"}, error
    if path is not ANY:
        assert error.get("path") == path, error
    return error


@dataclass(frozen=True, slots=True)
class Member:
    """A user of one tenant and its API key (capped at the user's level)."""

    tenant: str
    level: int
    user_id: str
    email: str
    key: str


Who = Member | str | None  # an API key's owner, a raw bearer token, or nobody


@dataclass
class World:
    backend: str
    app: FastAPI
    settings: Settings
    client: httpx2.AsyncClient
    a: str
    b: str
    members: dict[tuple[str, int], Member]
    peer: Member
    token: str

    @property
    def store(self) -> Store:
        store: Store = self.app.state.runtime.store
        return store

    def member(self, tenant: str, level: int) -> Member:
        return self.members[(tenant, level)]

    @property
    def admin(self) -> Member:
        """Tenant A's admin (level 3): the one who builds every test's workflows."""
        return self.member(self.a, Level.ADMIN)

    def url(self, suffix: str = "", *, tenant: str | None = None) -> str:
        return f"/api/v1/{tenant or self.a}/workflows{suffix}"

    async def send(
        self,
        method: str,
        url: str,
        *,
        who: Who,
        json: Any = NO_BODY,
        content: bytes | AsyncIterator[bytes] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        sent = dict(headers or {})
        bearer = who.key if isinstance(who, Member) else who
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        extra: dict[str, Any] = {} if json is NO_BODY else {"json": json}
        return await self.client.request(method, url, params=params, headers=sent, content=content, **extra)

    async def create(self, body: dict[str, Any] | None = None, *, who: Who = None) -> dict[str, Any]:
        """POST a workflow to tenant A (as its admin unless ``who``); returns the 201 summary."""
        response = await self.send(
            "POST", self.url(), who=who or self.admin, json=body if body is not None else workflow_body()
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def read(self, workflow_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        owner = tenant or self.a
        response = await self.send(
            "GET", self.url(f"/{workflow_id}", tenant=owner), who=self.member(owner, Level.ADMIN)
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def audit(self, tenant: str, request_id: str) -> list[dict[str, Any]]:
        """The tenant's audit rows of one request, read through the store (a unit of that tenant)."""
        async with self.store.unit(Actor(tenant), read_only=True) as unit:
            rows = await unit.session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id))
            return [
                {
                    "userId": row.user_id,
                    "operation": row.operation,
                    "targetId": row.target_id,
                    "outcome": row.outcome,
                    "errorCode": row.error_code,
                }
                for row in rows
            ]

    async def counts(self, tenant: str | None = None) -> tuple[int, int]:
        """How many workflows and version snapshots the tenant has: "nothing half-written" checks."""
        async with self.store.unit(Actor(tenant or self.a), read_only=True) as unit:
            workflows = await unit.session.scalar(select(func.count()).select_from(Workflow))
            versions = await unit.session.scalar(select(func.count()).select_from(WorkflowVersion))
            return int(workflows or 0), int(versions or 0)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-scoped here, so the module's app (an async fixture) outlives each test on one event loop."""
    return "asyncio"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{backend}_url")
    return url


async def _member(store: Store, tenant: str, level: int, label: str, password: str | None) -> Member:
    email = f"{label}{level}@{tenant}.example.com"
    user = await provisioning.create_user(store, tenant, email, level, password=password)
    _, key = await provisioning.create_api_key(store, tenant, email, f"{label}-{level}")
    return Member(tenant, level, user.id, email, key)


@pytest.fixture(scope="module")
async def world(
    backend: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp(f"api-{backend}"),
        secret_keys=SecretStr(Keyring.generate().spec()),
        redis_url=required_env(REDIS_VAR) if backend == "postgres" else None,
        rate_limits_enabled=False,
        max_body_bytes=MAX_BODY_BYTES,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store: Store = app.state.runtime.store
        a, b = unique("tenant-a"), unique("tenant-b")
        members: dict[tuple[str, int], Member] = {}
        for tenant in (a, b):
            await provisioning.create_tenant(store, tenant, tenant)
            for level in LEVELS:
                password = PASSWORD if (tenant, level) == (a, Level.ADMIN) else None
                members[(tenant, level)] = await _member(store, tenant, level, "level", password)
        peer = await _member(store, a, Level.USER, "peer", None)
        # A 500 comes back as a response (its traceback is in the captured log), as a real server sends it.
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            login = await client.post(
                "/api/v1/auth/login",
                json={"tenant": a, "email": members[(a, Level.ADMIN)].email, "password": PASSWORD},
            )
            assert login.status_code == 200, login.text
            yield World(backend, app, settings, client, a, b, members, peer, login.json()["accessToken"])
