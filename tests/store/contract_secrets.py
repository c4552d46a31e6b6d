"""Secret store contract: encrypted round trips, upserts, rotation, tenant/name binding, audit.

A mixin, composed per backend in ``test_store_contract.py`` (which provides ``database_url``).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError, NotFoundError, StoreError
from tenantflow.store.models import AuditEntry, Secret
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.unit import Store
from tests.store.conftest import open_store
from tests.store.factories import audit_log, engine_events

pytestmark = pytest.mark.anyio


def audit_text(entries: list[AuditEntry]) -> str:
    """All of an audit log's fields as one string, to search for anything that must not be there."""
    return json.dumps(
        [[e.operation, e.target_type, e.target_id, e.outcome, e.error_code, e.details] for e in entries]
    )


async def secret_row(store: Store, tenant_id: str, name: str) -> Secret:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        row = await session.scalar(select(Secret).where(Secret.tenant_id == tenant_id, Secret.name == name))
    assert row is not None
    return row


class SecretStoreContract:
    async def test_secret_round_trip_encrypts_at_rest(self, store: Store, actor_a: Actor) -> None:
        value = "p@ss wörd ✓ " + "x" * 1000
        async with store.unit(actor_a) as unit:
            info = await unit.secrets.set("smtp.password", value, description="mail relay")
        assert (info.name, info.description, info.created_by) == ("smtp.password", "mail relay", "user-a")
        assert info.key_id == store.keyring.primary
        async with store.unit(actor_a) as unit:
            assert await unit.secrets.get_value("smtp.password") == value
        row = await secret_row(store, actor_a.tenant_id, "smtp.password")
        assert len(row.nonce) == 12
        assert value.encode() not in row.ciphertext
        assert len(row.ciphertext) == len(value.encode()) + 16  # GCM tag

    async def test_secret_set_replaces_and_keeps_identity(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            first = await unit.secrets.set("token", "old-value-1", description="v1")
        first_row = await secret_row(store, actor_a.tenant_id, "token")
        async with store.unit(Actor(actor_a.tenant_id, user_id="someone-else")) as unit:
            second = await unit.secrets.set("token", "new-value-2")
            assert await unit.secrets.get_value("token") == "new-value-2"
        second_row = await secret_row(store, actor_a.tenant_id, "token")
        assert second_row.id == first_row.id
        assert second_row.nonce != first_row.nonce
        assert (second.created_at, second.created_by) == (first.created_at, "user-a")
        assert second.updated_at > first.updated_at
        assert second.description is None
        sets = [e for e in await audit_log(store, actor_a.tenant_id) if e.operation == "secret.set"]
        assert [(e.target_id, e.outcome, e.details) for e in sets] == [
            ("token", "ok", {"created": True}),
            ("token", "ok", {"created": False}),
        ]

    async def test_secret_concurrent_sets_upsert_one_row(self, store: Store, actor_a: Actor) -> None:
        async def write(index: int) -> None:
            async with store.unit(actor_a) as unit:
                await unit.secrets.set("race", f"value-{index}")

        await asyncio.gather(*(write(index) for index in range(8)))
        async with store.unit(actor_a) as unit:
            assert [info.name for info in await unit.secrets.list()] == ["race"]
            assert (await unit.secrets.get_value("race")).startswith("value-")

    @pytest.mark.parametrize("name", ["", "a b", "ключ", "x" * 256, "a/b", "a\0b"])
    async def test_secret_names_are_validated(self, store: Store, actor_a: Actor, name: str) -> None:
        async with store.unit(actor_a) as unit:
            for call in (
                unit.secrets.set(name, "v"),
                unit.secrets.get_value(name),
                unit.secrets.delete(name),
                unit.secrets.values_for(["ok", name]),
            ):
                with pytest.raises(InvalidRequestError) as caught:
                    await call
                assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_VALUE, "$.name")

    async def test_secret_list_returns_metadata_never_values(self, store: Store, actor_a: Actor) -> None:
        values = {f"key-{index:02d}": f"list-secret-value-{index}" for index in range(5)}
        async with store.unit(actor_a) as unit:
            for name, value in values.items():
                await unit.secrets.set(name, value, description=f"about {name}")
            page = await unit.secrets.list(limit=2)
            rest = await unit.secrets.list(after=page[-1].name)
            with pytest.raises(InvalidRequestError) as caught:
                await unit.secrets.list(limit=1001)
            assert caught.value.code == ErrorCode.INVALID_PAGINATION
        assert [info.name for info in page + rest] == sorted(values)
        listed = [info.to_dict() for info in page + rest]
        assert set(listed[0]) == {"name", "keyId", "description", "createdAt", "updatedAt", "createdBy"}
        dumped = json.dumps(listed)
        assert not any(value in dumped for value in values.values())

    async def test_secret_missing_is_not_found_and_audited(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            await unit.secrets.set("present", "here")
        with pytest.raises(NotFoundError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.secrets.values_for(["present", "absent-1", "absent-2"])
        assert caught.value.code == ErrorCode.SECRET_NOT_FOUND
        assert caught.value.details["missing"] == ["absent-1", "absent-2"]
        with pytest.raises(NotFoundError):
            async with store.unit(actor_a) as unit:
                await unit.secrets.delete("absent-1")
        failures = [
            (e.operation, e.target_id, e.outcome, e.error_code)
            for e in await audit_log(store, actor_a.tenant_id)
            if e.outcome != "ok"
        ]
        assert failures == [
            ("secret.read", "absent-1", "error", "SECRET_NOT_FOUND"),
            ("secret.read", "absent-2", "error", "SECRET_NOT_FOUND"),
            ("secret.delete", "absent-1", "error", "SECRET_NOT_FOUND"),
        ]

    async def test_secret_delete(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            await unit.secrets.set("doomed", "bye")
        async with store.unit(actor_a) as unit:
            await unit.secrets.delete("doomed")
        async with store.unit(actor_a) as unit:
            assert await unit.secrets.list() == []
            with pytest.raises(NotFoundError):
                await unit.secrets.get_value("doomed")
        operations = [(e.operation, e.outcome) for e in await audit_log(store, actor_a.tenant_id)]
        assert ("secret.delete", "ok") in operations

    async def test_secret_values_for_reads_in_one_query_and_audits_each(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            for index in range(5):
                await unit.secrets.set(f"bulk-{index}", f"bulk-value-{index}")
        async with store.unit(actor_a) as unit:
            with engine_events(store, "before_cursor_execute", "FROM secrets") as queries:
                values = await unit.secrets.values_for(["bulk-0", "bulk-3", "bulk-4", "bulk-3"])
            assert await unit.secrets.values_for([]) == {}
        assert values == {"bulk-0": "bulk-value-0", "bulk-3": "bulk-value-3", "bulk-4": "bulk-value-4"}
        assert len(queries) == 1
        entries = await audit_log(store, actor_a.tenant_id)
        reads = [e.target_id for e in entries if e.operation == "secret.read"]
        assert reads == ["bulk-0", "bulk-3", "bulk-4"]
        assert "bulk-value" not in audit_text(entries)

    async def test_secret_names_are_per_tenant(self, store: Store, actor_a: Actor, actor_b: Actor) -> None:
        async with store.unit(actor_b) as unit:
            await unit.secrets.set("shared", "tenant-b-value")
            await unit.secrets.set("only-b", "b-only-value")
        async with store.unit(actor_a) as unit:
            await unit.secrets.set("shared", "tenant-a-value")
            assert [info.name for info in await unit.secrets.list()] == ["shared"]
            assert await unit.secrets.get_value("shared") == "tenant-a-value"
            for call in (
                unit.secrets.get_value("only-b"),
                unit.secrets.values_for(["only-b"]),
                unit.secrets.delete("only-b"),
            ):
                with pytest.raises(NotFoundError):
                    await call
            await unit.secrets.delete("shared")
        async with store.unit(actor_b) as unit:
            assert await unit.secrets.values_for(["shared", "only-b"]) == {
                "shared": "tenant-b-value",
                "only-b": "b-only-value",
            }
            assert (await unit.secrets.list())[0].created_at is not None
        assert "b-only-value" not in audit_text(await audit_log(store, actor_a.tenant_id))

    async def test_secret_ciphertext_moved_to_another_tenant_or_name_fails(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        async with store.unit(actor_b) as unit:
            await unit.secrets.set("shared", "tenant-b-secret-value")
        async with store.unit(actor_a) as unit:
            await unit.secrets.set("shared", "tenant-a-value")
            await unit.secrets.set("other", "tenant-a-other")
        stolen = await secret_row(store, actor_b.tenant_id, "shared")
        own = await secret_row(store, actor_a.tenant_id, "shared")
        async with store.database.transaction(SYSTEM) as session:
            for name, source in (("shared", stolen), ("other", own)):
                await session.execute(
                    update(Secret)
                    .where(Secret.tenant_id == actor_a.tenant_id, Secret.name == name)
                    .values(key_id=source.key_id, nonce=source.nonce, ciphertext=source.ciphertext)
                )
        for name in ("shared", "other"):
            with pytest.raises(StoreError) as caught:
                async with store.unit(actor_a) as unit:
                    await unit.secrets.get_value(name)
            assert caught.value.code == ErrorCode.SECRET_KEY_UNAVAILABLE
            assert "cannot be decrypted" in caught.value.message
            assert "tenant-" not in caught.value.message
        failed = [
            (e.operation, e.target_id, e.error_code)
            for e in await audit_log(store, actor_a.tenant_id)
            if e.outcome != "ok"
        ]
        assert failed == [
            ("secret.read", "shared", "SECRET_KEY_UNAVAILABLE"),
            ("secret.read", "other", "SECRET_KEY_UNAVAILABLE"),
        ]

    async def test_secret_rotation_reencrypts_per_tenant_then_old_key_retires(
        self, database_url: str, tenant_a: str, tenant_b: str
    ) -> None:
        actor = Actor(tenant_a, user_id="rotator")
        first = Keyring.generate()
        values = {f"rot-{index}": f"rotation-value-{index}" for index in range(5)}
        old_store = await open_store(database_url, first)
        try:
            for tenant in (tenant_a, tenant_b):
                async with old_store.unit(Actor(tenant)) as unit:
                    for name, value in values.items():
                        await unit.secrets.set(name, value)
        finally:
            await old_store.close()

        rotated = first.rotate()
        new_store = await open_store(database_url, rotated)
        try:
            async with new_store.unit(actor) as unit:
                assert await unit.secrets.values_for(values) == values
                await unit.secrets.set("rot-new", "fresh")
                keys = {info.name: info.key_id for info in await unit.secrets.list()}
                assert keys == {**dict.fromkeys(values, first.primary), "rot-new": rotated.primary}
                assert await unit.secrets.reencrypt_all(batch_size=2) == len(values)
                assert await unit.secrets.reencrypt_all() == 0
                assert {info.key_id for info in await unit.secrets.list()} == {rotated.primary}
            # Re-encryption runs per tenant: the other tenant's rows still name the old key.
            assert (await secret_row(new_store, tenant_b, "rot-0")).key_id == first.primary
            entries = await audit_log(new_store, tenant_a)
            assert [e.details for e in entries if e.operation == "secret.reencrypt"] == [
                {"count": len(values), "keyId": rotated.primary}
            ]
        finally:
            await new_store.close()

        retired = rotated.retire(first.primary)
        final_store = await open_store(database_url, retired)
        try:
            async with final_store.unit(actor) as unit:
                assert await unit.secrets.values_for([*values, "rot-new"]) == {**values, "rot-new": "fresh"}
        finally:
            await final_store.close()

    async def test_secret_sealed_by_unknown_key_is_unavailable(
        self, database_url: str, tenant_a: str
    ) -> None:
        actor = Actor(tenant_a)
        writer = await open_store(database_url, Keyring.generate())
        try:
            async with writer.unit(actor) as unit:
                await unit.secrets.set("lost", "unreachable-value")
        finally:
            await writer.close()
        reader = await open_store(database_url, Keyring.generate())
        try:
            for attempt in ("read", "reencrypt"):
                with pytest.raises(StoreError) as caught:
                    async with reader.unit(actor) as unit:
                        if attempt == "read":
                            await unit.secrets.get_value("lost")
                        else:
                            await unit.secrets.reencrypt_all()
                assert caught.value.code == ErrorCode.SECRET_KEY_UNAVAILABLE
                assert "not configured" in caught.value.message
            failed = [
                (e.operation, e.error_code) for e in await audit_log(reader, tenant_a) if e.outcome != "ok"
            ]
            assert failed == [
                ("secret.read", "SECRET_KEY_UNAVAILABLE"),
                ("secret.reencrypt", "SECRET_KEY_UNAVAILABLE"),
            ]
        finally:
            await reader.close()
