"""SQLite: the execution writer's statements sent to the driver directly, inside the unit's transaction.

Through a session, a statement costs SQLite some 20-40 µs and SQLAlchemy 100-150 µs more (the ORM's
execute events, the compiled-cache lookup, per-row parameter processing, a result to set up). A batch of
runs that ended before their rows were written is four such statements, the largest cost of a short
execution. Here the statements are the store's own SQLAlchemy statements, compiled once for the engine's
dialect; each value goes through its column type's own bind processor (so rows are stored exactly as the
ORM stores them: timestamps, JSON, booleans), and the statement runs on the unit's own connection, in its
transaction, which the unit still commits or rolls back.

The tenant: every row must carry the session's tenant (:func:`tenantflow.store.tenancy.check_rows`, the
check the session's guard applies to bulk INSERTs), and the counting UPDATE names it in its WHERE.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from tenantflow.store.models import AuditEntry, Execution, ExecutionBinary, ExecutionLog, ExecutionNode
from tenantflow.store.sqlite_inline import InlineConnection
from tenantflow.store.tenancy import check_rows
from tenantflow.store.workflows import COUNT_RUNS

Processor = Callable[[Any], Any]
# The rows of a batch of ended runs, by table (the keys of one_statement's documents).
_INSERTS: Final[dict[str, Any]] = {
    "executions": insert(Execution.__table__),  # type: ignore[arg-type]
    "nodes": insert(ExecutionNode.__table__),  # type: ignore[arg-type]
    "logs": insert(ExecutionLog.__table__),  # type: ignore[arg-type]
    "binaries": sqlite.insert(ExecutionBinary.__table__).on_conflict_do_nothing(),  # type: ignore[arg-type]
    "audit": insert(AuditEntry.__table__),  # type: ignore[arg-type]
}
_COMPILED: dict[tuple[int, int, tuple[str, ...]], DriverStatement] = {}


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled for the driver: its SQL, the parameter names in order, and their converters;
    for a RETURNING statement, the converters of the columns it returns."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor | None, ...]
    literals: Mapping[str, Any]  # values the statement binds itself (a constant in an expression)
    results: tuple[Processor | None, ...]

    @classmethod
    def compile(
        cls, statement: ClauseElement, dialect: Dialect, columns: Sequence[str] | None = None
    ) -> DriverStatement:
        compiled = cast(
            SQLCompiler, statement.compile(dialect=dialect, column_keys=list(columns) if columns else None)
        )
        names = tuple(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        returning = getattr(compiled.statement, "_returning", ()) or ()
        return cls(
            sql=str(compiled),
            names=names,
            processors=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
            literals={n: bind.value for n, bind in zip(names, binds, strict=True) if bind.value is not None},
            results=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None) for column in returning
            ),
        )

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, processor in zip(self.names, self.processors, strict=True):
            value = row[name] if name in row else self.literals[name]
            values.append(value if processor is None else processor(value))
        return tuple(values)

    def row(self, fetched: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if processor is None else processor(value)
            for value, processor in zip(fetched, self.results, strict=True)
        )


async def driver_cursor(session: AsyncSession) -> sqlite3.Cursor:
    """A cursor on the unit's connection, its transaction begun (the write lock taken) if it was not."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    inline = raw.driver_connection
    if not isinstance(inline, InlineConnection):
        raise TypeError("driver writes need the store's inline SQLite connection")
    return inline.sqlite.cursor()


def insert_rows(
    session: AsyncSession,
    cursor: sqlite3.Cursor,
    statement: DriverStatement,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """INSERT ``rows`` with one executemany, after checking each carries the session's tenant."""
    check_rows(session.sync_session, rows)
    cursor.executemany(statement.sql, [statement.parameters(row) for row in rows])


def returning_one(
    cursor: sqlite3.Cursor, statement: DriverStatement, parameters: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run a RETURNING statement that changes at most one row; its returned values, converted."""
    fetched = cursor.execute(statement.sql, statement.parameters(parameters)).fetchone()
    return None if fetched is None else statement.row(fetched)


def _compiled(statement: ClauseElement, dialect: Dialect, columns: tuple[str, ...] = ()) -> DriverStatement:
    key = (id(statement), id(dialect), columns)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = DriverStatement.compile(statement, dialect, columns)
    return found


async def write_ended(
    session: AsyncSession,
    dialect: Dialect,
    counts: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[dict[str, tuple[Any, ...]], set[str]]:
    """SQLite's :func:`tenantflow.store.one_statement.write_finished`: count the runs (one UPDATE per
    workflow, in the order of ``counts``), then insert ``tables``' rows, one executemany per table.

    Returns each counted workflow's counters and the missing workflows: then nothing was inserted, and the
    caller's unit must roll back (it raises, so it does).
    """
    cursor = await driver_cursor(session)
    check_rows(session.sync_session, counts, "row_tenant")
    counting = _compiled(COUNT_RUNS, dialect)
    found: dict[str, tuple[Any, ...]] = {}
    for parameters in counts:
        counters = returning_one(cursor, counting, parameters)
        if counters is not None:
            found[parameters["workflow_id"]] = counters
    missing = {parameters["workflow_id"] for parameters in counts} - set(found)
    if missing:
        return {}, missing
    for name, rows in tables.items():
        if rows:
            insert_rows(session, cursor, _compiled(_INSERTS[name], dialect, tuple(rows[0])), rows)
    return found, set()
