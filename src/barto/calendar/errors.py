"""The one exception the calendar package raises for bad input."""

from __future__ import annotations


class CalendarError(ValueError):
    """A calendar expression that cannot be parsed.

    The message quotes the expression and names the part that is wrong and why, e.g.
    ``invalid calendar '*-13-01': month 13 out of range 1..12``.
    """

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid calendar {text!r}: {reason}")
        self.text = text
        self.reason = reason
