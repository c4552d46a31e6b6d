"""Who is calling: API keys and login tokens resolve to a :class:`Principal`; denials are audited.

An API key carries its user's level capped by the key's ``level_cap``; a login token (JWT, HS256) carries
the user's level when it was issued, re-checked against the user's current state on use, so disabling a
user or lowering a level takes effect at once (within the two-second principal cache), not at expiry.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cachetools import TTLCache

from tenantflow.engine.errors import ErrorCode
from tenantflow.singleflight import SingleFlight
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, NotFoundError, StoreError
from tenantflow.store.identity import API_KEY_PREFIX, Level, api_key_pepper, authenticate_api_key
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store

PRINCIPAL_CACHE_SECONDS = 2.0
PRINCIPAL_CACHE_SIZE = 10_000
_ALGORITHM = "HS256"
_ISSUER = "tenantflow"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its tenant, user and effective level (0 public … 5 supergod)."""

    tenant_id: str
    user_id: str
    level: Level
    key_id: str | None = None

    @property
    def name(self) -> str:
        """How rate limits and logs tell callers apart: the key, else the user."""
        return f"key:{self.key_id}" if self.key_id else f"user:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_in: int
    principal: Principal


class Authenticator:
    """Resolves bearer credentials; a short TTL cache keeps a busy key from costing a query per request."""

    def __init__(
        self,
        store: Store,
        *,
        jwt_key: bytes,
        jwt_ttl_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pepper = api_key_pepper(store.keyring)
        self._jwt_key = jwt_key
        self._jwt_ttl = jwt_ttl_seconds
        size, seconds = PRINCIPAL_CACHE_SIZE, PRINCIPAL_CACHE_SECONDS  # ``clock`` times their entries
        self._cache: TTLCache[str, Principal | None] = TTLCache(size, seconds, timer=clock)
        self._revoked: TTLCache[str, bool] = TTLCache(size, seconds, timer=clock)
        self._disabled: TTLCache[str, bool] = TTLCache(size, seconds, timer=clock)
        self._resolving: SingleFlight[str, Principal | None] = SingleFlight()

    async def principal(self, credentials: str) -> Principal | None:
        """The principal for an API key or token, or None when it is unknown, expired, revoked or disabled.

        When the cached principal expires under load, the requests in flight with the same credentials
        share one lookup instead of each reading the database.
        """
        cache_key = hashlib.sha256(credentials.encode()).hexdigest()
        try:  # one read: an entry seen by ``in`` may expire before a second read, which then raises
            return self._cache[cache_key]
        except KeyError:
            pass
        principal = await self._resolving.run(cache_key, lambda: self._resolve(credentials))
        self._cache[cache_key] = principal
        return principal

    async def _resolve(self, credentials: str) -> Principal | None:
        if credentials.startswith(API_KEY_PREFIX):
            found = await authenticate_api_key(self._store.database, self._pepper, credentials)
            principal = (
                None
                if found is None
                else Principal(found.tenant_id, found.user_id, found.level, found.key_id)
            )
        else:
            principal = await self._from_token(credentials)
        if principal is not None and (
            principal.key_id in self._revoked or principal.user_id in self._disabled
        ):
            return None  # read before a revoke or a disable in this process committed: not to be cached
        return principal

    def forget_user(self, user_id: str, *, disabled: bool) -> None:
        """After a change to a user's level or status commits, this process re-reads their principals at
        once (and refuses a disabled user's, even from a lookup that raced the change); other processes
        follow within :data:`PRINCIPAL_CACHE_SECONDS`."""
        if disabled:
            self._disabled[user_id] = True
        else:
            self._disabled.pop(user_id, None)
        for cache_key, principal in list(self._cache.items()):
            # A refusal names no user, so re-enabling someone forgets every cached refusal too.
            if (principal is None and not disabled) or (
                principal is not None and principal.user_id == user_id
            ):
                self._cache.pop(cache_key, None)

    def forget_key(self, key_id: str) -> None:
        """After a revoke commits, refuse ``key_id`` in this process at once rather than when its cached
        principal expires. Other processes refuse it within :data:`PRINCIPAL_CACHE_SECONDS`."""
        self._revoked[key_id] = True
        for cache_key, principal in list(self._cache.items()):
            if principal is not None and principal.key_id == key_id:
                self._cache.pop(cache_key, None)

    def issue(self, principal: Principal) -> Token:
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": principal.user_id,
            "tid": principal.tenant_id,
            "lvl": int(principal.level),
            "iat": now,
            "exp": now + self._jwt_ttl,
            "jti": uuid.uuid4().hex,
        }
        return Token(jwt.encode(claims, self._jwt_key, algorithm=_ALGORITHM), self._jwt_ttl, principal)

    async def login(self, tenant_id: str, email: str, password: str, *, actor: Actor) -> Token | None:
        """A token for a valid tenant/email/password, else None (the caller answers 401 either way)."""
        if not await tenant_exists(self._store, tenant_id):
            return None
        async with self._store.unit(actor) as unit:
            user = await unit.users.verify_password(email, password)
        if user is None:
            return None
        return self.issue(Principal(tenant_id, user.id, user.level))

    async def _from_token(self, token: str) -> Principal | None:
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.InvalidTokenError:
            return None
        tenant_id, user_id, level = claims.get("tid"), claims.get("sub"), claims.get("lvl")
        if not isinstance(tenant_id, str) or not isinstance(user_id, str) or not isinstance(level, int):
            return None
        try:
            async with self._store.unit(Actor(tenant_id, user_id=user_id), read_only=True) as unit:
                user = await unit.users.get(user_id)
        except StoreError:
            return None
        if user.disabled:
            return None
        return Principal(tenant_id, user_id, Level(min(level, int(user.level))))


async def tenant_exists(store: Store, tenant_id: str) -> bool:
    try:
        await Tenants(store.database).get(tenant_id)
    except NotFoundError:
        return False
    return True


async def record_denial(
    store: Store, actor: Actor, operation: str, error: StoreError, *, reached_for: str | None = None
) -> None:
    """Write a refused request to the actor's audit log, and to the tenant it reached for when that exists.

    The reached-for tenant learns that someone tried, not who; a tenant id that does not exist leaves only
    the actor's row (there is no log to write to, and its absence must not show).
    """
    owner = reached_for if reached_for and reached_for != actor.tenant_id else None
    if owner is not None and not await tenant_exists(store, owner):
        owner = None
    async with store.unit(actor) as unit:
        unit.audit.failed(operation, "route", None, error, owner_tenant=owner)


def denial(code: ErrorCode, message: str) -> StoreError:
    """A denial as the audit trail records it (the HTTP layer raises its own ApiError to the caller)."""
    return AccessDeniedError(code, message)
