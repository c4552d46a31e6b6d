"""Moves SQLite's write-ahead log into the database file from a thread of its own, and keeps the log short.

By default the connection whose commit pushes the WAL past 1,000 pages copies the log into the database
and syncs it, inside that commit: every seventieth execution or so paid milliseconds for everyone's
writes, and on the event loop's thread (:mod:`tenantflow.store.sqlite_inline`) every request waited with
it. The service's connections turn that off (``wal_autocheckpoint = 0``) and this thread checkpoints
instead, ``PASSIVE`` (it never waits for, or blocks, a reader or a writer), on its own connection, with
the GIL released while SQLite works. When the last connection closes, SQLite checkpoints as it always does.

A copied log is only written again from its start when a writer begins while nothing in it is left to
copy and no reader is inside it. Under steady load that moment never comes (a commit lands between any
two checkpoints, and a request is always reading): the log grew by every write, past 500 MB in a minute
of webhook calls. So once it holds :data:`RESTART_FRAMES` pages, :meth:`Checkpointer.restart` is due: the
next write transaction of the process first runs a ``RESTART`` checkpoint, off the event loop while it
holds the process's write turn (:meth:`.Database.writing`). That checkpoint waits for the readers inside
the log to finish (the loop keeps serving them; new readers read the file) and leaves the log to be
written from its start by that transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from typing import Final

log = logging.getLogger("tenantflow.store")

INTERVAL_SECONDS: Final = 0.1
RESTART_FRAMES: Final = 4096  # pages: 16 MiB at SQLite's default page size
RESTART_WAIT_SECONDS: Final = 1.0


class Checkpointer:
    """One per SQLite database file in a process; started on the first write, stopped by :meth:`stop` or
    when its owner is collected."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.restart_due = False  # set by the thread, cleared by :meth:`restart`
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
                    target=self._checkpoint_until_stopped,
                    name="tenantflow-sqlite-checkpoint",
                    daemon=True,
                )
                self._thread.start()
                weakref.finalize(owner, self._stop.set)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def restart(self) -> None:
        """Copy what is left of the log and wait for its readers, so that the next write starts it over.
        Blocks (up to :data:`RESTART_WAIT_SECONDS`): call it from a thread, with no write transaction of
        this process open (it would wait for that one in vain). A busy database leaves it for the next
        time the log is long."""
        self.restart_due = False
        connection = sqlite3.connect(self.path, timeout=RESTART_WAIT_SECONDS, check_same_thread=False)
        try:
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as error:
            log.debug("SQLite log restart skipped: %s", error)
        finally:
            connection.close()

    def _checkpoint_until_stopped(self) -> None:
        connection = sqlite3.connect(self.path, check_same_thread=False)
        try:
            while not self._stop.wait(INTERVAL_SECONDS):
                try:
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:  # a locked or vanished file: the next round tries again
                    log.debug("SQLite checkpoint skipped: %s", error)
                    continue
                if frames >= RESTART_FRAMES:
                    self.restart_due = True
        finally:
            connection.close()
