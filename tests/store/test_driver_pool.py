"""The asyncpg pool behind ``Database.fetch``, on the test server: it answers as SQLAlchemy's connections
do, and a connection the server dropped costs no statement twice and no failure that a ping could
have prevented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tenantflow.store.database import Database, async_url
from tenantflow.store.driver_pool import LOST, DriverPool
from tests.conftest import DATABASE_VAR, required_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def server_url() -> str:
    return async_url(required_env(DATABASE_VAR))


@asynccontextmanager
async def admin_connection(server_url: str) -> AsyncIterator[asyncpg.Connection]:
    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def admin(server_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with admin_connection(server_url) as connection:
        yield connection


@pytest.fixture
async def always_pinged(server_url: str) -> AsyncIterator[DriverPool]:
    pool = DriverPool(make_url(server_url), max_size=2, ping_after=0.0)
    try:
        yield pool
    finally:
        await pool.close()


async def test_json_comes_back_as_through_sqlalchemy(server_url: str) -> None:
    database = Database(server_url)
    statement = text(
        "SELECT CAST(:document AS jsonb) AS b, CAST(:document AS json) AS j, CAST(:number AS integer) AS n"
    )
    parameters = {"document": '{"a": [1, 2.5, null, "x"]}', "number": 7}
    try:
        async with database.engine.connect() as connection:
            through_sqlalchemy = (await connection.execute(statement, parameters)).one()
        [row] = await database.fetch(statement, parameters)
    finally:
        await database.dispose()
    assert (
        tuple(row) == tuple(through_sqlalchemy) == ({"a": [1, 2.5, None, "x"]}, {"a": [1, 2.5, None, "x"]}, 7)
    )


async def test_statements_are_planned_once_for_every_value(server_url: str) -> None:
    """A prepared statement's plan shows its parameter, not the value of the call: PostgreSQL planned it
    once for every value (a plan made for the call would name ``'pg_class'``)."""
    pool = DriverPool(make_url(server_url), max_size=1)  # one connection: the PREPARE is there
    try:
        await pool.fetch("PREPARE by_name(name) AS SELECT oid FROM pg_class WHERE relname = $1", [])
        rows = await pool.fetch("EXPLAIN EXECUTE by_name('pg_class')", [])
    finally:
        await pool.close()
    plan = "\n".join(row[0] for row in rows)
    assert "$1" in plan and "'pg_class'" not in plan, plan


async def test_fetch_is_postgresqls_only(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            await database.fetch(text("SELECT 1"), {})
    finally:
        await database.dispose()


def terminate_unnoticed(server_url: str, pid: int) -> None:
    """End a backend from another thread while this loop is blocked: the pool's connection has not read
    the server's goodbye when it is next used, as after a pause in which the server dropped it."""

    async def terminate() -> None:
        async with admin_connection(server_url) as admin:
            await admin.execute("SELECT pg_terminate_backend($1, 5000)", pid)  # waits for the end

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, terminate()).result()


async def test_a_connection_dropped_while_idle_is_found_by_the_ping(
    always_pinged: DriverPool, server_url: str
) -> None:
    [first] = await always_pinged.fetch("SELECT pg_backend_pid()", [])
    terminate_unnoticed(server_url, first[0])
    [second] = await always_pinged.fetch("SELECT pg_backend_pid()", [])
    assert second[0] != first[0]


async def test_a_connection_lost_under_a_statement_fails_it_and_is_replaced(
    always_pinged: DriverPool, admin: asyncpg.Connection
) -> None:
    await admin.execute("CREATE TABLE IF NOT EXISTS driver_pool_probe (n integer)")
    try:
        with pytest.raises(LOST):
            await always_pinged.fetch(
                "INSERT INTO driver_pool_probe SELECT 1 FROM pg_terminate_backend(pg_backend_pid())", []
            )
        assert await admin.fetchval("SELECT count(*) FROM driver_pool_probe") == 0  # not sent again
        [row] = await always_pinged.fetch("SELECT 1", [])
        assert row[0] == 1
    finally:
        await admin.execute("DROP TABLE driver_pool_probe")


async def test_without_a_ping_a_busy_connection_is_reused(server_url: str) -> None:
    pool = DriverPool(make_url(server_url), max_size=1)
    try:
        pids = {(await pool.fetch("SELECT pg_backend_pid()", []))[0][0] for _ in range(5)}
    finally:
        await pool.close()
    assert len(pids) == 1


def test_a_closed_pool_opens_again_on_another_loop(server_url: str) -> None:
    """What ``Database.dispose`` then a new ``asyncio.run`` do (the CLI's commands, the test suite)."""
    pool = DriverPool(make_url(server_url), max_size=1)

    async def once() -> int:
        try:
            [row] = await pool.fetch("SELECT 1", [])
            return int(row[0])
        finally:
            await pool.close()

    assert asyncio.run(once()) == asyncio.run(once()) == 1
