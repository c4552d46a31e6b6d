"""Keyset pagination, newest first, with cursors that are signed and bound to the tenant and list they serve.

A cursor is ``<position>.<mac>``, both base64url. The position is the last row's ``(created_at, id)``; the
MAC is HMAC-SHA256, under a key the store's keyring derives for this purpose alone, of the tenant, the
list's name and canonical filter, and the position. A cursor that was altered, issued to another tenant or
for another filter (or list) therefore fails verification with INVALID_CURSOR before its position is read,
and nobody without the key can make one. Only the position travels in the cursor: the tenant and the
filter it is checked against come from the request that presents it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, UnaryExpression, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import InvalidRequestError

if TYPE_CHECKING:
    from tenantflow.store.secrets import Keyring

CURSOR_KEY_INFO: Final = b"tenantflow/keyset-cursor/v1"
MAX_CURSOR_LENGTH: Final = 512
Position = tuple[datetime, Any]
"""A row's place in a newest-first list: its ``created_at`` and its id (a string or an integer)."""


class SupportsToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


ItemT = TypeVar("ItemT", bound="SupportsToDict | dict[str, Any]")
RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class KeysetPage(Generic[ItemT]):
    """One page; ``next_cursor`` (set exactly when ``has_more``) continues right after its last item."""

    items: list[ItemT]
    next_cursor: str | None
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [_plain(item) for item in self.items],
            "nextCursor": self.next_cursor,
            "hasMore": self.has_more,
        }


def _plain(item: SupportsToDict | dict[str, Any]) -> dict[str, Any]:
    return item if isinstance(item, dict) else item.to_dict()


class CursorSigner:
    """Signs and verifies cursors under a key derived from the keyring's root, so they survive rotations."""

    __slots__ = ("_key",)

    def __init__(self, keyring: Keyring) -> None:
        self._key = keyring.derive(CURSOR_KEY_INFO)

    def sign(self, tenant_id: str, scope: Mapping[str, Any], position: Position) -> str:
        """The cursor of the page after ``position`` in the list ``scope`` of ``tenant_id``."""
        created_at, ident = position
        body = _encode(json.dumps([created_at.astimezone(UTC).isoformat(), ident]).encode())
        return f"{body}.{self._mac(tenant_id, scope, body)}"

    def verify(self, tenant_id: str, scope: Mapping[str, Any], cursor: object) -> Position:
        """The position in ``cursor`` if this signer made it for this tenant and list; else INVALID_CURSOR."""
        try:
            if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
                raise ValueError("not a cursor")
            body, _, mac = cursor.partition(".")
            # compare_digest refuses non-ASCII text with a TypeError, which is caught as a forgery too.
            if not hmac.compare_digest(mac, self._mac(tenant_id, scope, body)):
                raise ValueError("not signed for this tenant and list")
            moment, ident = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            return datetime.fromisoformat(moment), ident
        except (ValueError, TypeError):
            raise InvalidRequestError(
                ErrorCode.INVALID_CURSOR, "the cursor is not one this list returned", path="$.cursor"
            ) from None

    def _mac(self, tenant_id: str, scope: Mapping[str, Any], body: str) -> str:
        bound = json.dumps([tenant_id, scope, body], sort_keys=True, separators=(",", ":"))
        return _encode(hmac.new(self._key, bound.encode(), hashlib.sha256).digest())


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def older_than(
    created: InstrumentedAttribute[datetime], ident: InstrumentedAttribute[Any], position: Position
) -> ColumnElement[bool]:
    """Rows after ``position`` newest first: a row comparison, which both backends answer with an index seek
    (the equivalent OR of two comparisons scans from the newest row on PostgreSQL)."""
    created_at, key = position
    return tuple_(created, ident) < tuple_(literal(created_at, created.type), literal(key, ident.type))


@dataclass(frozen=True, slots=True)
class Keyset:
    """One newest-first list as one request sees it: its columns, and the tenant and filter (``scope``,
    JSON values only) that its cursors are bound to."""

    signer: CursorSigner
    tenant_id: str
    scope: Mapping[str, Any]
    created: InstrumentedAttribute[datetime]
    ident: InstrumentedAttribute[Any]

    def after(self, cursor: str | None) -> list[ColumnElement[bool]]:
        """The condition that starts the page at ``cursor`` (none for the first page)."""
        if cursor is None:
            return []
        return [older_than(self.created, self.ident, self.signer.verify(self.tenant_id, self.scope, cursor))]

    def order(self) -> tuple[UnaryExpression[datetime], UnaryExpression[Any]]:
        return self.created.desc(), self.ident.desc()

    def page(
        self,
        rows: Sequence[RowT],
        limit: int,
        position: Callable[[RowT], Position],
        item: Callable[[RowT], ItemT],
    ) -> KeysetPage[ItemT]:
        """The page of ``limit + 1`` fetched rows: the extra row only says that there is more."""
        has_more = len(rows) > limit
        kept = rows[:limit]
        cursor = self.signer.sign(self.tenant_id, self.scope, position(kept[-1])) if has_more else None
        return KeysetPage([item(row) for row in kept], cursor, has_more)
