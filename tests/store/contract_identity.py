"""Identity store contract: users, passwords, API keys and their authentication, per tenant.

A mixin, composed per backend in ``test_store_contract.py`` (which provides ``database_url``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, ConflictError, InvalidRequestError, NotFoundError
from tenantflow.store.identity import (
    ApiKeyRepository,
    Level,
    UserRepository,
    UserView,
    api_key_pepper,
    authenticate_api_key,
)
from tenantflow.store.models import ApiKey, User, utc_now
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.unit import Store, Unit
from tests.store.contract_secrets import audit_text
from tests.store.factories import audit_log

pytestmark = pytest.mark.anyio

# argon2-cffi's defaults cost ~50-100 ms a hash; these keep the suite fast and are otherwise identical.
FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORD = "correct horse battery staple"


def users(unit: Unit, hasher: PasswordHasher = FAST) -> UserRepository:
    return UserRepository(unit, hasher=hasher)


async def add_user(store: Store, actor: Actor, email: str, level: int = 1) -> UserView:
    async with store.unit(actor) as unit:
        return await users(unit).create(email, level=level, password=PASSWORD)


async def stored_user(store: Store, user_id: str) -> User:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        row = await session.get(User, user_id)
    assert row is not None
    return row


async def stored_key(store: Store, key_id: str) -> ApiKey:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        row = await session.get(ApiKey, key_id)
    assert row is not None
    return row


class IdentityStoreContract:
    async def test_user_create_and_get(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await users(unit).create(
                "  Ada@Example.COM ", level=Level.MODERATOR, password=PASSWORD, display_name="Ada"
            )
            fetched = await users(unit).get(created.id)
        assert fetched == created
        assert (created.email, created.level, created.display_name, created.disabled) == (
            "ada@example.com",
            Level.MODERATOR,
            "Ada",
            False,
        )
        assert created.to_dict()["level"] == 2
        row = await stored_user(store, created.id)
        assert row.password_hash is not None and row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
        entries = await audit_log(store, actor_a.tenant_id)
        assert [(e.operation, e.target_id, e.details) for e in entries] == [
            ("user.create", created.id, {"email": "ada@example.com", "level": 2})
        ]
        assert PASSWORD not in audit_text(entries)

    async def test_user_email_is_unique_per_tenant(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        await add_user(store, actor_a, "dup@example.com")
        async with store.unit(actor_a) as unit:
            with pytest.raises(ConflictError) as caught:
                await users(unit).create("DUP@example.com", level=1)
            assert caught.value.code == ErrorCode.DUPLICATE_USER
            # The savepoint kept the unit usable after the conflict.
            await users(unit).create("other@example.com", level=1)
        assert (await add_user(store, actor_b, "dup@example.com")).email == "dup@example.com"
        failures = [
            (e.operation, e.error_code)
            for e in await audit_log(store, actor_a.tenant_id)
            if e.outcome != "ok"
        ]
        assert failures == [("user.create", "DUPLICATE_USER")]

    async def test_user_levels_are_validated_and_bounded_by_the_actor(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            for level in (-1, 6):
                with pytest.raises(InvalidRequestError) as invalid:
                    await users(unit).create("x@example.com", level=level)
                assert (invalid.value.code, invalid.value.path) == (ErrorCode.INVALID_VALUE, "$.level")
            with pytest.raises(InvalidRequestError) as bad_email:
                await users(unit).create("not-an-email", level=1)
            assert bad_email.value.path == "$.email"
            with pytest.raises(AccessDeniedError) as denied:
                await users(unit).create("boss@example.com", level=Level.GOD)
            assert denied.value.code == ErrorCode.PERMISSION_DENIED
            assert (await users(unit).create("peer@example.com", level=Level.ADMIN)).level == Level.ADMIN
        failures = [
            (e.operation, e.outcome) for e in await audit_log(store, actor_a.tenant_id) if e.outcome != "ok"
        ]
        assert failures == [("user.create", "denied")]

    async def test_user_verify_password(self, store: Store, actor_a: Actor) -> None:
        user = await add_user(store, actor_a, "login@example.com")
        async with store.unit(actor_a) as unit:
            await users(unit).create("nopass@example.com", level=1)
            assert await users(unit).verify_password("LOGIN@example.com", PASSWORD) == user
            assert await users(unit).verify_password("login@example.com", "wrong") is None
            assert await users(unit).verify_password("nobody@example.com", PASSWORD) is None
            assert await users(unit).verify_password("not an email", PASSWORD) is None
            assert await users(unit).verify_password("nopass@example.com", "") is None
            await users(unit).disable(user.id)
            assert await users(unit).verify_password("login@example.com", PASSWORD) is None

    async def test_user_password_rehashed_when_parameters_change(self, store: Store, actor_a: Actor) -> None:
        user = await add_user(store, actor_a, "rehash@example.com")
        before = (await stored_user(store, user.id)).password_hash
        stronger = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1)
        async with store.unit(actor_a) as unit:
            assert await users(unit, stronger).verify_password("rehash@example.com", PASSWORD) == user
        after = (await stored_user(store, user.id)).password_hash
        assert after is not None and after != before and ",t=2," in after
        async with store.unit(actor_a) as unit:
            assert await users(unit, stronger).verify_password("rehash@example.com", PASSWORD) == user
        rehashes = [e.operation for e in await audit_log(store, actor_a.tenant_id)].count(
            "user.rehash_password"
        )
        assert rehashes == 1

    async def test_user_set_level_and_disable(self, store: Store, actor_a: Actor) -> None:
        target = await add_user(store, actor_a, "target@example.com")
        god = await add_user(
            store, Actor(actor_a.tenant_id, level=Level.SUPERGOD), "god@example.com", Level.GOD
        )
        async with store.unit(actor_a) as unit:
            assert (await users(unit).set_level(target.id, Level.ADMIN)).level == Level.ADMIN
            with pytest.raises(AccessDeniedError):
                await users(unit).set_level(target.id, Level.GOD)
            for call in (users(unit).set_level(god.id, Level.USER), users(unit).disable(god.id)):
                with pytest.raises(AccessDeniedError) as denied:
                    await call
                assert denied.value.code == ErrorCode.PERMISSION_DENIED
            assert (await users(unit).disable(target.id)).disabled
        row = await stored_user(store, target.id)
        assert (row.level, row.disabled) == (Level.ADMIN, True)
        entries = await audit_log(store, actor_a.tenant_id)
        assert [
            (e.operation, e.details) for e in entries if e.operation == "user.set_level" and e.outcome == "ok"
        ] == [("user.set_level", {"from": 1, "to": 3})]
        assert [e.operation for e in entries if e.outcome == "denied"] == [
            "user.set_level",
            "user.set_level",
            "user.disable",
        ]

    async def test_user_of_another_tenant_reads_absent_and_writes_are_denied(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        theirs = await add_user(store, actor_b, "theirs@example.com")
        async with store.unit(actor_a) as unit:
            with pytest.raises(NotFoundError) as absent:
                await users(unit).get(theirs.id)
            assert absent.value.code == ErrorCode.USER_NOT_FOUND
            for call in (users(unit).set_level(theirs.id, 1), users(unit).disable(theirs.id)):
                with pytest.raises(AccessDeniedError) as denied:
                    await call
                assert denied.value.code == ErrorCode.CROSS_TENANT_ACCESS_DENIED
            with pytest.raises(NotFoundError):
                await users(unit).set_level("no-such-user", 1)
            assert await users(unit).verify_password("theirs@example.com", PASSWORD) is None
        assert (await stored_user(store, theirs.id)).disabled is False
        ours = [(e.operation, e.outcome, e.error_code) for e in await audit_log(store, actor_a.tenant_id)]
        assert ours == [  # the read left nothing here, as a read of an absent id would not
            ("user.set_level", "denied", "CROSS_TENANT_ACCESS_DENIED"),
            ("user.disable", "denied", "CROSS_TENANT_ACCESS_DENIED"),
            ("user.set_level", "error", "USER_NOT_FOUND"),
        ]
        owners = [
            (e.operation, e.outcome, e.user_id, e.target_id)
            for e in await audit_log(store, actor_b.tenant_id)
            if e.outcome != "ok"
        ]
        assert owners == [
            ("user.get", "denied", None, theirs.id),
            ("user.set_level", "denied", None, theirs.id),
            ("user.disable", "denied", None, theirs.id),
        ]

    async def test_api_key_create_and_authenticate(self, store: Store, actor_a: Actor) -> None:
        user = await add_user(store, actor_a, "keys@example.com", Level.ADMIN)
        async with store.unit(actor_a) as unit:
            view, key = await ApiKeyRepository(unit).create(user.id, "ci", level_cap=Level.MODERATOR)
            listed = await ApiKeyRepository(unit).list()
        assert listed == [view]
        assert key.startswith(view.prefix + "_") and view.prefix.startswith("tfk_")
        assert len(key) > 60 and key not in str(view.to_dict())
        row = await stored_key(store, view.id)
        assert row.key_hash != key and len(row.key_hash) == 64 and key not in row.key_hash
        assert key not in audit_text(await audit_log(store, actor_a.tenant_id))
        principal = await authenticate_api_key(store.database, api_key_pepper(store.keyring), key)
        assert principal is not None
        assert (principal.tenant_id, principal.user_id, principal.key_id, principal.level) == (
            actor_a.tenant_id,
            user.id,
            view.id,
            Level.MODERATOR,
        )
        # The cap only lowers: demoting the user lowers the key's effective level below its cap.
        async with store.unit(actor_a) as unit:
            await users(unit).set_level(user.id, Level.USER)
        demoted = await authenticate_api_key(store.database, api_key_pepper(store.keyring), key)
        assert demoted is not None and demoted.level == Level.USER

    async def test_api_key_level_cap_bounded_by_user_and_actor(self, store: Store, actor_a: Actor) -> None:
        user = await add_user(store, actor_a, "capped@example.com", Level.MODERATOR)
        async with store.unit(actor_a) as unit:
            with pytest.raises(InvalidRequestError) as above_user:
                await ApiKeyRepository(unit).create(user.id, "k", level_cap=Level.ADMIN)
            assert above_user.value.path == "$.levelCap"
            with pytest.raises(InvalidRequestError):
                await ApiKeyRepository(unit).create(user.id, " ", level_cap=Level.USER)
        # The user itself, acting through a key capped at 1, cannot mint a key above that cap.
        capped_self = Actor(actor_a.tenant_id, user_id=user.id, level=Level.USER)
        async with store.unit(capped_self) as unit:
            with pytest.raises(AccessDeniedError) as escalation:
                await ApiKeyRepository(unit).create(user.id, "k", level_cap=Level.MODERATOR)
            assert escalation.value.code == ErrorCode.PERMISSION_DENIED
            view, _ = await ApiKeyRepository(unit).create(user.id, "own", level_cap=Level.USER)
        assert view.level_cap == Level.USER
        # Nor can a lower-level actor mint keys for a higher-level user.
        admin = await add_user(store, actor_a, "admin@example.com", Level.ADMIN)
        async with store.unit(Actor(actor_a.tenant_id, user_id=user.id, level=Level.MODERATOR)) as unit:
            with pytest.raises(AccessDeniedError):
                await ApiKeyRepository(unit).create(admin.id, "k", level_cap=Level.USER)
        failures = [
            (e.operation, e.outcome, e.error_code)
            for e in await audit_log(store, actor_a.tenant_id)
            if e.outcome != "ok"
        ]
        assert failures == [
            ("api_key.create", "error", "INVALID_VALUE"),
            ("api_key.create", "denied", "PERMISSION_DENIED"),
            ("api_key.create", "denied", "PERMISSION_DENIED"),
        ]

    async def test_api_key_refused_when_revoked_disabled_or_wrong(self, store: Store, actor_a: Actor) -> None:
        pepper = api_key_pepper(store.keyring)
        alice = await add_user(store, actor_a, "alice@example.com")
        bob = await add_user(store, actor_a, "bob@example.com")
        async with store.unit(actor_a) as unit:
            revoked, revoked_key = await ApiKeyRepository(unit).create(alice.id, "old", level_cap=1)
            _, live_key = await ApiKeyRepository(unit).create(alice.id, "live", level_cap=1)
            _, bob_key = await ApiKeyRepository(unit).create(bob.id, "bob", level_cap=1)
        async with store.unit(Actor(actor_a.tenant_id, user_id=alice.id, level=1)) as unit:
            first = await ApiKeyRepository(unit).revoke(revoked.id)
            again = await ApiKeyRepository(unit).revoke(revoked.id)
        assert first.revoked_at is not None and again.revoked_at == first.revoked_at
        async with store.unit(actor_a) as unit:
            await users(unit).disable(bob.id)
        assert await authenticate_api_key(store.database, pepper, live_key) is not None
        for key in (
            revoked_key,
            bob_key,
            live_key[:-1] + ("A" if live_key[-1] != "A" else "B"),
            live_key + "x",
            "tfk_",
            "",
            "Bearer " + live_key,
            "tfk_" + "x" * 500,
        ):
            assert await authenticate_api_key(store.database, pepper, key) is None, key
        assert await authenticate_api_key(store.database, b"another deployment's pepper", live_key) is None
        revokes = [e.operation for e in await audit_log(store, actor_a.tenant_id)].count("api_key.revoke")
        assert revokes == 1

    async def test_api_key_last_used_at_written_at_most_once_a_minute(
        self, store: Store, actor_a: Actor
    ) -> None:
        pepper = api_key_pepper(store.keyring)
        user = await add_user(store, actor_a, "busy@example.com")
        async with store.unit(actor_a) as unit:
            view, key = await ApiKeyRepository(unit).create(user.id, "busy", level_cap=1)
        assert view.last_used_at is None
        assert await authenticate_api_key(store.database, pepper, key) is not None
        first = (await stored_key(store, view.id)).last_used_at
        assert first is not None
        assert await authenticate_api_key(store.database, pepper, key) is not None
        assert (await stored_key(store, view.id)).last_used_at == first
        long_ago = utc_now() - timedelta(minutes=5)
        async with store.database.transaction(SYSTEM) as session:
            await session.execute(update(ApiKey).where(ApiKey.id == view.id).values(last_used_at=long_ago))
        assert await authenticate_api_key(store.database, pepper, key) is not None
        refreshed = (await stored_key(store, view.id)).last_used_at
        assert refreshed is not None and refreshed > first

    async def test_api_key_of_another_tenant_is_out_of_reach(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        theirs = await add_user(store, actor_b, "b-user@example.com")
        async with store.unit(actor_b) as unit:
            their_key, plaintext = await ApiKeyRepository(unit).create(theirs.id, "b-key", level_cap=1)
        async with store.unit(actor_a) as unit:
            keys = ApiKeyRepository(unit)
            assert await keys.list() == []
            assert await keys.list(user_id=theirs.id) == []
            for call in (keys.create(theirs.id, "planted", level_cap=1), keys.revoke(their_key.id)):
                with pytest.raises(AccessDeniedError) as denied:
                    await call
                assert denied.value.code == ErrorCode.CROSS_TENANT_ACCESS_DENIED
        assert (await stored_key(store, their_key.id)).revoked_at is None
        principal = await authenticate_api_key(store.database, api_key_pepper(store.keyring), plaintext)
        assert principal is not None and principal.tenant_id == actor_b.tenant_id
        async with store.database.transaction(actor_b.tenant_id, read_only=True) as session:
            assert list(await session.scalars(select(ApiKey.name))) == ["b-key"]
        ours = [(e.operation, e.error_code) for e in await audit_log(store, actor_a.tenant_id)]
        assert ours == [
            ("api_key.create", "CROSS_TENANT_ACCESS_DENIED"),
            ("api_key.revoke", "CROSS_TENANT_ACCESS_DENIED"),
        ]
        owners = [
            (e.operation, e.target_id) for e in await audit_log(store, actor_b.tenant_id) if e.outcome != "ok"
        ]
        assert owners == [("api_key.create", theirs.id), ("api_key.revoke", their_key.id)]
