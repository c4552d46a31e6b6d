"""Shared test configuration: async tests run on asyncio (the engine's event loop)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
