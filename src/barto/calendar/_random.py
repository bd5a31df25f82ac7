"""Deterministic resolution of barto's ``R`` (random) fields.

The original barto draws a fresh random number every time a worker (re)connects, so a job's
time wanders. We derive the value from a seed (the server passes worker name + schedule name)
and the field's name: stable across restarts, different between jobs and between fields.
"""

from __future__ import annotations

import hashlib


def pick(seed: str | None, field: str, low: int, high: int) -> int:
    """A value in ``low..high`` (inclusive) determined by ``seed`` and ``field`` alone."""
    digest = hashlib.blake2b(f"{seed or ''}\x00{field}".encode(), digest_size=8).digest()
    return low + int.from_bytes(digest, "big") % (high - low + 1)


# The shortest length each month can have, so an ``R`` day exists in every year.
SHORTEST_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def day_high(months: list[int]) -> int:
    """The largest day that exists in every one of ``months`` (all months when empty)."""
    return min(SHORTEST_MONTH[m - 1] for m in months) if months else 28
