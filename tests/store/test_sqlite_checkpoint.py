"""SQLite checkpoints run on the checkpointer's thread, never inside a request's commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tenantflow.store.database import Database
from tenantflow.store.sqlite_checkpoint import Checkpointer, CheckpointPolicy
from tenantflow.store.tenancy import SYSTEM

pytestmark = pytest.mark.anyio

PAGE_OF_TEXT = "x" * 4000
ROWS = 1500  # about 6 MB: past the 1,000 pages at which a commit would checkpoint by default


def _checkpointers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "tenantflow-sqlite-checkpoint"]


async def test_sqlite_commit_leaves_the_wal_to_the_checkpointer_thread(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    before = len(_checkpointers())
    database = Database(f"sqlite:///{path}")
    try:
        async with database.transaction(SYSTEM) as session:
            await session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
        async with database.transaction(SYSTEM) as session:
            await session.execute(
                text("INSERT INTO blobs (body) VALUES (:body)"), [{"body": PAGE_OF_TEXT}] * ROWS
            )
        assert len(_checkpointers()) == before + 1
        # The commit wrote the WAL only; the thread copies it into the file within its interval.
        for _ in range(100):
            if path.stat().st_size > ROWS * len(PAGE_OF_TEXT):
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > ROWS * len(PAGE_OF_TEXT)
        async with database.transaction(SYSTEM, read_only=True) as session:
            assert (await session.execute(text("SELECT count(*) FROM blobs"))).scalar() == ROWS
    finally:
        await database.dispose()
    assert len(_checkpointers()) == before


async def test_sqlite_commit_does_not_checkpoint_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    database = Database(f"sqlite:///{path}")
    try:
        async with database.engine.begin() as connection:  # outside ``writing()``: no checkpointer yet
            await connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
            await connection.execute(
                text("INSERT INTO blobs (body) VALUES (:body)"), [{"body": PAGE_OF_TEXT}] * ROWS
            )
        assert path.stat().st_size < ROWS * len(PAGE_OF_TEXT) / 10
        assert path.with_name("wal.db-wal").stat().st_size > ROWS * len(PAGE_OF_TEXT)
    finally:
        await database.dispose()


async def test_sqlite_log_starts_over_while_requests_keep_reading(tmp_path: Path) -> None:
    """Readers always inside the log, a write transaction after another: the log is still started over
    once it is long, instead of growing by every write."""
    path = tmp_path / "wal.db"
    # The log's length is looked at often, and a short log is long enough.
    database = Database(f"sqlite:///{path}", checkpoints=CheckpointPolicy(0.01, restart_pages=256))
    stop = asyncio.Event()

    async def read_on() -> None:  # one read transaction after another, each held across a pause
        while not stop.is_set():
            async with database.transaction(SYSTEM, read_only=True) as session:
                await session.execute(text("SELECT count(*) FROM blobs"))
                await asyncio.sleep(0.002)

    try:
        async with database.transaction(SYSTEM) as session:
            await session.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
        readers = [asyncio.create_task(read_on()) for _ in range(2)]
        await asyncio.sleep(0.001)  # staggered: one of them is always inside the log
        readers.append(asyncio.create_task(read_on()))
        for _ in range(1200):  # each commit about three pages: ~3,600 pages, 14 times the restart length
            async with database.transaction(SYSTEM) as session:
                await session.execute(text("INSERT INTO blobs (body) VALUES (:body)"), {"body": PAGE_OF_TEXT})
            await asyncio.sleep(0)
        stop.set()
        await asyncio.gather(*readers)
        wal = path.with_name("wal.db-wal").stat().st_size
        assert wal < 4 * 256 * 4096, f"the log grew to {wal / 1e6:.1f} MB"
        async with database.transaction(SYSTEM, read_only=True) as session:
            assert (await session.execute(text("SELECT count(*) FROM blobs"))).scalar() == 1200
    finally:
        stop.set()
        await database.dispose()


def _pages(connection: sqlite3.Connection, count: int) -> None:
    for _ in range(count):
        connection.execute("INSERT INTO blobs (body) VALUES (?)", (PAGE_OF_TEXT,))


def test_a_restart_a_reader_outlasts_waits_for_the_log_to_grow_as_much_again(tmp_path: Path) -> None:
    """A reader inside the log longer than the restart waits: the restart gives up, and none is due again
    until the log has grown by another ``restart_pages``, so writes do not wait for it at every turn."""
    policy = CheckpointPolicy(0.01, restart_pages=64, restart_wait_seconds=0.05)
    path = str(tmp_path / "wal.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)")
    _pages(writer, 80)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM blobs").fetchone()  # its snapshot is inside the log
    checkpointer = Checkpointer(path, policy)
    owner = threading.Event()  # whose collection would stop the thread: this test stops it itself
    try:
        checkpointer.restart()  # the reader outlasts its wait
        checkpointer.start(owner)
        time.sleep(0.2)  # rounds enough to see the log's length
        assert not checkpointer.restart_due
        _pages(writer, 80)
        deadline = time.monotonic() + 5
        while not checkpointer.restart_due and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.restart_due
        reader.execute("COMMIT")
        # Stop the thread first: it has done its part (it saw the log grow), and a passive checkpoint of its
        # own still running could outlast the restart's short wait (seen once in `make test` on a slow VM).
        checkpointer.stop()
        checkpointer.restart()
        _pages(writer, 1)  # the first write after a restart starts the log over
        frames = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        assert frames < 16
    finally:
        checkpointer.stop()
        reader.close()
        writer.close()
