"""Ed25519 keys in barto's format, against barto's own vectors (reference/barto-behaviour.md 2.6.3)."""

from __future__ import annotations

import pytest

from barto.protocol.signing import InvalidKey, decode_key, encode_key, fingerprint, public_key


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
