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
of webhook calls. So once it holds ``restart_pages`` pages (:class:`CheckpointPolicy`),
:meth:`Checkpointer.restart` is due: the next write transaction of the process first runs a ``RESTART``
checkpoint, off the event loop while it holds the process's write turn (:meth:`.Database.writing`). That
checkpoint waits for the readers inside the log to finish (the loop keeps serving them; new readers read
the file) and leaves the log to be written from its start by that transaction. A reader that outlasts
``restart_wait_seconds`` puts the next try off until the log has grown as much again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from dataclasses import dataclass

log = logging.getLogger("tenantflow.store")


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """How often the thread checkpoints, and when and how long a long log's restart waits. The defaults
    are the service's; tests shorten them."""

    interval_seconds: float = 0.1
    restart_pages: int = 4096  # 16 MiB at SQLite's default page size
    restart_wait_seconds: float = 0.25  # the longest this process's writes wait for a restart


class Checkpointer:
    """One per SQLite database file in a process; started on the first write, stopped by :meth:`stop` or
    when its owner is collected."""

    def __init__(self, path: str, policy: CheckpointPolicy | None = None) -> None:
        self.path = path
        self.policy = policy or CheckpointPolicy()
        self.restart_due = False  # set by the thread, cleared by :meth:`restart`
        self._restart_at = self.policy.restart_pages  # the log's length that makes a restart due
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
        Blocks (up to the policy's ``restart_wait_seconds``): call it from a thread, with no write transaction
        of this process open (it would wait for that one in vain). When a reader or another process's writer
        outlasts the wait, the next try waits until the log has grown by as much again, so that writes do
        not keep waiting for restarts that cannot happen."""
        self.restart_due = False
        wait = self.policy.restart_wait_seconds
        connection = sqlite3.connect(self.path, timeout=wait, check_same_thread=False)
        try:
            busy, frames, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as error:
            busy, frames = 1, self._restart_at
            log.debug("SQLite log restart failed: %s", error)
        finally:
            connection.close()
        if busy:
            self._restart_at = frames + self.policy.restart_pages
            log.info("SQLite's log (%d pages) is not started over: a reader outlasted the wait", frames)
        else:
            self._restart_at = self.policy.restart_pages

    def _checkpoint_until_stopped(self) -> None:
        connection = sqlite3.connect(self.path, check_same_thread=False)
        try:
            while not self._stop.wait(self.policy.interval_seconds):
                try:
                    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:  # a locked or vanished file: the next round tries again
                    log.debug("SQLite checkpoint skipped: %s", error)
                    continue
                if frames >= self._restart_at:
                    self.restart_due = True
        finally:
            connection.close()
