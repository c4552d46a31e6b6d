"""Whatever a caller sends, the store answers with a typed, documented error or a result: never a crash.

Random JSON goes into the operations that take free-form input (documents, patches, filters, sorts,
search text, import payloads). The only exceptions allowed out are :class:`StoreError` subclasses whose
code is documented, and a refused write leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import StoreError
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.store.conftest import new_tenant, open_store
from tests.store.factories import chain_document

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# NUL and non-ASCII on purpose: PostgreSQL refuses NUL in text and JSONB, SQLite does not.
texts = st.text(max_size=20) | st.text(alphabet="ab\x00é ", max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
filter_keys = st.sampled_from(
    ["name", "enabled", "category", "tags", "updatedAfter", "isLocked", "validationStatus", "nodes", "id"]
)


@pytest.fixture(params=["sqlite", "postgres"])
def fuzz_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def fuzz_store(fuzz_url: str, keyring: Keyring) -> AsyncIterator[tuple[Store, Actor]]:
    store = await open_store(fuzz_url, keyring)
    tenant = await new_tenant(store, "f")
    async with store.unit(Actor(tenant, user_id="fuzzer")) as unit:
        await unit.workflows.create(chain_document("fixed"))
    try:
        yield store, Actor(tenant, user_id="fuzzer")
    finally:
        await store.close()


def _documented(error: StoreError) -> None:
    assert isinstance(error.code, ErrorCode)
    assert error.path is None or error.path.startswith("$")


async def _count(store: Store, actor: Actor) -> int:
    async with store.unit(actor, read_only=True) as unit:
        return (await unit.workflows.list(limit=100)).total


@FUZZ
@given(
    document=st.dictionaries(
        st.sampled_from(["name", "nodes", "connections", "tags", "settings"]), json_values
    )
)
async def test_store_fuzzed_documents_are_stored_or_refused_cleanly(
    fuzz_store: tuple[Store, Actor], document: dict[str, Any]
) -> None:
    store, actor = fuzz_store
    before = await _count(store, actor)
    try:
        async with store.unit(actor) as unit:
            await unit.workflows.create(document, allow_invalid=True)
    except StoreError as error:
        _documented(error)
        assert await _count(store, actor) == before
    else:
        assert await _count(store, actor) == before + 1


@FUZZ
@given(
    filter_=st.dictionaries(filter_keys, json_values, max_size=3) | json_values,
    sort=st.none() | st.text(max_size=12) | st.sampled_from(["name", "-updatedAt", "+version"]),
    limit=st.integers(-5, 150),
    page=st.integers(-2, 20_000),
)
async def test_store_fuzzed_list_arguments_never_crash(
    fuzz_store: tuple[Store, Actor], filter_: Any, sort: str | None, limit: int, page: int
) -> None:
    store, actor = fuzz_store
    try:
        async with store.unit(actor, read_only=True) as unit:
            await unit.workflows.list(filter_, sort=sort, page=page, limit=limit)
    except StoreError as error:
        _documented(error)


@FUZZ
@given(
    query=texts | st.text(max_size=60), patch=st.dictionaries(st.text(max_size=12), json_values, max_size=3)
)
async def test_store_fuzzed_search_patch_and_import_never_crash(
    fuzz_store: tuple[Store, Actor], query: str, patch: dict[str, Any]
) -> None:
    store, actor = fuzz_store
    for attempt in ("search", "update", "import"):
        try:
            async with store.unit(actor) as unit:
                if attempt == "search":
                    await unit.workflows.search(query)
                elif attempt == "update":
                    fixed = await unit.workflows.find_first({"name": "fixed"})
                    assert fixed is not None
                    await unit.workflows.update(fixed.id, patch)
                else:
                    await unit.workflows.import_(patch)
        except StoreError as error:
            _documented(error)
