"""Output bounds: the head and the tail are kept, the middle is counted, memory stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from barto.model import Stream
from barto.worker.bound import OutputBound, marker

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def run(limit: int | None, chunks: list[list[str]]) -> tuple[list[str], int]:
    """Feed ``chunks`` through a bound; returns (what was sent, in order, then the tail) and the drop count."""
    bound = OutputBound(limit)
    sent = [text for chunk in chunks for text in bound.admit(Stream.STDOUT, NOW, chunk)]
    return sent + [t for held in bound.rest() for t in held.texts], bound.dropped


def size(texts: list[str]) -> int:
    return sum(len(t.encode()) + 1 for t in texts)


def test_no_limit_keeps_everything() -> None:
    chunks = [["a"] * 1000, ["b"] * 1000]
    assert run(None, chunks) == (["a"] * 1000 + ["b"] * 1000, 0)


def test_head_and_tail_are_kept_and_the_middle_counted() -> None:
    lines = [f"{i:04d}" for i in range(1000)]  # 5 bytes each with the newline
    kept, dropped = run(100, [lines[:300], lines[300:]])
    assert kept[:10] == lines[:10]  # the head: 50 bytes
    assert kept[10:] == lines[-10:]  # the tail: the newest 50 bytes
    assert dropped == size(lines) - size(kept) == 4900


@given(
    st.integers(min_value=1, max_value=300),
    st.lists(st.lists(st.text(alphabet="ab\u00e9\u20ac", max_size=12), max_size=15), max_size=15),
)
def test_the_kept_lines_are_a_head_and_a_tail_within_the_limit(limit: int, chunks: list[list[str]]) -> None:
    lines = [t for chunk in chunks for t in chunk]
    kept, dropped = run(limit, chunks)
    assert size(kept) + dropped == size(lines)  # every byte is kept or counted
    if dropped:
        assert size(kept) <= limit
    else:
        assert kept == lines
    head = next((i for i in range(len(kept)) if kept[: i + 1] != lines[: i + 1]), len(kept))
    assert kept[head:] == lines[len(lines) - (len(kept) - head) :]  # the rest is the newest lines


def test_marker_names_the_count() -> None:
    assert marker(4900) == "[barto: 4900 bytes of output dropped]"
