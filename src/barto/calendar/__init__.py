"""Calendar expressions: parse them, print them normalized, compute when they fire next.

Dialects: systemd ``OnCalendar=`` (exactly as systemd 252), the original barto forms (comma
dates, ``+N``, ``R`` random fields), Vixie cron, Quartz and jobd's cronexpr. Everything here is
pure: no I/O, no clock; callers pass the time.
"""

from __future__ import annotations

from barto.calendar._dialects import DIALECTS, Spec, parse
from barto.calendar.errors import CalendarError

__all__ = ["DIALECTS", "CalendarError", "Spec", "parse"]
