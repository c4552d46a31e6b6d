"""Users and API keys, as a tenant's own admins manage them, on an explicit unit.

The store enforces who may act on whom (never above the actor's level, never another tenant's rows) and
audits every refusal; these use cases add the defaults the HTTP API promises and evict a revoked key, or a
changed or disabled user, from this process's principal cache once the change has committed.
"""

from __future__ import annotations

from tenantflow.engine.errors import ErrorCode
from tenantflow.services.access import Authenticator
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.identity import ApiKeyView, UserView
from tenantflow.store.unit import Unit


async def update_user(
    unit: Unit, user_id: str, authenticator: Authenticator, *, level: int | None, disabled: bool | None
) -> UserView:
    """Apply the given changes in one transaction (each checked and audited by the store); with none, the
    user as it is. Once they commit, this process stops serving the user's cached principals."""
    if level is not None:
        await unit.users.set_level(user_id, level)
    if disabled is not None:
        await (unit.users.disable(user_id) if disabled else unit.users.enable(user_id))
    user = await unit.users.get(user_id)

    async def forget() -> None:
        authenticator.forget_user(user_id, disabled=user.disabled)

    if level is not None or disabled is not None:
        unit.after_commit(forget)
    return user


async def create_api_key(
    unit: Unit, name: str, *, user_id: str | None, level_cap: int | None
) -> tuple[ApiKeyView, str]:
    """A key for ``user_id`` (default: the caller's own user), capped by default at the lower of that
    user's level and the caller's, so a capped key or an admin minting for a god makes a key it may make.

    The plaintext key is the second element: the caller shows it once.
    """
    owner = user_id or unit.actor.user_id
    if owner is None:
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE, "userId is required when the caller is not a user", path="$.userId"
        )
    if level_cap is None:
        level_cap = min((await unit.users.get(owner)).level, unit.actor.level)
    return await unit.api_keys.create(owner, name, level_cap=level_cap)


async def revoke_api_key(unit: Unit, key_id: str, authenticator: Authenticator) -> ApiKeyView:
    """Revoke (idempotent); once the revoke commits, this process refuses the key at once."""
    revoked = await unit.api_keys.revoke(key_id)

    async def forget() -> None:
        authenticator.forget_key(key_id)

    unit.after_commit(forget)
    return revoked
