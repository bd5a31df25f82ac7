"""The one exception the calendar package raises for bad input."""

from __future__ import annotations

from barto.errors import Invalid


class CalendarError(Invalid, ValueError):
    """A calendar expression that cannot be parsed.

    The message quotes the expression and names the part that is wrong and why, e.g.
    ``invalid calendar '*-13-01': month 13 out of range 1..12``.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__("bad_calendar", f"invalid calendar {text!r}: {reason}")
        self.text = text
        self.reason = reason
