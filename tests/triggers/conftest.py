"""The scheduler runs on the store suite's backends (its fixtures, imported), as the services do."""

from __future__ import annotations

import pytest

from tests.store import conftest as store_suite

# tests/conftest.py makes the databases (postgres_url, sqlite_url); the store suite opens stores on them.
keyring = store_suite.keyring
redis_url = store_suite.redis_url
store = store_suite.store


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
