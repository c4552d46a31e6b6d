"""Filters, sorts, pages and search for workflow lists: user input in, SQLAlchemy clauses out.

Everything here is allow-listed: a filter or sort on a field not named below is an INVALID_FILTER or
INVALID_SORT error with the JSON path of the offending key, never a query on an arbitrary column. Tenancy
is not this module's job: the session adds the tenant to every statement these clauses end up in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    exists,
    false,
    func,
    literal_column,
    select,
    table,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import Workflow
from tenantflow.store.text import NUL

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PAGE = 10_000
SEARCH_MAX_TERMS = 16

SORTABLE: dict[str, InstrumentedAttribute[Any]] = {
    "name": Workflow.name,
    "createdAt": Workflow.created_at,
    "updatedAt": Workflow.updated_at,
    "executionCount": Workflow.execution_count,
    "lastExecutedAt": Workflow.last_executed_at,
    "category": Workflow.category,
    "version": Workflow.version,
}
# Fields findByField accepts, with the column each reads.
FINDABLE: dict[str, InstrumentedAttribute[Any]] = {
    "name": Workflow.name,
    "category": Workflow.category,
    "createdBy": Workflow.created_by,
    "updatedBy": Workflow.updated_by,
    "validationStatus": Workflow.validation_status,
    "enabled": Workflow.enabled,
    "lastExecutionStatus": Workflow.last_execution_status,
}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a bounded list: ``total`` counts every match, ``has_more`` says whether to go on."""

    items: list[T]
    total: int
    has_more: bool
    page: int
    limit: int

    def to_dict(self, item: Callable[[T], Any]) -> dict[str, Any]:
        return {
            "items": [item(entry) for entry in self.items],
            "total": self.total,
            "hasMore": self.has_more,
            "page": self.page,
            "limit": self.limit,
        }


def _invalid(code: ErrorCode, message: str, path: str) -> InvalidRequestError:
    return InvalidRequestError(code, message, path=path)


def checked_limit(limit: int, maximum: int = MAX_LIMIT) -> int:
    """A page size from 1 to ``maximum``: every list is bounded."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise _invalid(ErrorCode.INVALID_PAGINATION, f"limit must be between 1 and {maximum}", "$.limit")
    return limit


def page_bounds(page: int, limit: int) -> tuple[int, int]:
    checked_limit(limit)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE:
        raise _invalid(ErrorCode.INVALID_PAGINATION, f"page must be between 1 and {MAX_PAGE}", "$.page")
    return (page - 1) * limit, limit


def offset_bound(offset: int) -> int:
    """A row offset within the same depth a page number may reach."""
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < MAX_PAGE * MAX_LIMIT:
        raise _invalid(
            ErrorCode.INVALID_PAGINATION,
            f"offset must be between 0 and {MAX_PAGE * MAX_LIMIT - 1}",
            "$.offset",
        )
    return offset


def order_by(sort: str | None) -> list[ColumnElement[Any]]:
    """``"-updatedAt"`` style sorts; ties break on id so pages never overlap or skip."""
    key = sort or "-updatedAt"
    descending = key.startswith("-")
    field = key.lstrip("-+")
    column = SORTABLE.get(field)
    if column is None:
        raise _invalid(
            ErrorCode.INVALID_SORT,
            f"cannot sort by {field!r}; use one of {', '.join(sorted(SORTABLE))}",
            "$.sort",
        )
    if descending:
        return [column.desc(), Workflow.id.desc()]
    return [column.asc(), Workflow.id.asc()]


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(ErrorCode.INVALID_FILTER, "expected true or false", path)
    return value


def filter_text(value: Any, path: str) -> str:
    """A filter's text value, as any text column can hold it."""
    if not isinstance(value, str) or len(value) > 255 or NUL in value:
        raise _invalid(ErrorCode.INVALID_FILTER, "expected a string of at most 255 characters, no NUL", path)
    return value


def filter_moment(value: Any, path: str) -> datetime:
    """A filter's time: an aware datetime or an ISO 8601 string with a zone."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise _invalid(ErrorCode.INVALID_FILTER, "expected an ISO 8601 time with a zone", path)


def _name_clause(value: Any, path: str) -> ColumnElement[bool]:
    if isinstance(value, str):
        return Workflow.name == filter_text(value, path)
    if isinstance(value, Mapping) and set(value) <= {"eq", "contains", "startsWith"} and len(value) == 1:
        operator, operand = next(iter(value.items()))
        text = filter_text(operand, f"{path}.{operator}")
        if operator == "eq":
            return Workflow.name == text
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%" if operator == "contains" else f"{escaped}%"
        return Workflow.name.ilike(pattern, escape="\\")
    raise _invalid(ErrorCode.INVALID_FILTER, "name takes a string or one of {eq, contains, startsWith}", path)


def tags_clause(tags: list[str], dialect: str) -> ColumnElement[bool]:
    """Workflows carrying any of ``tags``: JSONB ``?|`` on PostgreSQL, json_each on SQLite."""
    if not tags:
        return false()
    if dialect == "postgresql":
        any_of: ColumnElement[bool] = type_coerce(Workflow.tags, postgresql.JSONB).has_any(
            postgresql.array(tags)
        )
        return any_of
    each = func.json_each(Workflow.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value.in_(tags)))


def _tags(value: Any, path: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or len(values) > 50:
        raise _invalid(ErrorCode.INVALID_FILTER, "tags takes a tag name or a list of 1-50 names", path)
    return [filter_text(tag, f"{path}[{index}]") for index, tag in enumerate(values)]


def filter_clause(filter_: Mapping[str, Any] | None, dialect: str) -> ColumnElement[bool]:
    """Translate an allow-listed filter object; every key must be known."""
    if filter_ is None:
        return true()
    if not isinstance(filter_, Mapping):
        raise _invalid(ErrorCode.INVALID_FILTER, "filter must be an object", "$.filter")
    clauses: list[ColumnElement[bool]] = []
    for key, value in filter_.items():
        path = f"$.filter.{key}"
        if key == "name":
            clauses.append(_name_clause(value, path))
        elif key == "enabled":
            clauses.append(Workflow.enabled == _boolean(value, path))
        elif key == "isLocked":
            clauses.append(Workflow.is_locked == _boolean(value, path))
        elif key in ("category", "createdBy", "updatedBy", "lastExecutionStatus"):
            clauses.append(FINDABLE[key] == filter_text(value, path))
        elif key == "validationStatus":
            clauses.append(Workflow.validation_status == filter_text(value, path))
        elif key == "tags":
            clauses.append(tags_clause(_tags(value, path), dialect))
        elif key == "updatedAfter":
            clauses.append(Workflow.updated_at > filter_moment(value, path))
        elif key == "updatedBefore":
            clauses.append(Workflow.updated_at < filter_moment(value, path))
        elif key == "createdAfter":
            clauses.append(Workflow.created_at > filter_moment(value, path))
        elif key == "createdBefore":
            clauses.append(Workflow.created_at < filter_moment(value, path))
        else:
            raise _invalid(ErrorCode.INVALID_FILTER, f"cannot filter by {key!r}", path)
    return and_(true(), *clauses)


def find_clause(field: str, value: Any) -> ColumnElement[bool]:
    column = FINDABLE.get(field)
    if column is None:
        raise InvalidRequestError(
            ErrorCode.FIELD_NOT_SEARCHABLE,
            f"findByField accepts {', '.join(sorted(FINDABLE))}, not {field!r}",
            path="$.field",
        )
    if field == "enabled":
        return column == _boolean(value, "$.value")
    return column == filter_text(value, "$.value")


def query_key(**parts: Any) -> str:
    """A stable cache key for a list query (the cache hashes it)."""
    return json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))


WINDOW = re.compile(r"^(\d{1,4})([mhd])$")
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_WINDOW = timedelta(days=366)


def parse_window(window: str) -> timedelta:
    """``"15m"``, ``"24h"``, ``"30d"``: the stats windows, at most a year."""
    match = WINDOW.match(window) if isinstance(window, str) else None
    if match is None:
        raise _invalid(ErrorCode.INVALID_VALUE, "window looks like 15m, 24h or 30d", "$.window")
    span = timedelta(**{WINDOW_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < span <= MAX_WINDOW:
        raise _invalid(ErrorCode.INVALID_VALUE, "window must be between 1 minute and 366 days", "$.window")
    return span


# --- full-text search -------------------------------------------------------------------------------
TERM = re.compile(r"[\w-]+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    if not isinstance(query, str) or not query.strip() or len(query) > 500:
        raise _invalid(ErrorCode.INVALID_SEARCH_QUERY, "search takes 1-500 characters of text", "$.query")
    terms = TERM.findall(query)[:SEARCH_MAX_TERMS]
    if not terms:
        raise _invalid(ErrorCode.INVALID_SEARCH_QUERY, "the query has no searchable words", "$.query")
    return terms


WORKFLOWS_FTS = table("workflows_fts", column("workflow_id"), column("tenant_id"))


def search_statement(terms: list[str], dialect: str, tenant_id: str, limit: int) -> Select[Workflow]:
    """Ranked full-text search. Terms are quoted, so user text can never be read as query syntax."""
    if dialect == "postgresql":
        tsquery = func.to_tsquery("simple", " & ".join(f"{_pg_quote(term)}:*" for term in terms))
        vector: ColumnElement[Any] = literal_column("workflows.search_vector")
        rank = func.ts_rank(vector, tsquery)
        return (
            select(Workflow).where(vector.op("@@")(tsquery)).order_by(rank.desc(), Workflow.id).limit(limit)
        )
    match = " ".join('"{}"*'.format(term.replace('"', '""')) for term in terms)
    ranked = (
        select(WORKFLOWS_FTS.c.workflow_id, literal_column("bm25(workflows_fts)").label("rank"))
        .where(literal_column("workflows_fts").op("MATCH")(match), WORKFLOWS_FTS.c.tenant_id == tenant_id)
        .subquery()
    )
    return (
        select(Workflow)
        .join(ranked, ranked.c.workflow_id == Workflow.id)
        .order_by(ranked.c.rank, Workflow.id)
        .limit(limit)
    )


def _pg_quote(term: str) -> str:
    return "'" + term.replace("'", "''").replace("\\", "\\\\") + "'"
