"""PostgreSQL: a batch of executions that ended before their rows were written, stored by one statement
(and a batch of new queued executions, likewise).

Such a batch (the usual one when callers wait for the end of short runs) counts its runs on their
workflows and inserts the finished executions, their node runs, their logs, their files and its audit
rows. As separate statements in a transaction that is up to eight round trips (BEGIN, six statements,
COMMIT), which cost more than everything else the batch does; here it is one data-modifying ``WITH``
statement, sent outside an explicit transaction, which PostgreSQL runs atomically by itself. Rows travel
as one JSON document per table (``jsonb_to_recordset``; bytes as base64 text), so the statement text, and
the prepared statement asyncpg keeps for it, is the same for a batch of one and of 200.

When the statement is a unit's only write, it goes to asyncpg on a pooled connection of its own
(:func:`write_finished` given the database), as the SQLite writer's statements go to sqlite3
(:mod:`.sqlite_writes`): through a session in autocommit it cost 0.3-0.4 ms more a batch (checkout through
the session, the ORM's execute events, the result's set-up, the session's commit and close) on top of its
own 0.7 ms.

The workflows are locked in id order (the order every other writer uses) and counted only if all of them
exist in the tenant; otherwise nothing at all is written and :func:`write_finished` says which are
missing. Every row takes its ``tenant_id`` from the statement's one ``:tenant_id`` parameter, which the
session's guard checks (:mod:`tenantflow.store.tenancy`), or, on a connection of its own, which is the
caller's unit's tenant: the statement reads no tenant column from the JSON rows.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final

from sqlalchemy import JSON, LargeBinary, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.store import text as stored_text
from tenantflow.store.database import Database
from tenantflow.store.models import AuditEntry, Execution, ExecutionBinary, ExecutionLog, ExecutionNode
from tenantflow.store.tenancy import TenantScopeError

# The JSON document that carries each table's rows, by statement parameter name.
_TABLES: Final[dict[str, Table]] = {
    "executions": Execution.__table__,  # type: ignore[dict-item]
    "nodes": ExecutionNode.__table__,  # type: ignore[dict-item]
    "logs": ExecutionLog.__table__,  # type: ignore[dict-item]
    "binaries": ExecutionBinary.__table__,  # type: ignore[dict-item]
    "audit": AuditEntry.__table__,  # type: ignore[dict-item]
}
_COUNTED: Final = ("execution_count", "average_execution_time", "last_executed_at", "last_execution_status")

_COUNT: Final = """
wanted AS (
  SELECT * FROM jsonb_to_recordset(CAST(:counts AS jsonb)) AS c(
    workflow_id varchar, runs integer, untimed integer, total_ms double precision, at timestamptz,
    status varchar)
), found AS (
  SELECT w.id FROM workflows AS w JOIN wanted ON w.id = wanted.workflow_id
  WHERE w.tenant_id = :tenant_id ORDER BY w.id FOR UPDATE OF w
), complete AS (
  SELECT count(*) = (SELECT count(*) FROM wanted){also} AS ok FROM found
), counted AS (
  UPDATE workflows AS w SET
    execution_count = w.execution_count + c.runs,
    average_execution_time = CASE WHEN c.total_ms IS NULL THEN w.average_execution_time
      ELSE (coalesce(w.average_execution_time, 0.0) * (w.execution_count + c.untimed) + c.total_ms)
        / (w.execution_count + c.runs) END,
    last_executed_at = CASE WHEN w.last_executed_at IS NULL OR w.last_executed_at <= c.at
      THEN c.at ELSE w.last_executed_at END,
    last_execution_status = CASE WHEN w.last_executed_at IS NULL OR w.last_executed_at <= c.at
      THEN c.status ELSE w.last_execution_status END
  FROM wanted AS c
  WHERE w.id = c.workflow_id AND w.tenant_id = :tenant_id
    AND w.id IN (SELECT id FROM found) AND (SELECT ok FROM complete)
  RETURNING w.id, w.execution_count, w.average_execution_time, w.last_executed_at, w.last_execution_status
)"""
# A progress batch of leased runs: their rows locked in id order, each still held by its lease (status,
# owner and attempt), or nothing is written. ``{columns}``: the row columns the batch reads back. The rows
# are found by the array of their ids (``:ids``), not by a join with the JSON document: the planner takes
# a document for 100 rows and would rather hash-join a table it believes small than probe its primary key
# (a sequential scan of the tenant's executions, 2 ms at 1,000 rows), but takes an array for 10.
_FENCED: Final = """
fences AS (
  SELECT * FROM jsonb_to_recordset(CAST(:fences AS jsonb)) AS p(id varchar, owner varchar, attempt integer)
), held AS (
  SELECT {columns} FROM executions AS e
  WHERE e.id = ANY(CAST(:ids AS varchar[])) AND e.tenant_id = :tenant_id ORDER BY e.id FOR UPDATE OF e
), fenced AS (
  SELECT count(*) = (SELECT count(*) FROM fences) AS ok FROM held JOIN fences AS p ON p.id = held.id
  WHERE held.status = 'running' AND held.lease_owner = p.owner AND held.attempt = p.attempt
)"""
# The runs of the batch that ended (found by the batch's ids, as in :data:`_FENCED`); metrics stay as they
# were where an end brings none.
_ENDED: Final = """
ended AS (
  UPDATE executions AS e SET status = f.status, finished_at = f.finished_at, duration_ms = f.duration_ms,
    error = coalesce(f.error, 'null'::jsonb), metrics = coalesce(f.metrics, e.metrics),
    lease_owner = NULL, lease_expires_at = NULL
  FROM jsonb_to_recordset(CAST(:finishes AS jsonb)) AS f(
    id varchar, status varchar, finished_at timestamptz, duration_ms double precision, error jsonb,
    metrics jsonb)
  WHERE e.id = f.id AND e.id = ANY(CAST(:ids AS varchar[])) AND e.tenant_id = :tenant_id
    AND (SELECT ok FROM complete)
)"""
# A node run written again (the same execution, node and run index) replaces these columns of its row.
NODE_UPDATED: Final = (
    "status",
    "attempts",
    "output",
    "item_count",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
)
_NODE_CONFLICT: Final = " ON CONFLICT (execution_id, node_name, run_index) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in NODE_UPDATED
)
# Queued rows count nothing: the workflows need only be the tenant's. Their foreign keys hold against a
# workflow deleted meanwhile, so they are not locked.
_CHECK: Final = """
wanted AS (
  SELECT * FROM jsonb_to_recordset(CAST(:counts AS jsonb)) AS c(workflow_id varchar)
), found AS (
  SELECT w.id FROM workflows AS w JOIN wanted ON w.id = wanted.workflow_id WHERE w.tenant_id = :tenant_id
), complete AS (
  SELECT count(*) = (SELECT count(*) FROM wanted) AS ok FROM found
)"""


def _insert(name: str, table: Table, columns: Sequence[str], conflict: str = "") -> str:
    """``name AS (INSERT … SELECT …)`` of ``columns`` read from the JSON rows in ``:name``. A JSON null
    becomes JSON ``null``, not SQL NULL, as the ORM stores a ``None`` in a JSON column; bytes travel as
    base64 text (:func:`_json_value`)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    definitions = ", ".join(
        f"{column} {'text' if _is_bytes(table, column) else table.c[column].type.compile(dialect=dialect)}"
        for column in columns
    )
    values = ", ".join(_value(table, column) for column in columns)
    return (
        f"{name} AS (INSERT INTO {table.name} (tenant_id, {', '.join(columns)})"
        f" SELECT :tenant_id, {values} FROM jsonb_to_recordset(CAST(:{name} AS jsonb)) AS r({definitions})"
        f" WHERE (SELECT ok FROM complete){conflict})"
    )


def _is_bytes(table: Table, column: str) -> bool:
    return isinstance(table.c[column].type, LargeBinary)


def _value(table: Table, column: str) -> str:
    if isinstance(table.c[column].type, JSON):
        return f"coalesce(r.{column}, 'null'::jsonb)"
    if _is_bytes(table, column):
        return f"decode(r.{column}, 'base64')"
    return f"r.{column}"


@cache
def _statement(columns: tuple[tuple[str, ...], ...], *, counting: bool = True) -> TextClause:
    """The statement for rows with these columns (per table, in :data:`_TABLES` order); one per shape.
    It returns each workflow found, with its counters when ``counting``."""
    inserts = [
        _insert(name, table, names)
        for (name, table), names in zip(_TABLES.items(), columns, strict=True)
        if names
    ]
    if not counting:
        return text(f"WITH {_CHECK}, {', '.join(inserts)}\nSELECT found.id FROM found").execution_options(
            tenant_filtered=True
        )
    return text(
        f"WITH {_COUNT.format(also='')}, {', '.join(inserts)}\n"
        f"SELECT found.id, {', '.join(f'counted.{column}' for column in _COUNTED)}"
        " FROM found LEFT JOIN counted ON counted.id = found.id"
    ).execution_options(tenant_filtered=True)


@cache
def _progress_statement(columns: tuple[tuple[str, ...], ...], row_columns: tuple[str, ...]) -> TextClause:
    """The statement of :func:`write_progress` for rows with these columns (as :func:`_statement`)."""
    inserts = [
        _insert(name, table, names, _NODE_CONFLICT if name == "nodes" else "")
        for (name, table), names in zip(_TABLES.items(), columns, strict=True)
        if names
    ]
    counters = ", ".join(f"counted.{column}" for column in ("id", *_COUNTED))
    parts = [
        _FENCED.format(columns=", ".join(f"e.{column}" for column in row_columns)),
        _COUNT.format(also=" AND (SELECT ok FROM fenced)"),
        _ENDED,
        *inserts,
    ]
    return text(
        f"WITH {', '.join(parts)}\n"
        f"SELECT {', '.join(f'held.{column}' for column in row_columns)},"
        " (SELECT ok FROM complete) AS written,"
        f" (SELECT jsonb_agg(jsonb_build_array({counters})) FROM counted) AS counters,"
        " (SELECT array_agg(found.id) FROM found) AS workflows"
        " FROM held"
    ).execution_options(tenant_filtered=True)


def _document(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array; the statement reads the columns it names (a ``tenant_id`` is not one)."""
    return stored_text.dumps(rows, default=_json_value, isoformat_datetimes=True)


def _json_value(value: Any) -> Any:
    """What JSON has no type for: timestamps as ISO 8601 text, bytes as base64 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} cannot be stored in a JSON row")


Counters = dict[str, tuple[Any, ...]]


async def write_finished(
    target: AsyncSession | Database,
    tenant_id: str,
    counts: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[Counters, set[str]]:
    """Count runs (``counts``: one entry per workflow, as the counting UPDATE binds them) and insert the
    rows of ``tables`` (keyed as :data:`_TABLES`; a row's ``tenant_id`` is not read: every row takes
    ``tenant_id``). ``target``: a session, to write in its transaction (its guard checks ``tenant_id``), or
    the database, to write in a transaction of the statement's own on a pooled connection's asyncpg
    connection (``tenant_id`` is then the caller's unit's tenant).

    Returns each counted workflow's counters (execution count, mean duration, last run's time and status),
    and the ids of workflows that were missing (not this tenant's, or gone): then nothing was written.
    """
    shapes, parameters = _parameters(tenant_id, counts, tables)
    return _counted(await _run(target, _statement(shapes), parameters), counts)


@dataclass(frozen=True, slots=True)
class Progress:
    """What :func:`write_progress` found and did: the rows as they were when locked (by id; ``row_columns``
    each), whether the batch was written, each counted workflow's counters, and the workflows found."""

    rows: dict[str, dict[str, Any]]
    written: bool
    counters: Counters
    workflows: set[str]


async def write_progress(
    target: AsyncSession | Database,
    tenant_id: str,
    fences: Sequence[Mapping[str, Any]],
    finishes: Sequence[Mapping[str, Any]],
    counts: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    row_columns: tuple[str, ...],
) -> Progress:
    """A progress batch of leased runs in one statement: lock their rows, and only if every one is still
    held by its lease (``fences``: id, owner, attempt) and every workflow of ``counts`` is the tenant's,
    upsert their node runs, insert their logs and audit rows (``tables``), end the runs of ``finishes``
    (id, status, finished_at, duration_ms, error, metrics or None) and count them. A worker's batch was a
    transaction of up to eight round trips through the ORM."""
    shapes, parameters = _parameters(tenant_id, counts, tables)
    parameters |= {
        "fences": _document(fences),
        "ids": [fence["id"] for fence in fences],
        "finishes": _document(finishes),
    }
    result = list(await _run(target, _progress_statement(shapes, row_columns), parameters))
    rows = {row[0]: dict(zip(row_columns, row, strict=False)) for row in result}
    written = bool(result) and bool(result[0][len(row_columns)])
    counters: Counters = {}
    workflows: set[str] = set()
    if result:
        for workflow_id, count, mean, at, status in result[0][len(row_columns) + 1] or ():
            counters[workflow_id] = (count, mean, datetime.fromisoformat(at), status)
        workflows = set(result[0][len(row_columns) + 2] or ())
    return Progress(rows, written, counters if written else {}, workflows)


async def write_queued(
    target: AsyncSession | Database,
    tenant_id: str,
    workflow_ids: Iterable[str],
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
) -> set[str]:
    """Insert the rows of ``tables`` (new queued executions and their audit rows, as for
    :func:`write_finished`) if every one of ``workflow_ids`` is the tenant's: one round trip instead of a
    lookup of the workflows, the inserts, BEGIN and COMMIT. The workflows that are missing (not this
    tenant's, or gone): then nothing was written."""
    wanted = sorted(set(workflow_ids))
    shapes, parameters = _parameters(tenant_id, [{"workflow_id": item} for item in wanted], tables)
    found = {row[0] for row in await _run(target, _statement(shapes, counting=False), parameters)}
    return set(wanted) - found


async def _run(
    target: AsyncSession | Database, statement: TextClause, parameters: Mapping[str, Any]
) -> Iterable[Sequence[Any]]:
    if not parameters["tenant_id"]:
        raise TenantScopeError("a batch of executions needs its tenant")
    if isinstance(target, AsyncSession):
        return await target.execute(statement, parameters)
    return await target.fetch(statement, parameters)


def _parameters(
    tenant_id: str, counts: Sequence[Mapping[str, Any]], tables: Mapping[str, Sequence[Mapping[str, Any]]]
) -> tuple[tuple[tuple[str, ...], ...], dict[str, Any]]:
    """The statement's shape (each table's columns) and its parameters: the tenant and a JSON document per
    non-empty table."""
    shapes = tuple(
        tuple(name for name in rows[0] if name != "tenant_id") if (rows := tables.get(table)) else ()
        for table in _TABLES
    )
    parameters: dict[str, Any] = {"tenant_id": tenant_id, "counts": _document(counts)}
    for table in _TABLES:
        if rows := tables.get(table):
            parameters[table] = _document(rows)
    return shapes, parameters


def _counted(
    result: Iterable[Sequence[Any]], counts: Sequence[Mapping[str, Any]]
) -> tuple[Counters, set[str]]:
    found = {workflow_id: tuple(values) for workflow_id, *values in result}
    missing = {count["workflow_id"] for count in counts} - set(found)
    return ({} if missing else found), missing
