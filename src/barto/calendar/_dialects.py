"""Choosing a dialect and the one public entry point, :func:`parse`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from barto.calendar._systemd_parse import parse_systemd
from barto.calendar.errors import CalendarError

DIALECTS = ("auto", "systemd", "barto", "cron", "quartz", "jobd")


class Spec(Protocol):
    """What every parsed expression offers: immutable, hashable, printable."""

    def next_after(self, t: datetime) -> datetime | None:
        """The first fire time strictly after ``t`` (aware), in UTC; None if it never fires."""
        ...

    def __str__(self) -> str:
        """The normalized form."""
        ...

    def __hash__(self) -> int: ...


def parse(
    text: str, *, dialect: str = "auto", tz: str | None = None, seed: str | None = None
) -> Spec:
    """Parse ``text`` in ``dialect``; ``tz`` applies when the text names no zone.

    ``seed`` fixes barto's ``R`` fields (the server passes worker + schedule name).
    Raises:
        CalendarError: for any text that is not a valid expression, and for a bad dialect.
    """
    if not isinstance(text, str):
        raise CalendarError(repr(text), "a calendar expression must be a string")
    if dialect == "systemd":
        return parse_systemd(text, tz=tz, seed=seed, allow_random=False)
    raise CalendarError(text, f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
