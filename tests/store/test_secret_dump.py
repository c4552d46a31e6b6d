"""No secret plaintext in a dump of the database: the issue's acceptance test, on both backends.

Distinctive values go through every path that touches a plaintext (create, replace, read, bulk read,
delete, a failed decryption that is audited), then the whole database is dumped and searched for each
value as UTF-8, JSON-escaped (SQLite's JSON columns), base64 and hex (how a bytea or BLOB would show it).
The dump must contain the secret names, which proves it is real and complete.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from tenantflow.store.audit import Actor
from tenantflow.store.errors import StoreError
from tenantflow.store.migrate import upgrade
from tenantflow.store.models import Secret
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.unit import Store
from tests.store.conftest import new_tenant, open_store

pytestmark = pytest.mark.anyio


def forms(value: str) -> list[bytes]:
    """Every way a leaked value could be spelled in a dump: as text, inside JSON, base64 and hex."""
    raw = value.encode()
    return [
        raw,
        json.dumps(value)[1:-1].encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        raw.hex().encode(),
        raw.hex().upper().encode(),
    ]


async def use_secrets(store: Store) -> tuple[list[str], list[str]]:
    """Exercise every plaintext path; returns ``(names, values)`` to look for in the dump."""
    tenant = await new_tenant(store, "dump")
    other = await new_tenant(store, "dump")
    tag = uuid.uuid4().hex
    names = [f"dump-{tag}-{index}" for index in range(4)]
    values = [f"PLAINTEXT-{tag}-{index}-ünïcödé" for index in range(6)]
    actor = Actor(tenant, user_id="dumper")
    async with store.unit(actor) as unit:
        await unit.secrets.set(names[0], values[0], description="db password")
        await unit.secrets.set(names[1], values[1])
        await unit.secrets.set(names[2], values[2])
        await unit.secrets.set(names[3], values[3])
    async with store.unit(actor) as unit:
        await unit.secrets.set(names[0], values[4])  # replaced: the old value must be gone too
        assert await unit.secrets.get_value(names[0]) == values[4]
        assert await unit.secrets.values_for(names[1:3]) == {names[1]: values[1], names[2]: values[2]}
        await unit.secrets.delete(names[3])
    async with store.unit(Actor(other)) as unit:
        await unit.secrets.set(names[1], values[5])
    # A ciphertext moved between tenants fails to decrypt, and the failure is audited.
    async with store.database.transaction(SYSTEM) as session:
        moved = await session.scalar(select(Secret).where(Secret.tenant_id == other))
        assert moved is not None
        await session.execute(
            update(Secret)
            .where(Secret.tenant_id == tenant, Secret.name == names[1])
            .values(nonce=moved.nonce, ciphertext=moved.ciphertext)
        )
    with pytest.raises(StoreError):
        async with store.unit(actor) as unit:
            await unit.secrets.get_value(names[1])
    return names[:3], values


def assert_clean(dump: bytes, names: list[str], values: list[str]) -> None:
    for name in names:
        assert name.encode() in dump, f"the dump lacks secret {name!r}: it is not a full dump"
    for value in values:
        for form in forms(value):
            assert form not in dump, f"secret plaintext {value!r} appears in the dump as {form[:40]!r}"


async def test_no_secret_plaintext_in_sqlite_dump(tmp_path: Path, keyring: Keyring) -> None:
    path = tmp_path / "dump.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}", keyring)
    try:
        await upgrade(store.database)
        names, values = await use_secrets(store)
        # While the store is open, so the write-ahead log has not been folded into the file yet.
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        with sqlite3.connect(path) as connection:
            statements = "\n".join(connection.iterdump()).encode()
    finally:
        await store.close()
    assert_clean(statements, names, values)
    assert_clean(raw, names, values)


async def test_no_secret_plaintext_in_postgres_dump(postgres_url: str, keyring: Keyring) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is not on PATH; the dump test cannot run", pytrace=False)
    store = await open_store(postgres_url, keyring)
    try:
        names, values = await use_secrets(store)
    finally:
        await store.close()
    url = make_url(postgres_url)
    libpq = url.set(drivername=url.drivername.split("+")[0]).render_as_string(hide_password=False)
    dump = subprocess.run(
        [pg_dump, "--data-only", "--no-owner", "--dbname", libpq],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert b"COPY public.secrets" in dump
    assert_clean(dump, names, values)
