"""Ed25519 keys in barto's format, without cryptography: base64 (standard, padded) of the
32-byte seed and of the 32-byte public key; a key's fingerprint is the first 8 bytes of
SHA-256(public key) in hex. (Apart from signing.py so that a worker or a config check that does
not sign loads no cryptography: it is a fifth of bartoc's start-up.)

barto's ``signing_key`` (bartos) and ``server_public_key`` (bartoc) keep this format, so keys
made for barto work here and keys made by ``barto-cli keygen`` work there.
"""

from __future__ import annotations

import base64
import hashlib
import os

from barto.errors import Forbidden, Invalid

SEED_BYTES = 32


class InvalidKey(Invalid, ValueError):
    """A key that is not base64 of 32 bytes."""

    code = "bad_key"


def new_seed() -> bytes:
    """A fresh private key seed from the operating system's random source."""
    return os.urandom(SEED_BYTES)


def fingerprint(public: bytes) -> str:
    """barto's key fingerprint: 16 hex digits, logged at start-up on both sides."""
    return hashlib.sha256(public).digest()[:8].hex()


def encode_key(raw: bytes) -> str:
    """A key as barto writes it."""
    return base64.b64encode(raw).decode()


def decode_key(text: str) -> bytes:
    """A key as barto writes it, back to 32 bytes.

    Raises:
        InvalidKey: when it is not valid base64 of exactly 32 bytes.
    """
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise InvalidKey("not valid base64") from None
    if len(raw) != SEED_BYTES:
        raise InvalidKey(f"{len(raw)} bytes, an Ed25519 key has {SEED_BYTES}")
    return raw


class Rejected(Forbidden):
    """A sealed frame that must not be acted on; the message says why. (Raised by signing.py's
    Verifier; defined here so that code which handles it need not load cryptography.)"""
