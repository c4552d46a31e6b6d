"""RSASSA-PKCS1-v1_5 signing from a PEM private key, in the standard library only.

n8n's Crypto node signs with Node's ``createSign(algorithm).sign(pem)``; no RSA library is among this
project's dependencies, so the few steps it needs are written out here: read the PEM (PKCS#1 ``RSA
PRIVATE KEY`` or unencrypted PKCS#8 ``PRIVATE KEY``), build the EMSA-PKCS1-v1_5 block (RFC 8017 §9.2) and
apply the private exponent with the CRT parameters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from tenantflow.engine.errors import ErrorCode, NodeError

_DIGEST_INFO = {
    "md5": "3020300c06082a864886f70d020505000410",
    "sha1": "3021300906052b0e03021a05000414",
    "sha224": "302d300d06096086480165030402040500041c",
    "sha256": "3031300d060960864801650304020105000420",
    "sha384": "3041300d060960864801650304020205000430",
    "sha512": "3051300d060960864801650304020305000440",
    "sha3_256": "3031300d060960864801650304020805000420",
    "sha3_384": "3041300d060960864801650304020905000430",
    "sha3_512": "3051300d060960864801650304020a05000440",
}
_PEM = re.compile(r"-----BEGIN (RSA )?PRIVATE KEY-----(.*?)-----END \1?PRIVATE KEY-----", re.S)
_RSA_OID = bytes.fromhex("2a864886f70d010101")


def hash_name(algorithm: str) -> str:
    """hashlib's name for a Node algorithm name: ``RSA-SHA256``, ``sha256``, ``SHA3-256`` ..."""
    name = algorithm.strip().lower().removeprefix("rsa-").replace("-", "_")
    return "sha3_" + name[5:] if name.startswith("sha3_") else name.replace("_", "")


def sign(message: bytes, algorithm: str, pem: str) -> bytes:
    """The PKCS#1 v1.5 signature of ``message`` with hash ``algorithm`` under the PEM private key."""
    digest_name = hash_name(algorithm)
    if digest_name not in _DIGEST_INFO:
        raise NodeError(f"Unsupported signing algorithm '{algorithm}'", code=ErrorCode.INVALID_PARAMETER)
    n, e, d, p, q = _private_key(pem)
    size = (n.bit_length() + 7) // 8
    digest_info = bytes.fromhex(_DIGEST_INFO[digest_name]) + hashlib.new(digest_name, message).digest()
    if size < len(digest_info) + 11:
        raise NodeError("The RSA key is too short for this algorithm", code=ErrorCode.INVALID_PARAMETER)
    block = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    message_int = int.from_bytes(block, "big")
    signature = _private_op(message_int, n, d, p, q)
    if pow(signature, e, n) != message_int:  # a corrupt key (or a fault) must not leak a bad signature
        raise _key_error()
    return signature.to_bytes(size, "big")


def _private_op(m: int, n: int, d: int, p: int, q: int) -> int:
    """``m^d mod n`` through the Chinese remainder theorem."""
    m1, m2 = pow(m, d % (p - 1), p), pow(m, d % (q - 1), q)
    return (m2 + q * ((m1 - m2) * pow(q, -1, p) % p)) % n


def _key_error() -> NodeError:
    return NodeError(
        "Invalid private key",
        code=ErrorCode.INVALID_PARAMETER,
        description="Expected an unencrypted PEM RSA key (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)",
    )


def _private_key(pem: str) -> tuple[int, int, int, int, int]:
    """(n, e, d, p, q) of a PKCS#1 or PKCS#8 RSA key."""
    match = _PEM.search(pem)
    if match is None:
        raise _key_error()
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
        fields = _sequence(der)
        if not match.group(1):  # PKCS#8: version, algorithm, OCTET STRING holding the PKCS#1 key
            if _RSA_OID not in fields[1]:
                raise ValueError("not an RSA key")
            fields = _sequence(_read(fields[2], 0x04))
        n, e, d, p, q = (int.from_bytes(_read(f, 0x02), "big") for f in fields[1:6])
    except (ValueError, IndexError, binascii.Error) as exc:
        raise _key_error() from exc
    return n, e, d, p, q


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``offset``."""
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _read(element: bytes, tag: int) -> bytes:
    found, start, end = _tlv(element, 0)
    if found != tag:
        raise ValueError(f"expected DER tag {tag:#x}, got {found:#x}")
    return element[start:end]


def _sequence(der: bytes) -> list[bytes]:
    """The elements (whole TLVs) of the DER SEQUENCE ``der``."""
    content = _read(der, 0x30)
    elements: list[bytes] = []
    offset = 0
    while offset < len(content):
        _tag, _start, end = _tlv(content, offset)
        elements.append(content[offset:end])
        offset = end
    return elements
