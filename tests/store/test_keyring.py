"""Keyring unit tests: AES-GCM sealing, key ids and rotation, the operator's spec format, no key leaks."""

from __future__ import annotations

import base64

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.errors import StoreError
from tenantflow.store.identity import api_key_pepper
from tenantflow.store.secrets import Keyring, secret_aad

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))
B64_1 = base64.b64encode(KEY_1).decode()
B64_2 = base64.b64encode(KEY_2).decode()
AAD = secret_aad("tenant-a", "db.password")


def test_generate_makes_one_random_primary_key() -> None:
    first, second = Keyring.generate(), Keyring.generate()
    assert first.key_ids == (first.primary,)
    assert first.primary.startswith("k1-")
    assert first.spec() != second.spec()


def test_round_trip_uses_primary_and_fresh_nonces() -> None:
    ring = Keyring({"old": KEY_1, "new": KEY_2}, "new")
    key_id, nonce, ciphertext = ring.encrypt(b"hunter2", AAD)
    _, other_nonce, other_ciphertext = ring.encrypt(b"hunter2", AAD)
    assert key_id == "new" and len(nonce) == 12
    assert (nonce, ciphertext) != (other_nonce, other_ciphertext)
    assert b"hunter2" not in ciphertext
    assert ring.decrypt(key_id, nonce, ciphertext, AAD) == b"hunter2"


@pytest.mark.parametrize(
    "aad", [secret_aad("tenant-b", "db.password"), secret_aad("tenant-a", "db.password2"), b""]
)
def test_ciphertext_is_bound_to_its_tenant_and_name(aad: bytes) -> None:
    ring = Keyring({"k": KEY_1}, "k")
    key_id, nonce, ciphertext = ring.encrypt(b"hunter2", AAD)
    with pytest.raises(StoreError) as caught:
        ring.decrypt(key_id, nonce, ciphertext, aad)
    assert caught.value.code == ErrorCode.SECRET_KEY_UNAVAILABLE
    assert "cannot be decrypted" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_tampered_ciphertext_fails() -> None:
    ring = Keyring({"k": KEY_1}, "k")
    key_id, nonce, ciphertext = ring.encrypt(b"hunter2", AAD)
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    with pytest.raises(StoreError):
        ring.decrypt(key_id, nonce, flipped, AAD)


def test_unknown_key_id_is_unavailable() -> None:
    sealed = Keyring({"gone": KEY_1}, "gone").encrypt(b"v", AAD)
    with pytest.raises(StoreError) as caught:
        Keyring({"k": KEY_2}, "k").decrypt(*sealed, AAD)
    assert caught.value.code == ErrorCode.SECRET_KEY_UNAVAILABLE
    assert "'gone'" in caught.value.message and "not configured" in caught.value.message


def test_rotation_keeps_old_keys_for_decryption() -> None:
    ring = Keyring.generate()
    sealed = ring.encrypt(b"v", AAD)
    rotated = ring.rotate()
    assert rotated.key_ids == (ring.primary, rotated.primary)
    assert rotated.primary.startswith("k2-")
    assert rotated.decrypt(*sealed, AAD) == b"v"
    assert rotated.encrypt(b"v", AAD)[0] == rotated.primary
    retired = rotated.retire(ring.primary)
    assert retired.key_ids == (rotated.primary,)
    with pytest.raises(StoreError):
        retired.decrypt(*sealed, AAD)
    assert ring.key_ids == (ring.primary,)  # keyrings are immutable; rotation returns a new one


def test_with_key_and_retire_refuse_nonsense() -> None:
    ring = Keyring({"a": KEY_1}, "a")
    assert ring.with_key("b", KEY_2).primary == "b"
    with pytest.raises(ValueError, match="already"):
        ring.with_key("a", KEY_2)
    with pytest.raises(ValueError, match="primary"):
        ring.retire("a")
    with pytest.raises(ValueError, match="not in the keyring"):
        ring.with_key("b", KEY_2).retire("c")


def test_spec_round_trips_with_primary_last() -> None:
    ring = Keyring.from_spec(f" k1:{B64_1} , k2:{B64_2} ")
    assert (ring.key_ids, ring.primary) == (("k1", "k2"), "k2")
    assert ring.spec() == f"k1:{B64_1},k2:{B64_2}"
    primary_first = Keyring({"k2": KEY_2, "k1": KEY_1}, "k2")
    assert primary_first.spec() == f"k1:{B64_1},k2:{B64_2}"
    sealed = ring.encrypt(b"v", AAD)
    assert Keyring.from_spec(ring.spec()).decrypt(*sealed, AAD) == b"v"


def test_spec_accepts_urlsafe_base64() -> None:
    key = bytes([0xFB, 0xFF] * 16)
    urlsafe = base64.urlsafe_b64encode(key).decode()
    assert "-" in urlsafe or "_" in urlsafe
    assert Keyring.from_spec(f"k:{urlsafe}").spec() == f"k:{base64.b64encode(key).decode()}"


SHORT = base64.b64encode(b"s3cr3t-short-key").decode()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "entry 1 is not of the form"),
        (B64_1, "entry 1 is not of the form"),
        (f"k1:{B64_1},,k2:{B64_2}", "entry 2 is not of the form"),
        (f":{B64_1}", "entry 1 is not of the form"),
        (f"k1:{B64_1},k1:{B64_2}", "appears twice"),
        (f"k1:{B64_1[:-4]}!!!!", "not valid base64"),
        (f"k1:{SHORT}", "must be 32 bytes, not 16"),
        (f"bad id:{B64_1}", "key id 'bad id' must be"),
    ],
)
def test_invalid_spec_explains_without_echoing_key_material(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Keyring.from_spec(spec)
    text = str(caught.value)
    for material in (B64_1, B64_2, SHORT, B64_1[:-4], "s3cr3t"):
        assert material not in text


def test_constructor_validates_keys() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Keyring({}, "k")
    with pytest.raises(ValueError, match="primary key 'x' is not in"):
        Keyring({"k": KEY_1}, "x")


def test_repr_shows_ids_never_keys() -> None:
    ring = Keyring({"k1": KEY_1, "k2": KEY_2}, "k2")
    text = repr(ring)
    assert text == "Keyring(key_ids=['k1', 'k2'], primary='k2')"
    for material in (B64_1, B64_2, KEY_1.hex(), KEY_2.hex(), repr(KEY_1)):
        assert material not in text


def test_derived_values_are_purpose_bound_and_survive_rotation() -> None:
    ring = Keyring.generate()
    pepper = api_key_pepper(ring)
    assert len(pepper) == 32
    assert ring.derive(b"another purpose") != pepper
    assert api_key_pepper(ring.rotate().rotate()) == pepper
    assert api_key_pepper(Keyring.generate()) != pepper
