"""Encoding and decoding of protocol frames. Decoding errors become :class:`ProtocolError`.

A frame carries one message (a JSON object) or several sent together (a JSON array of
objects, handled in order). Packing many small messages into one frame is what lets a worker
report a thousand runs starting at once without a thousand frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from barto.errors import Invalid
from barto.protocol.messages import ToServer, ToWorker

MAX_FRAME_BYTES = 4 * 1024 * 1024

_encoder = msgspec.json.Encoder()
_to_server = msgspec.json.Decoder(ToServer | list[ToServer])
_to_worker = msgspec.json.Decoder(ToWorker | list[ToWorker])


class ProtocolError(Invalid, ValueError):
    """The peer sent a frame that is not a valid message for this direction."""

    code = "bad_frame"


def encode(message: msgspec.Struct) -> bytes:
    """The JSON bytes of one message (a frame of its own, or part of a packed one)."""
    return _encoder.encode(message)


def pack(encoded: Sequence[bytes], limit: int = MAX_FRAME_BYTES) -> Iterator[tuple[bytes, int]]:
    """Frames carrying the ``encoded`` messages in order, each at most ``limit`` bytes.

    Yields (frame, number of messages in it). A message that is alone in its frame is sent
    as itself, several as a JSON array.
    """
    start, size = 0, 1  # size of the array so far: "[" and each message with its "," or "]"
    for i, message in enumerate(encoded):
        if i > start and size + len(message) + 1 > limit:
            yield _frame(encoded[start:i]), i - start
            start, size = i, 1
        size += len(message) + 1
    if start < len(encoded):
        yield _frame(encoded[start:]), len(encoded) - start


def _frame(messages: Sequence[bytes]) -> bytes:
    return messages[0] if len(messages) == 1 else b"[" + b",".join(messages) + b"]"


def decode_to_server(frame: bytes | str) -> list[ToServer]:
    """The messages of a frame a worker sent.

    Raises:
        ProtocolError: when the frame is not JSON or not made of known worker messages.
    """
    messages: list[ToServer] = _messages(_to_server, frame)
    return messages


def decode_to_worker(frame: bytes | str) -> list[ToWorker]:
    """The messages of a frame the server sent.

    Raises:
        ProtocolError: when the frame is not JSON or not made of known server messages.
    """
    messages: list[ToWorker] = _messages(_to_worker, frame)
    return messages


def _messages(decoder: msgspec.json.Decoder[Any], frame: bytes | str) -> Any:
    try:
        decoded = decoder.decode(frame)
    except UnicodeEncodeError as error:  # a str holding a lone surrogate (never from a WebSocket)
        raise ProtocolError(f"not a JSON message: {error.reason}") from None
    except msgspec.ValidationError as error:
        raise ProtocolError(f"invalid message: {error}") from None
    except msgspec.DecodeError as error:
        raise ProtocolError(f"not a JSON message: {error}") from None
    return decoded if isinstance(decoded, list) else [decoded]
