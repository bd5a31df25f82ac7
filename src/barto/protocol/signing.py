"""Signed frames with Ed25519 (the cryptography half; key formats are in keys.py)."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from barto.protocol.keys import Rejected, encode_key, fingerprint


def public_key(seed: bytes) -> bytes:
    """The raw 32-byte public key of ``seed``."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


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
