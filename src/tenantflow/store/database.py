"""Engines and sessions for the two backends: SQLite (one file, the default) and PostgreSQL.

SQLite needs care to behave like a server database under concurrency: WAL so readers never block the
writer, a busy timeout instead of instant "database is locked", foreign keys on, incremental vacuum so a
pruned file shrinks, and write transactions that take the write lock at BEGIN (``BEGIN IMMEDIATE``): a
deferred transaction that reads and then writes can fail outright when another writer got in between.
Checkpoints (copying the WAL into the file) run on a thread of their own, not inside a request's commit
(:mod:`tenantflow.store.sqlite_checkpoint`).
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import TextClause, event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tenantflow.store import sqlite_inline, text
from tenantflow.store.driver_pool import PING_AFTER_SECONDS, DriverPool
from tenantflow.store.sqlite_checkpoint import Checkpointer, CheckpointPolicy
from tenantflow.store.tenancy import Scope, TenantSession, bind

DEFAULT_URL = "sqlite+aiosqlite:///tenantflow.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "tenantflow_read_only"
_RETURNED_AT = "tenantflow_returned_at"


def async_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``sqlite:///``) and pick the async driver."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


async def run_on_server(server_url: str, statement: str) -> None:
    """One statement on a PostgreSQL server outside any transaction, as CREATE and DROP DATABASE need:
    how set-up, the test suite and the benchmarks make and remove databases."""
    import asyncpg  # type: ignore[import-untyped]  # only these server-level statements need the driver

    url = make_url(async_url(server_url))
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class Database:
    """One engine and its session factory. Sessions come out bound to a tenant scope, never unbound."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        echo: bool = False,
        pool_size: int = 10,
        checkpoints: CheckpointPolicy | None = None,
    ) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        options: dict[str, Any] = {"echo": echo, "json_serializer": text.dumps}
        if self.dialect == "postgresql":
            options |= {"pool_size": pool_size, "max_overflow": pool_size * 2}
        else:
            # Every SQLite connection is a thread and a file handle set up with pragmas: keep the pool's
            # connections instead of opening overflow ones per burst (a burst of cache misses paid that).
            path = make_url(self.url).database or ":memory:"
            options |= {
                "async_creator": sqlite_inline.connector(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000),
                "pool_size": pool_size,
                "max_overflow": pool_size,
            }
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._checkpointer: Checkpointer | None = None
        self._driver: DriverPool | None = None
        if self.dialect == "postgresql":
            _ping_when_idle(self.engine)
            self._driver = DriverPool(make_url(self.url), max_size=pool_size)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
            if path != ":memory:":
                self._checkpointer = Checkpointer(path, checkpoints)
        self._sessions = async_sessionmaker(
            self.engine, sync_session_class=TenantSession, expire_on_commit=False
        )
        read_only: dict[str, Any] = {_READ_ONLY: True}
        if self.dialect == "postgresql":
            # Reads need no BEGIN and COMMIT (two round trips): under READ COMMITTED, PostgreSQL's and
            # ours, each statement of a transaction reads its own snapshot anyway.
            read_only["isolation_level"] = "AUTOCOMMIT"
        self._read_only_engine = self.engine.execution_options(**read_only)
        self._write_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def session(self, scope: Scope, *, read_only: bool = False) -> AsyncSession:
        """A new session bound to ``scope``; the caller owns its transaction."""
        session = self._sessions(bind=self._read_only_engine) if read_only else self._sessions()
        bind(session.sync_session, scope)
        return session

    @asynccontextmanager
    async def transaction(self, scope: Scope, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        async with (
            self.writing(read_only=read_only),
            self.session(scope, read_only=read_only) as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def writing(self, *, read_only: bool = False) -> AsyncIterator[None]:
        """Hold this process's SQLite write turn for a write transaction (a no-op for reads and PostgreSQL).

        SQLite runs on the event loop's thread (:mod:`tenantflow.store.sqlite_inline`) and admits one writer
        at a time: a second write transaction of this process would wait for the lock inside SQLite,
        blocking the loop that must finish the first. Queued here, it waits without blocking anything.
        The turn also lets the checkpointer start a long log over (:mod:`.sqlite_checkpoint`).
        """
        if read_only or self.dialect != "sqlite":
            yield
            return
        if self._checkpointer is not None:
            self._checkpointer.start(self)
        loop = asyncio.get_running_loop()
        lock = self._write_turns.get(loop)
        if lock is None:
            lock = self._write_turns[loop] = asyncio.Lock()
        async with lock:
            checkpointer = self._checkpointer
            if checkpointer is not None and checkpointer.restart_due:  # no write of ours is open now
                await asyncio.to_thread(checkpointer.restart)
            yield

    async def fetch(self, statement: TextClause, parameters: Mapping[str, Any]) -> list[Any]:
        """Run one PostgreSQL statement as a transaction of its own, straight on an asyncpg connection
        (:mod:`.driver_pool`): no session, no ORM events, no BEGIN and COMMIT (0.3-0.4 ms less than through
        a session). So no tenant guard either: only for statements that bind their tenant from their
        caller's unit (the execution writer's batch, a worker's claim), and for the workers' question of
        whose turn it is, which answers tenant ids only (:mod:`~tenantflow.store.turns`)."""
        if self._driver is None:
            raise RuntimeError(f"fetch is PostgreSQL's; this database is {self.dialect}")
        sql, names = _for_asyncpg(statement)
        return await self._driver.fetch(sql, [parameters[name] for name in names])

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._driver is not None:
            await self._driver.close()
        await self.engine.dispose()


@functools.cache
def _for_asyncpg(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    """The statement as asyncpg takes it: ``$n`` placeholders, and the parameter names in order."""
    compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
    return str(compiled), tuple(compiled.positiontup or ())


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled PostgreSQL connection before use only if it sat idle for :data:`PING_AFTER_SECONDS`.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and with asyncpg a ping is three round trips
    (BEGIN, an empty query, ROLLBACK): more than the statements of a typical request. A connection that
    served a request moments ago is alive as far as a ping could tell; if the server went away since, the
    statement fails as a disconnect, SQLAlchemy invalidates the whole pool, and the next checkout connects
    afresh (the execution writer retries its batch; a request gets a 503).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < PING_AFTER_SECONDS:
            return  # new, or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards this one and checks out (or makes) another
            raise DisconnectionError("a pooled connection did not answer its ping") from error


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint = 0")  # Database's checkpointer thread does it
        # Both settings persist in the file; setting them again would need a lock another writer may hold.
        # auto_vacuum first: once WAL has written the header of a new file, SQLite ignores it.
        empty = _pragma(cursor, "SELECT count(*) FROM sqlite_master") == 0
        if empty and _pragma(cursor, "PRAGMA auto_vacuum") != 2:
            cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if _pragma(cursor, "PRAGMA journal_mode") != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        # Straight to the driver: through SQLAlchemy's statement machinery, BEGIN cost more than a write.
        driver: sqlite_inline.InlineConnection = connection.connection.driver_connection  # type: ignore[assignment]
        driver.begin(immediate=not read_only)


def _pragma(cursor: Any, statement: str) -> Any:
    cursor.execute(statement)
    return cursor.fetchone()[0]
