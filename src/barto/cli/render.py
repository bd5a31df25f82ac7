"""Printing for barto-cli: Rich tables for people, JSON for programs, a pager only on a TTY."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import msgspec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from barto.api.answers import CleanupProgress
from barto.model import OutputLine, RunRecord

RUN_COLUMNS = ("id", "worker", "schedule", "slot", "attempt", "state", "exit_code", "signal", "reason")


PROCESS_COLUMNS = ("name", "state", "pid", "uptime", "restarts", "description")


class Process(Protocol):
    """A supervised process as ``status`` shows it (a worker's answer, or the fleet's row)."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def uptime_seconds(self) -> float | None: ...
    @property
    def restarts(self) -> int: ...
    @property
    def description(self) -> str: ...


def process_rows(processes: Iterable[Process]) -> list[list[Any]]:
    """The cells of :data:`PROCESS_COLUMNS` for supervised processes, as ``status`` lists them."""
    return [[p.name, p.state, p.pid, uptime(p.uptime_seconds), p.restarts, p.description] for p in processes]


def uptime(seconds: float | None) -> str:
    """H:MM:SS, as supervisorctl shows it (empty when not running)."""
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def emit_json(payload: Any) -> None:
    """Print ``payload`` (records, lists of them) as indented JSON, as the server sent it."""
    print(json.dumps(msgspec.to_builtins(payload), indent=2))


def when(moment: datetime) -> str:
    """A time as the API writes it (RFC 3339, ``Z`` for UTC)."""
    text: str = msgspec.to_builtins(moment)
    return text


def cell(value: Any) -> str:
    """A table cell: None empty, times as the API writes them, enums by value."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    return str(value.value) if isinstance(value, Enum) else str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A plain table with ``columns``; None prints as an empty cell."""
    out = Table(title=title, header_style="bold", show_edge=False)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(cell(v) for v in row))
    return out


def run_rows(runs: Iterable[RunRecord]) -> list[list[Any]]:
    """The cells of :data:`RUN_COLUMNS` for each run."""
    return [[getattr(run, c) for c in RUN_COLUMNS] for run in runs]


def show(*renderables: Any) -> None:
    """Print each item on its own line, through a pager when stdout is a terminal and the output
    is long. Strings are printed verbatim (job output may contain Rich markup look-alikes)."""
    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 250)  # piped output is never cut to 80 columns
    if tty and console.size.height < _height(renderables):
        with console.pager(styles=True):
            _print(console, renderables)
    else:
        _print(console, renderables)


def _print(console: Console, renderables: Sequence[Any]) -> None:
    for item in renderables:
        console.print(item, markup=False, highlight=False, soft_wrap=isinstance(item, str))


def _height(renderables: Sequence[Any]) -> int:
    return sum(getattr(r, "row_count", 1) + 4 for r in renderables)


def output_lines(lines: Iterable[OutputLine]) -> Iterator[str]:
    """``ts [stream] data`` per line, as lines arrive; the pieces of a line longer than the
    worker's split size are joined back into it (an escaped line shows its escapes)."""
    head: OutputLine | None = None
    pieces: list[str] = []
    for line in lines:
        head = head or line
        pieces.append(line.data)
        if not line.continues:
            yield f"{when(head.ts)} [{head.stream.value}] {''.join(pieces)}"
            head, pieces = None, []
    if head is not None:  # the output ended inside a long line (the run was cut short)
        yield f"{when(head.ts)} [{head.stream.value}] {''.join(pieces)}"


def progress(steps: Iterable[CleanupProgress]) -> CleanupProgress:
    """Show a progress bar over a cleanup's ``steps``; returns the last."""
    last = CleanupProgress(total=0, runs=0, output_rows=0)
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("deleting runs", total=None)
        for last in steps:
            bar.update(task, total=last.total, completed=last.runs)
    return last
