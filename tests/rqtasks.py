"""Functions that stock ``rq worker`` processes run in the RQ tests (imported by dotted path)."""

from __future__ import annotations

import time


def add(a: int, b: int) -> int:
    return a + b


def boom() -> None:
    raise ZeroDivisionError("division by zero, on purpose")


def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"
