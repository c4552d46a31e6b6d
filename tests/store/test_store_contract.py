"""The store contract, run against each backend: the same tests, one fixture per backend (Dagster style)."""

from __future__ import annotations

import pytest

from tests.store.conftest import REDIS_VAR, required_env
from tests.store.contract_audit import AuditLogContract
from tests.store.contract_concurrency import ConcurrencyContract
from tests.store.contract_executions import ExecutionStoreContract
from tests.store.contract_identity import IdentityStoreContract
from tests.store.contract_retention import RetentionStoreContract
from tests.store.contract_secrets import SecretStoreContract
from tests.store.contract_tenancy import TenantIsolationContract
from tests.store.contract_text import TextContract
from tests.store.contract_workflows import WorkflowStoreContract

pytestmark = pytest.mark.anyio


class StoreContract(
    WorkflowStoreContract,
    TenantIsolationContract,
    ConcurrencyContract,
    SecretStoreContract,
    IdentityStoreContract,
    ExecutionStoreContract,
    RetentionStoreContract,
    TextContract,
    AuditLogContract,
):
    """Every contract mixin; a backend passes when all of them pass."""


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


class TestPostgresRedisStore(WorkflowStoreContract, TenantIsolationContract):
    """The workflow operations again with the Redis warm tier and cross-process invalidation in play."""

    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    def redis_url(self) -> str:
        return required_env(REDIS_VAR)
