"""Ed25519 keys in barto's format: base64 (standard, padded) of the 32-byte seed and of the
32-byte public key; a key's fingerprint is the first 8 bytes of SHA-256(public key) in hex.

barto's ``signing_key`` (bartos) and ``server_public_key`` (bartoc) keep this format, so keys
made for barto work here and keys made by ``barto-cli keygen`` work there.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_BYTES = 32


class InvalidKey(ValueError):
    """A key that is not base64 of 32 bytes."""


def new_seed() -> bytes:
    """A fresh private key seed from the operating system's random source."""
    return os.urandom(SEED_BYTES)


def public_key(seed: bytes) -> bytes:
    """The raw 32-byte public key of ``seed``."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


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


# -- signed frames -------------------------------------------------------------------------
#
# With ``signing_key`` every server -> worker frame travels as
#
#     #sig <base64 signature> <unix time, 6 decimals> <nonce, 32 hex>\n<frame>
#
# and the Ed25519 signature covers everything after "#sig <signature> ": time, nonce and the
# frame itself. The worker checks the signature, that the time is within its replay window and
# that it has not seen the nonce within that window (barto's rules, kept: reference 2.6).

_MARK = "#sig "


class Rejected(Exception):
    """A frame that must not be acted on; the message says why."""


class Signer:
    """The server's side: seals frames."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.fingerprint = fingerprint(public_key(seed))

    def seal(self, frame: str, now: float) -> str:
        """``frame`` signed, stamped ``now`` and with a fresh nonce."""
        signed = f"{now:.6f} {os.urandom(16).hex()}\n{frame}"
        return f"{_MARK}{encode_key(self._key.sign(signed.encode()))} {signed}"


class Verifier:
    """The worker's side: opens sealed frames, refusing forged, stale and replayed ones."""

    def __init__(self, public: bytes, window: float) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(public)
        self._window = window
        self._seen: dict[str, float] = {}  # nonce -> its time, kept for the window
        self.fingerprint = fingerprint(public)

    def open(self, wire: str, now: float) -> str:
        """The frame inside ``wire``.

        Raises:
            Rejected: unsigned, badly signed, outside the replay window, or replayed.
        """
        if not wire.startswith(_MARK):
            raise Rejected("unsigned frame")
        signature, _, signed = wire[len(_MARK) :].partition(" ")
        try:
            self._key.verify(base64.b64decode(signature, validate=True), signed.encode())
        except (InvalidSignature, ValueError):
            raise Rejected("bad signature") from None
        stamp, _, rest = signed.partition(" ")
        nonce, _, frame = rest.partition("\n")
        try:
            self._fresh(float(stamp), nonce, now)
        except ValueError:
            raise Rejected("malformed signed header") from None
        return frame

    def _fresh(self, stamp: float, nonce: str, now: float) -> None:
        if abs(now - stamp) > self._window:
            raise Rejected(f"stale frame: signed {now - stamp:.1f} s ago (window {self._window:g} s)")
        while self._seen and now - next(iter(self._seen.values())) > self._window:
            del self._seen[next(iter(self._seen))]  # the oldest first: nonces arrive in time order
        if nonce in self._seen:
            raise Rejected("replayed frame (nonce seen before)")
        self._seen[nonce] = stamp
