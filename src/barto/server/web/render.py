"""The dashboard's templates and the small things they print: times in UTC and in a schedule's
own zone, durations, state colours, and the charts, drawn server-side as SVG (no chart library,
no script needed to read them)."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from barto.api.answers import Slot
from barto.model import RunRecord
from barto.model import run_seconds as lasted

HERE = Path(__file__).parent
STATIC = HERE / "static"


def when(moment: datetime | None) -> str:
    """A moment in UTC, to the second (``-`` for none)."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def local(moment: datetime | None, zone: str) -> str:
    """A moment in the zone ``zone`` (a schedule's own: what "local" means here)."""
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def seconds(value: float | None) -> str:
    """A duration for people: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def run_seconds(run: RunRecord) -> str:
    """How long a run ran (``-``: it has not ended, or never started)."""
    return seconds(lasted(run))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def strip(runs: Sequence[Slot], slots: int = 30) -> Markup:
    """The last ``slots`` runs as a row of squares, oldest left, coloured by state; each links
    to its run and says what it was in its title."""
    size, gap = 10, 2
    shown = list(reversed(runs[:slots]))
    width = slots * (size + gap)
    cells = [
        f'<rect x="{i * (size + gap)}" y="0" width="{size}" height="{size}" class="empty-slot"/>'
        for i in range(slots - len(shown))
    ]
    for i, run in enumerate(shown):
        x = (slots - len(shown) + i) * (size + gap)
        title = escape(f"#{run.id} {when(run.slot)} {run.state}" + (f": {run.reason}" if run.reason else ""))
        cells.append(
            f'<a href="/runs/{run.id}"><rect x="{x}" y="0" width="{size}" height="{size}" '
            f'class="s-{run.state}"><title>{title}</title></rect></a>'
        )
    label = f"last {len(shown)} runs"
    return Markup(
        f'<svg class="strip" width="{width}" height="{size}" viewBox="0 0 {width} {size}" role="img" '
        f'aria-label="{label}">{"".join(cells)}</svg>'
    )


def duration_chart(runs: Sequence[Slot], width: int = 720, height: int = 160) -> Markup:
    """A bar per run (oldest left): its duration, coloured by state; the axis says the longest."""
    shown = list(reversed(runs))
    lasted = [run.seconds or 0.0 for run in shown]
    top = max(lasted, default=0.0) or 1.0
    left, bottom = 60, 18
    plot_w, plot_h = width - left, height - bottom
    bar = plot_w / max(len(shown), 40)  # a few runs stay thin bars on the left, not wide blocks
    bars = []
    for i, (run, value) in enumerate(zip(shown, lasted, strict=True)):
        h = max(1.0, value / top * plot_h) if value else 1.0
        title = escape(f"#{run.id} {when(run.slot)} {run.state} {seconds(run.seconds)}")
        bars.append(
            f'<a href="/runs/{run.id}"><rect x="{left + i * bar + 1:.1f}" y="{plot_h - h:.1f}" '
            f'width="{max(bar - 2, 1):.1f}" height="{h:.1f}" class="s-{run.state}"><title>{title}</title></rect></a>'
        )
    axis = (
        f'<line x1="{left}" y1="{plot_h}" x2="{width}" y2="{plot_h}" class="axis"/>'
        f'<text x="{left - 6}" y="10" text-anchor="end" class="tick">{escape(seconds(top))}</text>'
        f'<text x="{left - 6}" y="{plot_h}" text-anchor="end" class="tick">0</text>'
        f'<text x="{left}" y="{height - 4}" class="tick">older</text>'
        f'<text x="{width}" y="{height - 4}" text-anchor="end" class="tick">newer</text>'
    )
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="durations of the last {len(shown)} runs">{axis}{"".join(bars)}</svg>'
    )


HEATMAP_LANES = 200
_ZERO = b"\x00\x00\x00\x00"
_PALETTE = [bytes((31, 95, 191, 64 + round(191 * level / 255))) for level in range(256)]
_PALETTE += [_ZERO, bytes((192, 57, 43, 255)), bytes((217, 130, 0, 255))]  # none, missed, failed
_NONE, _MISSED_AT, _FAILED_AT = 256, 257, 258


def heatmap(lanes: Sequence[Any], start: datetime, hours: int, *, past: bool) -> Markup:
    """One row per worker, one column per minute: a picture (a PNG the server draws, one pixel
    a minute, stretched), darker where more slots fall; in the past, minutes with missed slots
    are red and with failed ones orange. Labels and hour ticks are SVG around it."""
    lanes = lanes[:HEATMAP_LANES]
    minutes, row, label = hours * 60, 14, 140
    peak = max((max(lane.counts) for lane in lanes), default=0) or 1
    rows = [_pixels(lane, peak, past) for lane in lanes]
    picture = base64.b64encode(_png(minutes, len(lanes), rows)).decode()
    height = len(lanes) * row
    parts = [
        f'<image x="{label}" y="0" width="{minutes}" height="{height}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{picture}"/>'
    ]
    for n, lane in enumerate(lanes):
        summary = f"{lane.worker}: {sum(lane.counts):,} slots"
        if past:
            summary += f", {sum(lane.missed):,} missed, {sum(lane.failed):,} failed"
        parts.append(
            f'<text x="{label - 6}" y="{n * row + 11}" text-anchor="end" class="tick">'
            f"{escape(lane.worker)}<title>{escape(summary)}</title></text>"
        )
    for hour in range(0, hours + 1, max(1, hours // 8)):
        x = label + hour * 60
        tick = (start + hour * 60 * _MINUTE).strftime("%H:%M")
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" class="grid"/>')
        parts.append(f'<text x="{x}" y="{height + 12}" text-anchor="middle" class="tick">{tick}</text>')
    total_h, total_w = height + 16, label + minutes + 20
    return Markup(
        f'<svg class="heatmap" width="{total_w}" height="{total_h}" viewBox="0 0 {total_w} {total_h}" role="img" '
        f'aria-label="slots per worker and minute">{"".join(parts)}</svg>'
    )


def _pixels(lane: Any, peak: int, past: bool) -> bytes:
    """One lane's minutes as RGBA pixels (by palette index: 0-255 shades of slots, then none,
    missed, failed)."""
    levels = [n * 255 // peak if n else _NONE for n in lane.counts]
    if past:
        for marks, index in ((lane.failed, _FAILED_AT), (lane.missed, _MISSED_AT)):
            for minute in [i for i, n in enumerate(marks) if n]:
                levels[minute] = index
    return b"".join(map(_PALETTE.__getitem__, levels))


def _png(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """An RGBA PNG of ``rows`` (each ``width`` pixels of 4 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, max(height, 1), 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows) or b"\x00" + _ZERO * width
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


_MINUTE = datetime(2000, 1, 1, 0, 1, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)


def environment() -> Environment:
    """The templates, with autoescaping and the helpers above as filters."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, local=local, seconds=seconds, run_seconds=run_seconds, percent=percent)
    env.globals.update(strip=strip, duration_chart=duration_chart, heatmap=heatmap)
    return env
