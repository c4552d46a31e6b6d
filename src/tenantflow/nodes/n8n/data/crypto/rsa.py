"""RSASSA-PKCS1-v1_5 signing from a PEM private key, as n8n's Crypto node does with Node's ``createSign``.

The signature itself is the ``cryptography`` package's: a well-kept library, not hand-written RSA.
"""

from __future__ import annotations

from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError

# hashlib's names to the names of cryptography's hash classes; cryptography itself loads when a node signs.
_HASHES: dict[str, str] = {
    "md5": "MD5",
    "sha1": "SHA1",
    "sha224": "SHA224",
    "sha256": "SHA256",
    "sha384": "SHA384",
    "sha512": "SHA512",
    "sha3_256": "SHA3_256",
    "sha3_384": "SHA3_384",
    "sha3_512": "SHA3_512",
}


def hash_name(algorithm: str) -> str:
    """hashlib's name for a Node algorithm name: ``RSA-SHA256``, ``sha256``, ``SHA3-256``, ``ripemd`` ..."""
    name = algorithm.strip().lower().removeprefix("rsa-").replace("-", "_")
    if name in ("ripemd", "rmd160"):  # OpenSSL's (and so Node's) aliases
        return "ripemd160"
    return "sha3_" + name[5:] if name.startswith("sha3_") else name.replace("_", "")


def _digest_class(name: str) -> type[Any] | None:
    """cryptography's hash class for a hashlib name. RIPEMD-160 has none, but cryptography hands a hash to
    OpenSSL by its name, and OpenSSL signs with it as Node does (n8n's own regression workflow 97 checks)."""
    from cryptography.hazmat.primitives import hashes

    if name == "ripemd160":

        class RIPEMD160(hashes.HashAlgorithm):
            name = "ripemd160"
            digest_size = 20
            block_size = 64

        return RIPEMD160
    digest_name = _HASHES.get(name)
    return None if digest_name is None else getattr(hashes, digest_name)


def sign(message: bytes, algorithm: str, pem: str) -> bytes:
    """The PKCS#1 v1.5 signature of ``message`` with hash ``algorithm`` under the PEM private key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    digest = _digest_class(hash_name(algorithm))
    if digest is None:
        raise NodeError(f"Unsupported signing algorithm '{algorithm}'", code=ErrorCode.INVALID_PARAMETER)
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _key_error() from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _key_error()
    try:
        return key.sign(message, padding.PKCS1v15(), digest())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise NodeError(f"Cannot sign with this key: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc


def _key_error() -> NodeError:
    return NodeError(
        "Invalid private key",
        code=ErrorCode.INVALID_PARAMETER,
        description="Expected an unencrypted PEM RSA key (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)",
    )
