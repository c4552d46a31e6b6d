"""The Crypto node (typeVersions 1 and 2): hash, HMAC, RSA sign and random value generation.

Each item gets the result at ``dataPropertyName`` (a lodash path). Hash and HMAC read either the ``value``
text (UTF-8) or, with ``binaryData``, the bytes of a binary property, as n8n's node does.

Version 2 keeps the parameters but moves the HMAC secret and the signing key into ``crypto`` credentials,
hashes with SHA256 unless told otherwise, and drops the binary it hashed from the output item.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
import secrets
import uuid
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, first_input, object_schema, one_of, or_expression
from tenantflow.nodes.n8n.data.crypto.rsa import hash_name, sign
from tenantflow.nodes.n8n.data.set import set_path

_HASH_TYPES = ("MD5", "SHA256", "SHA3-256", "SHA3-384", "SHA3-512", "SHA384", "SHA512", "SHA1")

_SCHEMA = object_schema(
    {
        "action": one_of("hash", "hmac", "sign", "generate"),
        "type": one_of(*_HASH_TYPES),
        "value": {"type": ["string", "number", "boolean"]},
        "dataPropertyName": STRING,
        "encoding": one_of("hex", "base64"),
        "binaryData": BOOLEAN,
        "binaryPropertyName": STRING,
        "secret": STRING,
        "algorithm": STRING,
        "privateKey": STRING,
        "encodingType": one_of("uuid", "hex", "base64", "ascii"),
        "stringLength": or_expression({"type": "integer", "minimum": 0}),
    }
)
_NON_WORD = re.compile(r"\W", re.ASCII)


class Crypto(NodeType):
    """Hashes, signs or generates values per item."""

    cpu_only = True
    type = "n8n-nodes-base.crypto"
    versions = (1, 2)
    display_name = "Crypto"
    description = "Provide cryptographic utilities: hash, HMAC, sign and random values."
    aliases = ("crypto",)
    parameters_schema = _SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        if ctx.node.type_version >= 2 and ctx.param("action", 0, "hash") in ("hmac", "sign"):
            raise NodeError(
                "Crypto typeVersion 2 takes its HMAC secret and private key from 'crypto' credentials, "
                "which are not available yet",
                code=ErrorCode.INVALID_PARAMETER,
            )
        return [[_process(ctx, item, index) for index, item in enumerate(first_input(inputs))]]


def _process(ctx: NodeContext, item: Item, index: int) -> Item:
    action = ctx.param("action", index, "hash")
    if action in ("hash", "hmac"):
        result = _digest(ctx, item, index, action)
    elif action == "sign":
        result = _sign(ctx, index)
    elif action == "generate":
        result = _generate(ctx, index)
    else:
        raise NodeError(f"Unknown action {action!r}", code=ErrorCode.INVALID_PARAMETER)
    out: Item = {"json": copy.deepcopy(item.get("json", {})), "pairedItem": {"item": index}}
    hashed_binary = action in ("hash", "hmac") and ctx.param("binaryData", index, False)
    if "binary" in item and not (hashed_binary and ctx.node.type_version >= 2):
        out["binary"] = item["binary"]
    set_path(out["json"], str(ctx.param("dataPropertyName", index, "data")), result)
    return out


def _encode(raw: bytes, encoding: Any) -> str:
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    if encoding == "hex":
        return raw.hex()
    raise NodeError(f"Unknown encoding {encoding!r}", code=ErrorCode.INVALID_PARAMETER)


def _input_bytes(ctx: NodeContext, item: Item, index: int) -> bytes:
    if not ctx.param("binaryData", index, False):
        return str(ctx.param("value", index, "")).encode("utf-8")
    name = str(ctx.param("binaryPropertyName", index, "data"))
    binary = (item.get("binary") or {}).get(name)
    if not isinstance(binary, dict) or not isinstance(binary.get("data"), str):
        raise NodeError(
            f"This operation expects the node's input data to contain a binary file '{name}', "
            "but none was found",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return base64.b64decode(binary["data"])


def _digest(ctx: NodeContext, item: Item, index: int, action: str) -> str:
    algorithm = hash_name(str(ctx.param("type", index, "MD5" if ctx.node.type_version < 2 else "SHA256")))
    if algorithm not in hashlib.algorithms_available:
        raise NodeError(f"Unsupported hash type {algorithm!r}", code=ErrorCode.INVALID_PARAMETER)
    data = _input_bytes(ctx, item, index)
    if action == "hmac":
        key = str(ctx.param("secret", index, "")).encode("utf-8")
        raw = hmac.new(key, data, algorithm).digest()
    else:
        raw = hashlib.new(algorithm, data).digest()
    return _encode(raw, ctx.param("encoding", index, "hex"))


def _sign(ctx: NodeContext, index: int) -> str:
    message = str(ctx.param("value", index, "")).encode("utf-8")
    signature = sign(
        message, str(ctx.param("algorithm", index, "RSA-SHA256")), str(ctx.param("privateKey", index, ""))
    )
    return _encode(signature, ctx.param("encoding", index, "hex"))


def _generate(ctx: NodeContext, index: int) -> str:
    kind = ctx.param("encodingType", index, "uuid")
    if kind == "uuid":
        return str(uuid.uuid4())
    length = _length(ctx.param("stringLength", index, 32))
    raw = secrets.token_bytes(length)
    if kind == "hex":
        return raw.hex()[:length]
    if kind == "base64":
        return _NON_WORD.sub("", base64.b64encode(raw).decode("ascii"))[:length]
    if kind == "ascii":
        return bytes(b & 0x7F for b in raw).decode("ascii")  # Node's 'ascii' decoding drops the high bit
    raise NodeError(f"Unknown type {kind!r}", code=ErrorCode.INVALID_PARAMETER)


def _length(value: Any) -> int:
    try:
        length = int(value)
    except (TypeError, ValueError) as exc:
        raise NodeError("Length must be a whole number", code=ErrorCode.INVALID_PARAMETER) from exc
    if length < 0 or length > 1_000_000:
        raise NodeError("Length must be between 0 and 1,000,000", code=ErrorCode.INVALID_PARAMETER)
    return length


NODE_TYPES: list[type[NodeType]] = [Crypto]
