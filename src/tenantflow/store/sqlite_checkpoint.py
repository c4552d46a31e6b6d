"""Moves SQLite's write-ahead log into the database file from a thread of its own.

By default the connection whose commit pushes the WAL past 1,000 pages copies the log into the database
and syncs it, inside that commit: every seventieth execution or so paid milliseconds for everyone's
writes, and on the event loop's thread (:mod:`tenantflow.store.sqlite_inline`) every request waited with
it. The service's connections turn that off (``wal_autocheckpoint = 0``) and this thread checkpoints
instead, ``PASSIVE`` (it never waits for, or blocks, a reader or a writer), on its own connection, with
the GIL released while SQLite works. When the last connection closes, SQLite checkpoints as it always does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from typing import Final

log = logging.getLogger("tenantflow.store")

INTERVAL_SECONDS: Final = 0.1


class Checkpointer:
    """One per SQLite database file in a process; started on the first write, stopped by :meth:`stop` or
    when its owner is collected."""

    def __init__(self, path: str, *, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, owner: object) -> None:
        """Start once; the thread also stops when ``owner`` is garbage collected."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_checkpoint_until,
                    args=(self.path, self.interval, self._stop),
                    name="tenantflow-sqlite-checkpoint",
                    daemon=True,
                )
                self._thread.start()
                weakref.finalize(owner, self._stop.set)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _checkpoint_until(path: str, interval: float, stop: threading.Event) -> None:
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        while not stop.wait(interval):
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:  # a locked or vanished file: the next round tries again
                log.debug("SQLite checkpoint skipped: %s", error)
    finally:
        connection.close()
