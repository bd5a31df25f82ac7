"""Choosing a dialect, and the one public entry point, :func:`parse`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from barto.calendar._systemd_parse import Rejected, parse_systemd
from barto.calendar.barto import parse_barto
from barto.calendar.cron import CronSpec
from barto.calendar.errors import CalendarError

DIALECTS = ("auto", "systemd", "barto", "cron", "quartz", "jobd")
_BARTO_LOOK = re.compile(r"(^|\s)[^\s:~-]*,[^\s:~-]*,[^\s:~-]*(\s|$)|\+\d|(^|\s)\*\s+\S*:")
_CRON_ZONE = re.compile(r"\s*(?:CRON_)?TZ=\S+\s+")


class Spec(Protocol):
    """What every parsed expression offers: immutable, hashable, printable."""

    @property
    def timezone(self) -> str | None:
        """The IANA zone the expression is evaluated in; None means UTC."""
        ...

    def next_after(self, t: datetime) -> datetime | None:
        """The first fire time strictly after ``t`` (aware), in UTC; None if it never fires."""
        ...

    def prev_before(self, t: datetime) -> datetime | None:
        """The last fire time strictly before ``t`` (aware), in UTC; None if none (since 1970)."""
        ...

    def __str__(self) -> str:
        """The normalized form."""
        ...

    def __hash__(self) -> int: ...


def parse(text: str, *, dialect: str = "auto", tz: str | None = None, seed: str | None = None) -> Spec:
    """Parse ``text`` in ``dialect``; ``tz`` (an IANA name) applies when the text names no zone.

    ``seed`` fixes barto's ``R`` fields and cron's ``H`` (the server passes worker + schedule name).
    ``dialect="auto"`` reads 5 fields as cron, 6-7 fields without ``:`` as Quartz, and
    everything else as systemd or barto.

    Raises:
        CalendarError: for any text that is not a valid expression, and for a bad dialect.
    """
    if not isinstance(text, str):
        raise CalendarError(repr(text), "a calendar expression must be a string")
    if dialect == "auto":
        dialect = guess_dialect(text)
    if dialect == "systemd":
        return parse_systemd(text, tz=tz, seed=seed, allow_random=False)
    if dialect == "barto":
        return _parse_barto_or_systemd(text, tz, seed)
    if dialect in ("cron", "quartz", "jobd"):
        return CronSpec.parse(text, dialect, tz, seed)
    raise CalendarError(text, f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")


def guess_dialect(text: str) -> str:
    """The dialect ``auto`` picks for ``text``: cron, quartz, or barto (which covers systemd)."""
    body = _CRON_ZONE.sub("", text, count=1)
    if re.fullmatch(r"\s*@[A-Za-z]+\s*", body):
        return "cron"
    fields = body.split()
    if ":" not in body and len(fields) == 5:
        return "cron"
    if ":" not in body and len(fields) in (6, 7):
        return "quartz"
    return "barto"


def _parse_barto_or_systemd(text: str, tz: str | None, seed: str | None) -> Spec:
    """systemd syntax (with ``R`` allowed) first, then barto's comma dates and ``+N`` numbers.

    Surrounding white space is dropped, as barto did (it split the text on white space). What
    systemd's grammar reads is judged by systemd's rules alone: ``22:57/12:16`` is rejected
    as systemd rejects it, although barto's grammar would read it too.
    """
    body = text.strip()
    try:
        return parse_systemd(body, tz=tz, seed=seed, allow_random=True)
    except Rejected as rejected:
        raise Rejected(text, rejected.reason) from None
    except CalendarError as systemd_error:
        try:
            return parse_barto(body, tz=tz, seed=seed)
        except CalendarError as barto_error:
            chosen = barto_error if _BARTO_LOOK.search(body) else systemd_error
            raise CalendarError(text, chosen.reason) from None
