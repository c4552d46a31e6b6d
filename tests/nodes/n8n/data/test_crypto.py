"""Crypto v1 and v2: n8n's expected values (RSA-MD5 sign, MD5 hash and HMAC), binary input, generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.nodes.n8n.data.crypto import Crypto
from tenantflow.nodes.n8n.data.crypto.rsa import sign
from tests.nodes.harness import run_node, run_with_items

CRYPTO = "n8n-nodes-base.crypto"
FIXTURE = Path(__file__).resolve().parents[5] / "shared" / "n8n-conformance" / "Crypto" / "v1"


def _fixture_node(name: str) -> tuple[dict[str, Any], list[Any]]:
    document = json.loads((FIXTURE / "CryptoTest.workflow.json").read_text())
    node = next(n for n in document["nodes"] if n["name"] == name)
    return node["parameters"], [item["json"] for item in document["pinData"][name]]


PEM = _fixture_node("Crypto Sign data with RSA-MD5")[0]["privateKey"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name",
    [
        "Crypto Hash into Hex",
        "Crypto Hash into MD5",
        "Crypto Sign data with RSA-MD5",
        "Crypto Hmac data with MD5",
    ],
)
async def test_n8n_fixture_nodes(name: str) -> None:
    """The fixture's text nodes, run one by one (the file itself also needs readBinaryFiles)."""
    parameters, expected = _fixture_node(name)
    assert (await run_node(CRYPTO, parameters, [{}])).json() == [expected]


@pytest.mark.anyio
async def test_binary_hash_and_hmac_match_the_fixture() -> None:
    item = {
        "json": {},
        "binary": {"data": {"data": base64.b64encode(b"test").decode(), "mimeType": "text/plain"}},
    }
    for name in ("Crypto Hash Binary Data", "Crypto Hmac Binary Data"):
        parameters, expected = _fixture_node(name)
        out = await run_with_items(CRYPTO, parameters, [[item]])
        assert [i["json"] for i in out[0]] == expected
        assert out[0][0]["binary"] == item["binary"]


@pytest.mark.anyio
async def test_missing_binary_property_is_an_error() -> None:
    with pytest.raises(NodeError, match="binary file 'data'"):
        await run_with_items(CRYPTO, {"binaryData": True}, [[{"json": {}}]])


@pytest.mark.anyio
async def test_sha_family_hmac_and_dotted_output() -> None:
    run = await run_node(
        CRYPTO,
        {
            "action": "hmac",
            "type": "SHA256",
            "value": "={{ $json.msg }}",
            "secret": "k",
            "dataPropertyName": "a.b",
        },
        [{"msg": "hello"}],
    )
    assert run.json()[0] == [{"msg": "hello", "a": {"b": hmac.new(b"k", b"hello", "sha256").hexdigest()}}]
    sha3 = await run_node(CRYPTO, {"type": "SHA3-512", "value": "x", "encoding": "base64"}, [{}])
    assert sha3.json()[0] == [{"data": base64.b64encode(hashlib.sha3_512(b"x").digest()).decode()}]


def test_sign_pkcs8_matches_pkcs1() -> None:
    der = base64.b64decode("".join(PEM.splitlines()[1:-1]))
    rsa_oid = bytes.fromhex("300d06092a864886f70d0101010500")
    octet = b"\x04" + _der_length(len(der)) + der
    body = bytes.fromhex("020100") + rsa_oid + octet
    pkcs8 = b"\x30" + _der_length(len(body)) + body
    pem8 = "-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(pkcs8).decode() + "-----END PRIVATE KEY-----"
    assert sign(b"msg", "RSA-SHA256", pem8) == sign(b"msg", "sha256", PEM)


def _der_length(n: int) -> bytes:
    return bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82]) + n.to_bytes(2, "big")


def test_sign_rejects_bad_keys_and_algorithms() -> None:
    with pytest.raises(NodeError, match="Invalid private key"):
        sign(b"m", "RSA-SHA256", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")
    with pytest.raises(NodeError, match="Unsupported"):
        sign(b"m", "RSA-WHIRLPOOL", PEM)


@pytest.mark.anyio
async def test_generate_values() -> None:
    run = await run_node(CRYPTO, {"action": "generate"}, [{}, {}])
    uuids = [row["data"] for row in run.json()[0]]
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", u) for u in uuids
    )
    assert uuids[0] != uuids[1]
    for kind, pattern in (("hex", r"[0-9a-f]{10}"), ("base64", r"\w{1,10}"), ("ascii", r"[\x00-\x7f]{10}")):
        out = await run_node(CRYPTO, {"action": "generate", "encodingType": kind, "stringLength": 10}, [{}])
        assert re.fullmatch(pattern, out.json()[0][0]["data"]), kind


@pytest.mark.anyio
async def test_version_2_defaults_to_sha256_and_drops_the_hashed_binary() -> None:
    binary = {"data": {"data": base64.b64encode(b"test").decode(), "mimeType": "text/plain"}}
    text = await run_node(CRYPTO, {"value": "x"}, [{}], version=2)
    assert text.json()[0] == [{"data": hashlib.sha256(b"x").hexdigest()}]
    hashed = await run_with_items(CRYPTO, {"binaryData": True}, [[{"json": {}, "binary": binary}]], version=2)
    assert hashed[0] == [{"json": {"data": hashlib.sha256(b"test").hexdigest()}, "pairedItem": {"item": 0}}]
    kept = await run_with_items(CRYPTO, {"value": "x"}, [[{"json": {}, "binary": binary}]], version=2)
    assert kept[0][0]["binary"] == binary


@pytest.mark.anyio
@pytest.mark.parametrize("action", ["hmac", "sign"])
async def test_version_2_needs_credentials_for_hmac_and_sign(action: str) -> None:
    run = await run_node(CRYPTO, {"action": action, "value": "x", "secret": "k"}, [{}], version=2)
    assert "credentials" in run.error["message"]


def test_schema() -> None:
    assert Crypto.versions == (1, 2)
    schema = jsonschema_rs.validator_for(dict(Crypto().schema_for(1)))
    assert not schema.is_valid({"type": "SHA999"})
    assert not schema.is_valid({"action": "generate", "stringLength": -1})
    assert schema.is_valid({"action": "generate", "stringLength": "={{ 5 }}", "extra": True})


@pytest.mark.anyio
@pytest.mark.parametrize("algorithm", ["ripemd160", "ripemd"])
async def test_sign_with_ripemd160_as_n8n_did(algorithm: str) -> None:
    """n8n's regression workflow 97 signs "n8n" with RSA-RIPEMD160 (and its alias ``ripemd``)."""
    workflow = Path(__file__).resolve().parents[5] / "shared" / "n8n-test-workflows" / "workflows" / "97.json"
    snapshot = workflow.parents[1] / "snapshots" / "97-snapshot.json"
    node = next(n for n in json.loads(workflow.read_text())["nodes"] if n["name"] == "Crypto12")
    recorded = json.loads(snapshot.read_text())["data"]["resultData"]["runData"]["Crypto12"]
    expected = recorded[0]["data"]["main"][0][0]["json"]["data"]
    parameters = {**node["parameters"], "algorithm": algorithm}
    assert (await run_node(CRYPTO, parameters, [{}])).json()[0] == [{"data": expected}]
