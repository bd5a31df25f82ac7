"""Ed25519 keys in barto's format, against barto's own vectors (reference/barto-behaviour.md 2.6.3)."""

from __future__ import annotations

import pytest

from barto.protocol.keys import InvalidKey, Rejected, decode_key, encode_key, fingerprint
from barto.protocol.signing import Signer, Verifier, public_key


@pytest.mark.parametrize(
    ("seed", "public", "print_"),
    [
        (b"\x01" * 32, "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=", "34750f98bd59fcfc"),
        (b"\x02" * 32, "gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=", "6a3803d5f059902a"),
    ],
)
def test_public_keys_and_fingerprints_match_barto(seed: bytes, public: str, print_: str) -> None:
    assert encode_key(public_key(seed)) == public
    assert fingerprint(decode_key(public)) == print_
    assert decode_key(encode_key(seed)) == seed


@pytest.mark.parametrize(("text", "message"), [("not base64!", "not valid base64"), ("AQID", "3 bytes")])
def test_a_key_that_is_not_32_bytes_of_base64_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        decode_key(text)


SEED = b"\x01" * 32


def test_a_sealed_frame_opens_once_within_the_window_and_only_with_the_right_key() -> None:
    signer = Signer(SEED)
    verifier = Verifier(public_key(SEED), window=60)
    wire = signer.seal('{"type":"heartbeat"}', now=1000.0)
    assert verifier.open(wire, now=1030.0) == '{"type":"heartbeat"}'
    with pytest.raises(Rejected, match="replayed"):
        verifier.open(wire, now=1031.0)
    with pytest.raises(Rejected, match="stale"):
        verifier.open(signer.seal("{}", now=900.0), now=1031.0)
    with pytest.raises(Rejected, match="bad signature"):
        Verifier(public_key(b"\x02" * 32), window=60).open(signer.seal("{}", now=1000.0), now=1000.0)
    with pytest.raises(Rejected, match="unsigned"):
        verifier.open('{"type":"heartbeat"}', now=1000.0)


@pytest.mark.parametrize("where", ["time", "nonce", "frame"])
def test_a_sealed_frame_changed_anywhere_is_refused(where: str) -> None:
    wire = Signer(SEED).seal('{"type":"dispatch"}', now=1000.0)
    head, _, body = wire.partition("\n")
    mark, signature, stamp, nonce = head.split(" ")
    changed = {
        "time": f"{mark} {signature} 1000.000001 {nonce}\n{body}",
        "nonce": f"{mark} {signature} {stamp} {'0' * 32}\n{body}",
        "frame": f"{head}\n{body.replace('dispatch', 'cancel')}",
    }[where]
    with pytest.raises(Rejected, match="bad signature"):
        Verifier(public_key(SEED), window=60).open(changed, now=1000.0)
