"""What ``systemd-analyze calendar`` prints, for any dialect: the calendar preview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from barto.calendar._dialects import Spec

_LABEL_WIDTH = 16  # "Normalized form:" — systemd right-aligns every label to it
_UNITS = (  # systemd's format_timestamp_relative thresholds, in seconds
    ("year", 31_557_600), ("month", 2_629_800), ("week", 604_800), ("day", 86_400),
)  # fmt: skip


@dataclass(frozen=True)
class Preview:
    """One expression's preview: its forms and the next elapses (empty: never)."""

    original: str
    normalized: str
    timezone: str | None
    elapses: tuple[datetime, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "original": self.original,
            "normalized": self.normalized,
            "next": [t.isoformat().replace("+00:00", "Z") for t in self.elapses],
        }


def preview(text: str, spec: Spec, base: datetime, iterations: int) -> Preview:
    """The first ``iterations`` elapses of ``spec`` after ``base``."""
    elapses: list[datetime] = []
    t: datetime | None = base
    while t is not None and len(elapses) < iterations:
        t = spec.next_after(t)
        if t is not None:
            elapses.append(t)
    return Preview(text, str(spec), spec.timezone, tuple(elapses))


def render(view: Preview, local: tzinfo, now: datetime) -> str:
    """The text block, in ``local`` time, with "(in UTC)" lines when local is not UTC."""
    rows: list[tuple[str, str]] = []
    if view.original != view.normalized:
        rows.append(("Original form:", view.original))
    rows.append(("Normalized form:", view.normalized))
    if not view.elapses:
        rows.append(("Next elapse:", "never"))
    for number, elapse in enumerate(view.elapses, start=1):
        rows.append(("Next elapse:" if number == 1 else f"Iter. #{number}:", _stamp(elapse, local)))
        if str(local) not in ("UTC", "Etc/UTC"):
            rows.append(("(in UTC):", _stamp(elapse, UTC)))
        rows.append(("From now:", relative(elapse, now)))
    return "\n".join(f"{label:>{_LABEL_WIDTH}} {value}" for label, value in rows)


def _stamp(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M:%S ") + (local.tzname() or "UTC")


def relative(moment: datetime, now: datetime) -> str:
    """systemd's "From now" wording: ``1 year 1 month ago``, ``11h left``, ``now``."""
    seconds = int((moment - now).total_seconds())
    suffix = "left" if seconds > 0 else "ago"
    seconds = abs(seconds)
    if seconds == 0:
        return "now"
    for index, (name, size) in enumerate(_UNITS[:3]):
        if seconds >= size:
            smaller, small_size = _UNITS[index + 1]
            big, small = seconds // size, seconds % size // small_size
            return f"{big} {_plural(name, big)} {small} {_plural(smaller, small)} {suffix}"
    return _short(seconds, suffix)


def _short(seconds: int, suffix: str) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days >= 2:
        return f"{days} days {suffix}"
    if days == 1:
        return f"1 day {hours}h {suffix}"
    if hours >= 6:
        return f"{hours}h {suffix}"
    if hours:
        return f"{hours}h {minutes}min {suffix}"
    if minutes >= 5:
        return f"{minutes}min {suffix}"
    return f"{minutes}min {secs}s {suffix}" if minutes else f"{secs}s {suffix}"


def _plural(name: str, count: int) -> str:
    return name if count == 1 else name + "s"
