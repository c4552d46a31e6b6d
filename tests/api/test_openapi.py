"""schemathesis against the app's own OpenAPI document, in-process: no operation answers a 5xx, every answer
matches its declared schema and status codes.

One app on a fresh SQLite file, its lifespan run by schemathesis (on schemathesis's own event loop), tenant
A's admin as the caller. Generation is deterministic (fixed seed, derandomized, no shrinking, no example
database) and bounded: schemathesis's coverage cases for valid input, then 10 fuzzed cases per operation,
valid and invalid, so the run costs the same every time (about 12 s). Each case gets a workflow of its
own when its path names one, and fixed targets for the ids that would otherwise lock the caller out (its own
user, its own key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from pydantic import SecretStr
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tenantflow.api.app import create_app
from tenantflow.services import provisioning
from tenantflow.services.runtime import open_store
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.identity import Level
from tenantflow.store.secrets import Keyring
from tests.api.conftest import workflow_body
from tests.conftest import _migrate

MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
TENANT = "openapi"


@dataclass(frozen=True, slots=True)
class Target:
    """The app and what a case needs to reach into tenant A: the admin's key, ids that exist."""

    app: Any
    headers: dict[str, str]
    execution_id: str
    user_id: str
    key_id: str

    def new_workflow(self) -> str:
        with asgi.get_client(self.app) as client:
            response = client.post(f"/api/v1/{TENANT}/workflows", json=workflow_body(), headers=self.headers)
        assert response.status_code == 201, response.text
        workflow_id: str = response.json()["id"]
        return workflow_id

    def prepare(self, case: Case) -> None:
        """Aim the case at tenant A and at ids that exist; everything else stays as generated."""
        parameters = case.path_parameters
        if parameters is None:
            return
        if "tenant" in parameters:
            parameters["tenant"] = TENANT
        if "workflow_id" in parameters:
            parameters["workflow_id"] = self.new_workflow()
        for name, value in (
            ("execution_id", self.execution_id),
            ("user_id", self.user_id),
            ("key_id", self.key_id),
        ):
            if name in parameters:
                parameters[name] = value


async def _provision(settings: Settings) -> tuple[str, str, str, str]:
    """Tenant A, its admin and key, a target user with a key of its own, and a finished execution."""
    store = await open_store(settings)
    try:
        await provisioning.create_tenant(store, TENANT)
        admin = await provisioning.create_user(store, TENANT, "admin@openapi.example.com", Level.ADMIN)
        _, key = await provisioning.create_api_key(store, TENANT, admin.email, "admin")
        target = await provisioning.create_user(store, TENANT, "target@openapi.example.com", Level.USER)
        target_key, _ = await provisioning.create_api_key(store, TENANT, target.email, "target")
        async with store.unit(Actor(TENANT, admin.id, Level.ADMIN)) as unit:
            workflow = await unit.workflows.create(workflow_body())
            execution = await unit.executions.create(workflow.id)
        return key, execution.id, target.id, target_key.id
    finally:
        await store.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data: Path = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{data / 'tenantflow.db'}",
        data_dir=data,
        secret_keys=SecretStr(Keyring.generate().spec()),
        rate_limits_enabled=False,
    )
    asyncio.run(_migrate(settings.resolved_database_url))
    key, execution_id, user_id, key_id = asyncio.run(_provision(settings))
    app = create_app(settings)
    try:
        yield Target(app, {"Authorization": f"Bearer {key}"}, execution_id, user_id, key_id)
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan runs on schemathesis's loop until told to stop


def _loaded() -> BaseSchema:
    """The app's OpenAPI document, read without starting anything (no lifespan, no files): the cases are
    parametrized at collection, and each is sent to the module's running app (``app=`` below).

    Not ``schemathesis.pytest.from_fixture``: schemathesis 4.32 renames the test through
    ``Function._nodeid``, which pytest 9.2 no longer has (AttributeError before any case runs)."""
    document = create_app(Settings(data_dir=Path("unused"))).openapi()
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20260101,
            # Coverage's boundary cases for valid input; invalid input is fuzzed below and in test_bad_input.
            "phases": {"coverage": {"unexpected-methods": [], "generation": {"mode": "positive"}}},
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "no-shrink": True,
                "deterministic": True,
                "database": "none",
            },
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)


schema = _loaded()


@schema.parametrize()
def test_every_operation_answers_within_its_schema(case: Case, target: Target) -> None:
    target.prepare(case)
    case.call_and_validate(app=target.app, headers=target.headers, checks=CHECKS)
