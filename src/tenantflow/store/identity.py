"""Users and API keys, per tenant.

Passwords are argon2id hashes (argon2-cffi's defaults unless a cheaper :class:`PasswordHasher` is passed,
as tests do); hashing runs in a worker thread so a login does not stall the event loop. API keys are
``tfk_<keyid>_<secret>``: only ``tfk_<keyid>`` (for display) and an HMAC-SHA256 of the whole key under a
server-side pepper are stored, so a database dump is useless for authenticating; the plaintext key is
returned once, at creation.

Levels follow the seed: 0 public, 1 user, 2 moderator, 3 admin, 4 god, 5 supergod. An actor acts only on
users at or below its own level and never grants a level (or key cap) above its own.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.database import Database
from tenantflow.store.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    not_found,
)
from tenantflow.store.keyset import Keyset, KeysetPage
from tenantflow.store.models import ApiKey, User, utc_now
from tenantflow.store.queries import checked_limit
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.text import checked_text

if TYPE_CHECKING:
    from tenantflow.store.unit import Unit

API_KEY_PREFIX = "tfk_"
API_KEY_PUBLIC_HEX = 16
API_KEY_SECRET_BYTES = 32
API_KEY_MAX_LENGTH = 128
API_KEY_PEPPER_INFO = b"tenantflow/api-key-pepper/v1"
LAST_USED_RESOLUTION = timedelta(minutes=1)
EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+$")
MAX_EMAIL = 320
MAX_NAME = 255
DEFAULT_HASHER = PasswordHasher()
DEFAULT_PAGE = 50
MAX_PAGE = 100

RowT = TypeVar("RowT", User, ApiKey)
ViewT = TypeVar("ViewT", "UserView", "ApiKeyView")
# How a row kind is named in messages and in the audit log's target_type.
_KINDS: dict[type[User | ApiKey], tuple[str, str]] = {User: ("user", "user"), ApiKey: ("API key", "api_key")}


class Level(IntEnum):
    PUBLIC = 0
    USER = 1
    MODERATOR = 2
    ADMIN = 3
    GOD = 4
    SUPERGOD = 5


def _level(value: int, path: str) -> Level:
    try:
        return Level(value)
    except ValueError:
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "levels are 0 to 5", path=path) from None


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    email: str
    display_name: str | None
    level: Level
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, row: User) -> UserView:
        return cls(row.id, row.email, row.display_name, Level(row.level), row.disabled, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "displayName": self.display_name,
            "level": int(self.level),
            "disabled": self.disabled,
            "createdAt": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """An API key as it may be shown: its prefix, never the key or its hash."""

    id: str
    user_id: str
    name: str
    prefix: str
    level_cap: Level
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyView:
        return cls(
            row.id,
            row.user_id,
            row.name,
            row.prefix,
            Level(row.level_cap),
            row.created_at,
            row.last_used_at,
            row.revoked_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "levelCap": int(self.level_cap),
            "createdAt": self.created_at.isoformat(),
            "lastUsedAt": self.last_used_at and self.last_used_at.isoformat(),
            "revokedAt": self.revoked_at and self.revoked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """Who a valid API key speaks for; ``level`` is already capped by the key."""

    tenant_id: str
    user_id: str
    key_id: str
    level: Level


async def _locate(unit: Unit, model: type[RowT], ident: str, *, operation: str, write: bool) -> RowT:
    """The unit's tenant's row ``ident``, or the refusal :meth:`Unit.refuse_missing` gives (another
    tenant's row reads as absent, a write to it is CROSS_TENANT_ACCESS_DENIED). A write to a plainly
    absent row is audited as a failure."""
    row = await unit.session.scalar(select(model).where(model.id == ident))
    if row is not None:
        return row
    kind, target_type = _KINDS[model]
    with unit.audited(operation, target_type, ident) if write else nullcontext():
        await unit.refuse_missing(
            model,
            ident,
            kind=kind,
            code=ErrorCode.USER_NOT_FOUND,
            operation=operation,
            write=write,
            target_type=target_type,
        )


def _require_level(unit: Unit, operation: str, target_type: str, target_id: str | None, level: int) -> None:
    """Refuse (and audit) unless the actor's level is at least ``level``."""
    if unit.actor.level < level:
        error = AccessDeniedError(
            ErrorCode.PERMISSION_DENIED, f"{operation} needs level {level}; the actor has {unit.actor.level}"
        )
        unit.audit.failed(operation, target_type, target_id, error)
        raise error


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash to verify against when there is no user, so absent and present emails take as long."""
    return hasher.hash(secrets.token_urlsafe(16))


def _verify(hasher: PasswordHasher, password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash to check against, burn the same time on a dummy and say no."""
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    normalised = email.strip().lower()
    if len(normalised) > MAX_EMAIL or not EMAIL.match(normalised):
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "not an email address", path="$.email")
    return normalised


class UserRepository:
    """The unit's tenant's users. ``hasher`` defaults to argon2-cffi's production parameters."""

    def __init__(self, unit: Unit, *, hasher: PasswordHasher | None = None) -> None:
        self.unit = unit
        self.hasher = hasher or DEFAULT_HASHER

    async def create(
        self, email: str, *, level: int, password: str | None = None, display_name: str | None = None
    ) -> UserView:
        email = normalise_email(email)
        if display_name is not None:
            checked_text(display_name, MAX_NAME, "$.displayName")
        granted = _level(level, "$.level")
        _require_level(self.unit, "user.create", "user", None, granted)
        row = User(email=email, level=granted, display_name=display_name, disabled=False)
        if password is not None:
            row.password_hash = await asyncio.to_thread(self.hasher.hash, password)
        try:
            async with self.unit.session.begin_nested():
                self.unit.session.add(row)
        except IntegrityError:
            error = ConflictError(
                ErrorCode.DUPLICATE_USER, f"a user with email {email!r} exists", path="$.email"
            )
            self.unit.audit.failed("user.create", "user", None, error)
            raise error from None
        self.unit.audit.ok("user.create", "user", row.id, {"email": email, "level": int(granted)})
        return UserView.of(row)

    async def get(self, user_id: str) -> UserView:
        return UserView.of(await self._user(user_id, "user.get", write=False))

    async def get_by_email(self, email: str) -> UserView:
        """The user with this email: operators name users by email, which is unique within a tenant."""
        email = normalise_email(email)
        row = await self.unit.session.scalar(select(User).where(User.email == email))
        if row is None:
            raise not_found(ErrorCode.USER_NOT_FOUND, "user", email)
        return UserView.of(row)

    async def verify_password(self, email: str, password: str) -> UserView | None:
        """The enabled user with this email and password, else None, in about the same time either way.

        A hash made with older parameters is replaced on success, so raising the cost reaches every user.
        """
        try:
            email = normalise_email(email)
        except InvalidRequestError:
            return None
        row = await self.unit.session.scalar(select(User).where(User.email == email))
        stored = row.password_hash if row is not None else None
        valid = await asyncio.to_thread(_verify, self.hasher, stored, password)
        if row is None or stored is None or not valid or row.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):
            row.password_hash = await asyncio.to_thread(self.hasher.hash, password)
            self.unit.audit.ok("user.rehash_password", "user", row.id)
        return UserView.of(row)

    async def set_level(self, user_id: str, level: int) -> UserView:
        granted = _level(level, "$.level")
        row = await self._user(user_id, "user.set_level", write=True)
        _require_level(self.unit, "user.set_level", "user", user_id, max(row.level, granted))
        previous, row.level = row.level, granted
        self.unit.audit.ok("user.set_level", "user", user_id, {"from": int(previous), "to": int(granted)})
        return UserView.of(row)

    async def disable(self, user_id: str) -> UserView:
        return await self._set_disabled(user_id, True)

    async def _user(self, user_id: str, operation: str, *, write: bool) -> User:
        return await _locate(self.unit, User, user_id, operation=operation, write=write)

    async def enable(self, user_id: str) -> UserView:
        """Undo :meth:`disable`, under its rule: only an actor at or above the user's level may."""
        return await self._set_disabled(user_id, False)

    async def _set_disabled(self, user_id: str, disabled: bool) -> UserView:
        operation = "user.disable" if disabled else "user.enable"
        row = await self._user(user_id, operation, write=True)
        _require_level(self.unit, operation, "user", user_id, row.level)
        row.disabled = disabled
        self.unit.audit.ok(operation, "user", user_id)
        return UserView.of(row)

    async def page(self, *, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> KeysetPage[UserView]:
        """Users newest first, ``limit`` (1-100) a page: a tenant may have more than one response holds."""
        return await _newest_first(self.unit, User, UserView.of, {"list": "users"}, [], limit, cursor)


def api_key_pepper(keyring: Keyring) -> bytes:
    """The default pepper: HKDF of the keyring's root (oldest) key.

    Not the primary, which rotation replaces: every API key would stop working at each rotation. The root
    survives rotations; it changes only when the root key itself is retired, which therefore invalidates
    all API keys. A deployment that wants to retire root keys freely passes an explicit pepper instead.
    """
    return keyring.derive(API_KEY_PEPPER_INFO)


def hash_api_key(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def _new_api_key() -> tuple[str, str]:
    """``(prefix, key)``: the prefix is the key's public, displayable part."""
    prefix = API_KEY_PREFIX + secrets.token_hex(API_KEY_PUBLIC_HEX // 2)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(API_KEY_SECRET_BYTES)).rstrip(b"=").decode()
    return prefix, f"{prefix}_{secret}"


class ApiKeyRepository:
    """The unit's tenant's API keys. ``pepper`` defaults to :func:`api_key_pepper` of the store's keyring."""

    def __init__(self, unit: Unit, *, pepper: bytes | None = None) -> None:
        self.unit = unit
        self.pepper = pepper if pepper is not None else api_key_pepper(unit.store.keyring)

    async def create(self, user_id: str, name: str, *, level_cap: int) -> tuple[ApiKeyView, str]:
        """A new key for ``user_id``; the plaintext key is in the result and nowhere else, ever."""
        checked_text(name, MAX_NAME, "$.name")
        cap = _level(level_cap, "$.levelCap")
        user = await _locate(self.unit, User, user_id, operation="api_key.create", write=True)
        if user.id != self.unit.actor.user_id:
            _require_level(self.unit, "api_key.create", "user", user_id, user.level)
        # A key never outranks its user, nor the actor minting it: a capped key must not mint an uncapped one.
        _require_level(self.unit, "api_key.create", "user", user_id, cap)
        if cap > user.level:
            error = InvalidRequestError(
                ErrorCode.INVALID_VALUE,
                f"levelCap {cap} is above the user's level {user.level}",
                path="$.levelCap",
            )
            self.unit.audit.failed("api_key.create", "user", user_id, error)
            raise error
        prefix, key = _new_api_key()
        row = ApiKey(
            user_id=user.id, name=name, prefix=prefix, key_hash=hash_api_key(self.pepper, key), level_cap=cap
        )
        self.unit.session.add(row)
        await self.unit.session.flush()
        self.unit.audit.ok(
            "api_key.create", "api_key", row.id, {"userId": user.id, "prefix": prefix, "levelCap": int(cap)}
        )
        return ApiKeyView.of(row), key

    async def list(self, *, user_id: str | None = None) -> list[ApiKeyView]:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        return [ApiKeyView.of(row) for row in await self.unit.session.scalars(query)]

    async def revoke(self, key_id: str) -> ApiKeyView:
        """Revoke ``key_id`` (idempotent). Its owner may; so may actors at or above the owner's level."""
        row = await _locate(self.unit, ApiKey, key_id, operation="api_key.revoke", write=True)
        if row.user_id != self.unit.actor.user_id:
            owner_level = await self.unit.session.scalar(select(User.level).where(User.id == row.user_id))
            _require_level(self.unit, "api_key.revoke", "api_key", key_id, owner_level or 0)
        if row.revoked_at is None:
            row.revoked_at = utc_now()
            self.unit.audit.ok("api_key.revoke", "api_key", key_id)
        return ApiKeyView.of(row)

    async def page(
        self, *, user_id: str | None = None, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> KeysetPage[ApiKeyView]:
        """Keys newest first (``user_id``'s alone when given), ``limit`` (1-100) a page: :meth:`list` is
        unbounded, which an HTTP response must not be."""
        conditions = [] if user_id is None else [ApiKey.user_id == user_id]
        scope = {"list": "api_keys", "userId": user_id}
        return await _newest_first(self.unit, ApiKey, ApiKeyView.of, scope, conditions, limit, cursor)


async def authenticate_api_key(
    database: Database, pepper: bytes, presented_key: str
) -> ApiKeyPrincipal | None:
    """The principal ``presented_key`` speaks for, or None if it is unknown, revoked or its user disabled.

    The one cross-tenant read in the store, by design: the key is what tells us the tenant. ``last_used_at``
    is written at most once per :data:`LAST_USED_RESOLUTION` per key, so a busy key costs no write per call.
    """
    if not presented_key.startswith(API_KEY_PREFIX) or len(presented_key) > API_KEY_MAX_LENGTH:
        return None
    digest = hash_api_key(pepper, presented_key)
    async with database.transaction(SYSTEM, read_only=True) as session:
        found = (
            await session.execute(
                select(ApiKey, User.level, User.disabled)
                .join(User, and_(User.id == ApiKey.user_id, User.tenant_id == ApiKey.tenant_id))
                .where(ApiKey.key_hash == digest)
            )
        ).first()
    if found is None:
        return None
    key, user_level, disabled = found
    if not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None or disabled:
        return None
    now = utc_now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION)
        async with database.transaction(SYSTEM) as session:
            await session.execute(update(ApiKey).where(ApiKey.id == key.id, stale).values(last_used_at=now))
    return ApiKeyPrincipal(key.tenant_id, key.user_id, key.id, Level(min(user_level, key.level_cap)))


async def _newest_first(
    unit: Unit,
    model: type[RowT],
    view: Callable[[RowT], ViewT],
    scope: dict[str, Any],
    conditions: list[ColumnElement[bool]],
    limit: int,
    cursor: str | None,
) -> KeysetPage[ViewT]:
    """One page of ``model`` rows by ``(created_at, id)``, newest first, under the store's signed cursors
    (bound to this tenant and ``scope``, so a cursor cannot be replayed against another list)."""
    keyset = Keyset(unit.store.cursors, unit.tenant_id, scope, model.created_at, model.id)
    rows = await unit.session.scalars(
        select(model)
        .where(*conditions, *keyset.after(cursor))
        .order_by(*keyset.order())
        .limit(checked_limit(limit, MAX_PAGE) + 1)
    )
    return keyset.page(rows.all(), limit, lambda row: (row.created_at, row.id), view)
