"""PostgreSQL: asyncpg's own pool, for the statements :meth:`.Database.fetch` sends to the driver straight.

Those statements (the execution writer's one-statement batches, a worker's claim and its question of
whose turn it is) are their own transactions and need nothing of SQLAlchemy's. Checking a connection out
of SQLAlchemy's pool and back cost them 170 µs of CPU each (a ``Connection`` built and torn down in a
greenlet, with its events); asyncpg's pool costs 90. At c=1 that is 3% of an ``execute?wait=true``, and a
webhook call through a worker makes four of them.

The connections are set up as SQLAlchemy sets up its own (JSON and JSONB decoded by ``json.loads``), so
a statement answers the same through either, and they plan each statement once (``plan_cache_mode`` is
``force_generic_plan``): left to choose, PostgreSQL went on planning the writer's and the claim's
statements anew on every call, 29% of its CPU per webhook call through a worker at c=1 (README, queue
mode). Each of these statements filters on its tenant (or on no value at all: whose turn it is) through
indexes whose choice no value changes, so one plan serves all.

One idle for :data:`PING_AFTER_SECONDS` is pinged before use (one round trip: ``SELECT 1``), as
:mod:`.database` pings SQLAlchemy's: a statement is never sent twice, so a connection the server dropped
while it sat idle must be found out before the statement goes. A connection lost under a statement fails
that statement, and every idle one is replaced on its next use, as SQLAlchemy invalidates its whole pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import URL

PING_AFTER_SECONDS: Final = 2.0
# Connection options SQLAlchemy's URL may carry that are its adapter's, not asyncpg.connect's.
_ADAPTER_OPTIONS: Final = (
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
    "async_creator_fn",
)
# What a lost connection raises: the server's "connection exception" class and the driver's own.
LOST: Final = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class DriverPool:
    """Opened on first use, on the loop that uses it; at most ``max_size`` connections."""

    def __init__(self, url: URL, *, max_size: int, ping_after: float = PING_AFTER_SECONDS) -> None:
        _, options = PGDialect_asyncpg().create_connect_args(url)  # type: ignore[no-untyped-call]
        self._options = {name: value for name, value in options.items() if name not in _ADAPTER_OPTIONS}
        self._max_size = max_size
        self._ping_after = ping_after
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock | None = None

    async def fetch(self, sql: str, arguments: Sequence[Any]) -> list[Any]:
        pool = self._pool or await self._open()
        async with self._connection(pool) as connection:
            try:
                rows: list[Any] = await connection.fetch(sql, *arguments)
            except LOST:
                await pool.expire_connections()
                raise
            connection.answered()
            return rows

    @asynccontextmanager
    async def _connection(self, pool: asyncpg.Pool) -> AsyncIterator[Any]:
        """A pooled connection that answered within :data:`PING_AFTER_SECONDS` or answers a ping now; else
        a new one, and every idle one is replaced on its next use (the server likely dropped them all)."""
        async with pool.acquire() as connection:
            if time.monotonic() - connection.answered_at < self._ping_after or await _answers(connection):
                yield connection
                return
        await pool.expire_connections()
        async with pool.acquire() as connection:
            yield connection

    async def close(self) -> None:
        """Close the connections; a later use opens the pool again, on the loop that uses it then."""
        self._opening = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _open(self) -> asyncpg.Pool:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=0,
                    max_size=self._max_size,
                    connection_class=_Connection,
                    init=_set_up,
                    reset=_keep,
                    **self._options,
                )
        return self._pool


class _Connection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """Remembers when it last answered, for the ping before a use after a pause."""

    __slots__ = ("answered_at",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered_at = time.monotonic()

    def answered(self) -> None:
        self.answered_at = time.monotonic()


async def _answers(connection: Any) -> bool:
    """Whatever stops the ping (a closed socket, a protocol in a state the server's goodbye left it in)
    means the same: not this connection. It is closed; the statement was not sent."""
    try:
        await connection.execute("SELECT 1")
    except Exception:
        with contextlib.suppress(asyncpg.InterfaceError):  # released to the pool already if it closed
            connection.terminate()
        return False
    return True


async def _set_up(connection: Any) -> None:
    """JSON and JSONB in and out as SQLAlchemy's asyncpg dialect sets them (text in, ``json.loads`` out),
    and one plan per statement. A ``SET`` rather than a start-up parameter, which a pooler such as
    PgBouncer refuses unless told to ignore it."""
    await connection.execute("SET plan_cache_mode = force_generic_plan")
    await connection.set_type_codec(
        "json", encoder=str.encode, decoder=_from_json, schema="pg_catalog", format="binary"
    )
    await connection.set_type_codec(
        "jsonb", encoder=_to_jsonb, decoder=_from_jsonb, schema="pg_catalog", format="binary"
    )


def _from_json(data: bytes) -> Any:
    return json.loads(data.decode())


def _to_jsonb(text: str) -> bytes:
    return b"\x01" + text.encode()  # JSONB's binary format: a version byte, then the text


def _from_jsonb(data: bytes) -> Any:
    return json.loads(data[1:].decode())


async def _keep(_connection: Any) -> None:
    """No reset on release: these statements leave no session state (asyncpg's reset is a round trip)."""
