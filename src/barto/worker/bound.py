"""Output bounds: keep a run's first and last bytes, count what falls between.

A job that writes a gigabyte must cost neither the worker's memory nor the database: the first
half of ``max_output_bytes`` is sent as it comes, later lines wait in a tail that keeps only the
newest second half, and at the end a marker line says how many bytes were dropped before the
tail is sent. Sizes are UTF-8 bytes including each line's newline.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

import msgspec

from barto.model import Stream


class Held(msgspec.Struct, frozen=True):
    """Consecutive lines of one stream read at one time, waiting in the tail."""

    stream: Stream
    ts: datetime
    texts: list[str]


def _size(texts: Sequence[str]) -> int:
    return len("\n".join(texts).encode()) + 1 if texts else 0


class OutputBound:
    """The head/tail rule for one run; ``limit`` None keeps everything."""

    def __init__(self, limit: int | None) -> None:
        self._head_left = -1 if limit is None else limit // 2
        self._tail_limit = 0 if limit is None else limit - limit // 2
        self._tail: deque[tuple[Held, int]] = deque()
        self._tail_bytes = 0
        self.dropped = 0

    def admit(self, stream: Stream, ts: datetime, texts: Sequence[str]) -> Sequence[str]:
        """The lines to send now; any others are held in the tail (or dropped from it)."""
        if self._head_left < 0:
            return texts
        if not self._tail and (size := _size(texts)) <= self._head_left:
            self._head_left -= size
            return texts
        sent = self._fill_head(texts) if not self._tail else 0
        self._hold(Held(stream, ts, list(texts[sent:])))
        return texts[:sent]

    def _fill_head(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` still fit in the head (which is then closed)."""
        for i, text in enumerate(texts):
            size = len(text.encode()) + 1
            if size > self._head_left:
                self._head_left = 0
                return i
            self._head_left -= size
        return len(texts)

    def _hold(self, held: Held) -> None:
        size = _size(held.texts)
        self._tail.append((held, size))
        self._tail_bytes += size
        while self._tail and self._tail_bytes - self._tail[0][1] >= self._tail_limit:
            self._tail_bytes -= self._tail[0][1]
            self.dropped += self._tail.popleft()[1]
        if self._tail and self._tail_bytes > self._tail_limit:
            self._trim_first()

    def _trim_first(self) -> None:
        """Drop lines from the front of the oldest held chunk until the tail fits."""
        held, size = self._tail.popleft()
        texts = held.texts
        start = 0
        while start < len(texts) and self._tail_bytes > self._tail_limit:
            line = len(texts[start].encode()) + 1
            self._tail_bytes -= line
            self.dropped += line
            size -= line
            start += 1
        if start < len(texts):
            self._tail.appendleft((Held(held.stream, held.ts, texts[start:]), size))

    def rest(self) -> list[Held]:
        """What the tail kept, oldest first; call once, at the end of the run."""
        held = [item for item, _ in self._tail]
        self._tail.clear()
        self._tail_bytes = 0
        return held


def marker(dropped: int) -> str:
    """The line that stands where output was dropped."""
    return f"[barto: {dropped} bytes of output dropped]"
