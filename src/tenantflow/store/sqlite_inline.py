"""An aiosqlite-shaped connection whose calls run on the event loop's own thread.

aiosqlite hands every call to a worker thread and the result back: through SQLAlchemy that is about
140 µs a statement (a one-SELECT transaction is nine hand-offs, 1.5 ms of CPU), while the SQLite call
itself takes about a microsecond. So the service runs SQLite inline. The one call that can take long is
waiting for another connection's write lock; :class:`~tenantflow.store.database.Database` keeps that off
the loop within a process (one write transaction at a time, queued on an asyncio lock), and other
processes' write transactions are short (a CLI prune deletes in batches).

Only what SQLAlchemy's aiosqlite adapter and the store use is provided.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Self


class InlineCursor:
    """``aiosqlite.Cursor``'s coroutine interface over a ``sqlite3.Cursor``."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._rows()

    async def _rows(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Self:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def executescript(self, script: str) -> Self:
        self._cursor.executescript(script)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InlineQueue:
    """SQLAlchemy sets ``isolation_level`` through aiosqlite's private call queue: run the call now."""

    __slots__ = ()

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as error:
            if future is None:
                raise
            future.set_exception(error)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection:
    """``aiosqlite.Connection``'s interface as SQLAlchemy's adapter uses it, over a ``sqlite3.Connection``."""

    __slots__ = ("_conn", "_tx")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._tx = _InlineQueue()

    def __await__(self) -> Any:
        async def itself() -> InlineConnection:
            return self

        return itself().__await__()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:  # sqlite3 takes None, DEFERRED, IMMEDIATE or EXCLUSIVE
        self._open().isolation_level = value

    @property
    def in_transaction(self) -> bool:
        return self._open().in_transaction

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The ``sqlite3`` connection itself, for writes that skip SQLAlchemy (:mod:`.sqlite_writes`)."""
        return self._open()

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def executescript(self, script: str) -> InlineCursor:
        return await self.cursor().executescript(script)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    def begin(self, *, immediate: bool) -> None:
        """Open a transaction now (``BEGIN IMMEDIATE`` takes the write lock at once)."""
        self._open().execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        """What SQLAlchemy calls to terminate a connection without waiting."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def connector(path: str, *, timeout: float) -> Callable[[], Any]:
    """SQLAlchemy's ``async_creator``: a new inline connection to ``path`` on each call."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, timeout=timeout, check_same_thread=False))

    return connect
