"""Tenant secrets: AES-256-GCM ciphertext at rest, plaintext only in memory.

A :class:`Keyring` holds every key that may still have encrypted something; the primary (newest) encrypts,
all of them decrypt, and each row records the id of the key that sealed it, so keys rotate without a
stop-the-world re-encryption: add a key, let :meth:`SecretRepository.reencrypt_all` move the rows over
tenant by tenant, then retire the old key.

The associated data of every ciphertext is the tenant id and the secret's name. A ciphertext copied into
another tenant's row, or under another name, therefore fails authentication instead of decrypting: a bug
or an attacker with write access to the table cannot move a secret to where someone else can read it.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import InvalidRequestError, StoreError, not_found
from tenantflow.store.models import Secret, utc_now

if TYPE_CHECKING:
    from tenantflow.store.unit import Unit

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
AAD_PREFIX = b"tenantflow/secret\0"
MAX_PAGE = 1000


class Keyring:
    """AES-256-GCM keys by id. The primary encrypts; every key decrypts what it sealed.

    Keys are kept in age order (oldest first, as in :meth:`spec`); the oldest is the root that
    :meth:`derive` uses, so derived values survive rotations.
    """

    __slots__ = ("_ciphers", "_keys", "_primary")

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key_id, key in keys.items():
            if not KEY_ID.match(key_id):
                raise ValueError(f"key id {key_id!r} must be 1-64 characters of A-Z, a-z, 0-9, '_', '.', '-'")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if primary not in keys:
            raise ValueError(f"primary key {primary!r} is not in the keyring")
        self._keys = dict(keys)
        self._primary = primary
        self._ciphers = {key_id: AESGCM(key) for key_id, key in self._keys.items()}

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring of one fresh random key: for tests and first-time setup (print :meth:`spec`)."""
        key_id = _new_key_id(1)
        return cls({key_id: AESGCM.generate_key(bit_length=KEY_BYTES * 8)}, key_id)

    @classmethod
    def from_spec(cls, spec: str) -> Keyring:
        """Parse ``id1:base64key,id2:base64key`` (the ``TENANTFLOW_SECRET_KEYS`` form); the last is primary.

        Error messages name entries by position and id, never by their key material.
        """
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(spec.split(","), start=1):
            key_id, colon, encoded = entry.strip().partition(":")
            key_id = key_id.strip()
            if not colon or not key_id:
                raise ValueError(f"secret key entry {position} is not of the form <id>:<base64 key>")
            if key_id in keys:
                raise ValueError(f"secret key id {key_id!r} appears twice")
            try:
                keys[key_id] = base64.b64decode(encoded.strip(), altchars=b"-_", validate=True)
            except binascii.Error:
                raise ValueError(f"secret key {key_id!r} (entry {position}) is not valid base64") from None
        return cls(keys, key_id)

    @property
    def primary(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Oldest first."""
        return tuple(self._keys)

    def spec(self) -> str:
        """The ``from_spec`` form of this keyring, primary last: for an operator to store, never to log."""
        order = [key_id for key_id in self._keys if key_id != self._primary] + [self._primary]
        return ",".join(f"{key_id}:{base64.b64encode(self._keys[key_id]).decode()}" for key_id in order)

    def with_key(self, key_id: str, key: bytes) -> Keyring:
        """A new keyring with ``key`` added as the primary; the old keys still decrypt."""
        if key_id in self._keys:
            raise ValueError(f"key id {key_id!r} is already in the keyring")
        return Keyring({**self._keys, key_id: key}, key_id)

    def rotate(self) -> Keyring:
        """A new keyring whose primary is a fresh random key."""
        key_id = _new_key_id(len(self._keys) + 1)
        return self.with_key(key_id, AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def retire(self, key_id: str) -> Keyring:
        """A new keyring without ``key_id``: once no row names it (after ``reencrypt_all`` everywhere)."""
        if key_id == self._primary:
            raise ValueError("the primary key cannot be retired; rotate first")
        if key_id not in self._keys:
            raise ValueError(f"key id {key_id!r} is not in the keyring")
        return Keyring({k: v for k, v in self._keys.items() if k != key_id}, self._primary)

    def derive(self, info: bytes, length: int = 32) -> bytes:
        """HKDF-SHA256 of the root (oldest) key for purpose ``info``: stable across rotations."""
        root = next(iter(self._keys.values()))
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(root)

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes, bytes]:
        """Seal with the primary key under a fresh random nonce: ``(key_id, nonce, ciphertext)``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return self._primary, nonce, self._ciphers[self._primary].encrypt(nonce, plaintext, aad)

    def decrypt(self, key_id: str, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise StoreError(
                ErrorCode.SECRET_KEY_UNAVAILABLE, f"secret key {key_id!r} is not configured on this server"
            )
        try:
            return cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise StoreError(
                ErrorCode.SECRET_KEY_UNAVAILABLE,
                f"the secret cannot be decrypted with key {key_id!r} (tampered, moved or wrong key)",
            ) from None

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self._keys)!r}, primary={self._primary!r})"


def _new_key_id(generation: int) -> str:
    return f"k{generation}-{secrets.token_hex(4)}"


def secret_aad(tenant_id: str, name: str) -> bytes:
    """What binds a ciphertext to its tenant and name (neither can contain NUL)."""
    return AAD_PREFIX + tenant_id.encode() + b"\0" + name.encode()


def check_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE,
            "secret names are 1-255 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
            path="$.name",
        )
    return name


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A secret's metadata. There is deliberately no field for its value."""

    name: str
    key_id: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keyId": self.key_id,
            "description": self.description,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "createdBy": self.created_by,
        }


_INFO_COLUMNS = (
    Secret.name,
    Secret.key_id,
    Secret.description,
    Secret.created_at,
    Secret.updated_at,
    Secret.created_by,
)


class SecretRepository:
    """The unit's tenant's secrets.

    Reads of values are audited (reading a secret is a sensitive act), so they need a writable unit.
    """

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def _unseal(self, operation: str, name: str, key_id: str, nonce: bytes, ciphertext: bytes) -> bytes:
        """Decrypt one row's value; a failure is audited against ``operation`` before it propagates."""
        try:
            return self.unit.store.keyring.decrypt(
                key_id, nonce, ciphertext, secret_aad(self.unit.tenant_id, name)
            )
        except StoreError as error:
            self.unit.audit.failed(operation, "secret", name, error)
            raise

    async def set(self, name: str, value: str, *, description: str | None = None) -> SecretInfo:
        """Create or replace ``name``. One ``INSERT .. ON CONFLICT DO UPDATE``, so racing writers cannot
        both insert; the name and creator of an existing secret stay, its value and description change."""
        check_name(name)
        key_id, nonce, ciphertext = self.unit.store.keyring.encrypt(
            value.encode(), secret_aad(self.unit.tenant_id, name)
        )
        now = utc_now()
        insert = postgresql.insert if self.unit.store.database.dialect == "postgresql" else sqlite.insert
        statement = insert(Secret)
        upsert = statement.on_conflict_do_update(
            index_elements=[Secret.tenant_id, Secret.name],
            set_={
                "key_id": statement.excluded.key_id,
                "nonce": statement.excluded.nonce,
                "ciphertext": statement.excluded.ciphertext,
                "description": statement.excluded.description,
                "updated_at": statement.excluded.updated_at,
            },
        ).returning(*_INFO_COLUMNS)
        row = (
            await self.unit.session.execute(
                upsert,
                [
                    {
                        "tenant_id": self.unit.tenant_id,
                        "name": name,
                        "key_id": key_id,
                        "nonce": nonce,
                        "ciphertext": ciphertext,
                        "description": description,
                        "created_by": self.unit.actor.user_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
        ).one()
        info = SecretInfo(*row)
        # created_at is only written by the INSERT branch, so it equals ``now`` exactly when the row is new.
        self.unit.audit.ok("secret.set", "secret", name, {"created": info.created_at == now})
        return info

    async def get_value(self, name: str) -> str:
        """The plaintext of ``name``; it exists only in memory and is never cached."""
        return (await self._read([name]))[name]

    async def values_for(self, names: Iterable[str]) -> dict[str, str]:
        """Plaintexts of ``names`` in one query: what an execution's ``secrets`` context is built from."""
        return await self._read(names)

    async def _read(self, names: Iterable[str]) -> dict[str, str]:
        wanted = sorted({check_name(name) for name in names})
        if not wanted:
            return {}
        rows = await self.unit.session.execute(
            select(Secret.name, Secret.key_id, Secret.nonce, Secret.ciphertext).where(Secret.name.in_(wanted))
        )
        values: dict[str, str] = {}
        for name, key_id, nonce, ciphertext in rows:
            values[name] = self._unseal("secret.read", name, key_id, nonce, ciphertext).decode()
        missing = [name for name in wanted if name not in values]
        if missing:
            absent = not_found(ErrorCode.SECRET_NOT_FOUND, "secret", missing[0])
            absent.details["missing"] = missing
            for name in missing:
                self.unit.audit.failed("secret.read", "secret", name, absent)
            raise absent
        for name in wanted:
            self.unit.audit.read("secret.read", "secret", name)
        return values

    async def list(self, *, limit: int = 100, after: str | None = None) -> list[SecretInfo]:
        """Metadata by name; ``after`` is the last name of the previous page. Never loads a ciphertext."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequestError(
                ErrorCode.INVALID_PAGINATION, f"limit must be between 1 and {MAX_PAGE}", path="$.limit"
            )
        query = select(*_INFO_COLUMNS).order_by(Secret.name).limit(limit)
        if after is not None:
            query = query.where(Secret.name > after)
        return [SecretInfo(*row) for row in await self.unit.session.execute(query)]

    async def delete(self, name: str) -> None:
        check_name(name)
        result = await self.unit.session.execute(
            delete(Secret).where(Secret.name == name).returning(Secret.id)
        )
        if result.first() is None:
            error = not_found(ErrorCode.SECRET_NOT_FOUND, "secret", name)
            self.unit.audit.failed("secret.delete", "secret", name, error)
            raise error
        self.unit.audit.ok("secret.delete", "secret", name)

    async def reencrypt_all(self, *, batch_size: int = 500) -> int:
        """Re-seal this tenant's secrets that another key sealed with the primary; returns how many.

        Batches bound memory, not the transaction: the unit commits all of them or none. Values and
        ``updated_at`` do not change; only the key, nonce and ciphertext do.
        """
        if batch_size < 1:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "batch_size must be positive", path="$.batchSize"
            )
        keyring = self.unit.store.keyring
        moved = 0
        while True:
            rows = (
                await self.unit.session.execute(
                    select(Secret.id, Secret.name, Secret.key_id, Secret.nonce, Secret.ciphertext)
                    .where(Secret.key_id != keyring.primary)
                    .order_by(Secret.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                break
            for ident, name, key_id, nonce, ciphertext in rows:
                plaintext = self._unseal("secret.reencrypt", name, key_id, nonce, ciphertext)
                new_key, new_nonce, new_ciphertext = keyring.encrypt(
                    plaintext, secret_aad(self.unit.tenant_id, name)
                )
                await self.unit.session.execute(
                    update(Secret)
                    .where(Secret.id == ident)
                    .values(key_id=new_key, nonce=new_nonce, ciphertext=new_ciphertext)
                )
            moved += len(rows)
        if moved:
            self.unit.audit.ok("secret.reencrypt", "secret", None, {"count": moved, "keyId": keyring.primary})
        return moved
