"""What deserves an alert, found from what the store and the hub say (pure: the watcher asks,
these decide). Each event has a key that names it once and for all (``failed:run:42``), so that
finding it again (the next look, a new leader looking back) records nothing new."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import msgspec

from barto.config.alerts import Alert
from barto.model import FAILED_STATES, ProgramEvent, RunRecord, RunState, WorkerRecord, percentile, run_seconds

# At least this many ended runs before "stuck" may compare a run with its schedule's p95.
STUCK_HISTORY = 5


class Found(msgspec.Struct, frozen=True, kw_only=True):
    """An event: what happened (``event``), to what (``subject``: worker/schedule, worker, or
    worker/program), with a line for people and the run it is about, if any."""

    event: str
    key: str
    subject: str
    worker: str
    message: str
    schedule: str | None = None
    program: str | None = None
    run: RunRecord | None = None


def ended(runs: Iterable[RunRecord]) -> list[Found]:
    """``failed`` (failed, timed out, lost), ``missed``, and succeeded runs that may be a
    recovery (the watcher checks whether anything was wrong before)."""
    found = []
    for run in runs:
        if run.state in FAILED_STATES:
            found.append(_about(run, "failed", f"{_what(run)} {_outcome(run)}"))
        elif run.state == RunState.MISSED:
            found.append(_about(run, "missed", f"{_what(run)} missed: {run.reason or 'no reason given'}"))
        elif run.state == RunState.SUCCEEDED:
            found.append(_about(run, "recovered", f"{_what(run)} succeeded again"))
    return found


def late(unfinished: Iterable[RunRecord], now: datetime, grace: float) -> list[Found]:
    """Runs not started ``grace`` seconds after their slot."""
    cutoff = now - timedelta(seconds=grace)
    return [
        _about(run, "late", f"{_what(run)} not started {grace:g} s after its slot ({run.state})")
        for run in unfinished
        if run.started_at is None and run.slot < cutoff and run.state in (RunState.PENDING, RunState.DISPATCHED)
    ]


def stuck(
    running: Iterable[RunRecord],
    now: datetime,
    timeout_of: Callable[[RunRecord], float | None],
    history_of: Callable[[RunRecord], list[RunRecord]],
    factor: float,
) -> list[Found]:
    """Runs going longer than their timeout, or than ``factor`` times their schedule's p95."""
    found = []
    for run in running:
        if run.state != RunState.RUNNING or run.started_at is None:
            continue
        lasted = (now - run.started_at).total_seconds()
        timeout = timeout_of(run)
        if timeout is not None and lasted > timeout:
            found.append(
                _about(run, "stuck", f"{_what(run)} running {lasted:.0f} s, past its timeout of {timeout:g} s")
            )
            continue
        durations = sorted(d for d in map(run_seconds, history_of(run)) if d is not None)
        p95 = percentile(durations, 95) if len(durations) >= STUCK_HISTORY else None
        if p95 is not None and lasted > max(factor * p95, 1.0):
            found.append(
                _about(run, "stuck", f"{_what(run)} running {lasted:.0f} s, {factor:g} x its p95 of {p95:.1f} s")
            )
    return found


def offline(
    workers: Iterable[WorkerRecord], connected: Callable[[str], bool], now: datetime, grace: float
) -> list[Found]:
    """Workers gone longer than ``grace`` seconds (once per absence), and workers connected
    again (a recovery, if their absence was reported)."""
    found = []
    for worker in workers:
        since = worker.last_seen.isoformat()
        if connected(worker.name):
            found.append(Found(event="recovered", key=f"recovered:worker:{worker.name}:{since}", subject=worker.name,
                               worker=worker.name, message=f"worker {worker.name} is connected again"))  # fmt: skip
        elif (now - worker.last_seen).total_seconds() > grace:
            found.append(Found(event="worker_offline", key=f"worker_offline:{worker.name}:{since}", subject=worker.name,
                               worker=worker.name, message=f"worker {worker.name} offline since {since}"))  # fmt: skip
    return found


def programs(events: Iterable[ProgramEvent]) -> list[Found]:
    """Processes that went FATAL, and ones RUNNING again (a recovery, if the fatal was reported)."""
    found = []
    for e in events:
        subject = f"{e.worker}/{e.name}"
        if e.state == "FATAL":
            message = f"program {subject} is FATAL: {e.description or 'could not be started'}"
            found.append(Found(event="program_fatal", key=f"program_fatal:{e.id}", subject=subject, worker=e.worker,
                               program=e.name, message=message))  # fmt: skip
        elif e.state == "RUNNING":
            found.append(Found(event="recovered", key=f"recovered:program:{e.id}", subject=subject, worker=e.worker,
                               program=e.name, message=f"program {subject} is running again"))  # fmt: skip
    return found


def concerns(alert: Alert, found: Found) -> bool:
    """Whether ``alert`` wants ``found``: its event, and its worker and schedule by the globs."""
    if found.event not in alert.on:
        return False
    if not any(fnmatch.fnmatchcase(found.worker, glob) for glob in alert.workers):
        return False
    return found.schedule is None or any(fnmatch.fnmatchcase(found.schedule, glob) for glob in alert.schedules)


def payload(alert: str, found: Found, now: datetime, *, test: bool = False) -> dict[str, object]:
    """The event as every channel sends it (docs/alerts.md lists the fields)."""
    return {
        "alert": alert,
        "event": found.event,
        "at": now.isoformat(),
        "subject": found.subject,
        "worker": found.worker,
        "schedule": found.schedule,
        "program": found.program,
        "message": found.message,
        "run": msgspec.to_builtins(found.run) if found.run is not None else None,
        "test": test,
    }


def _about(run: RunRecord, event: str, message: str) -> Found:
    return Found(event=event, key=f"{event}:run:{run.id}", subject=f"{run.worker}/{run.schedule}", worker=run.worker,
                 schedule=run.schedule, run=run, message=message)  # fmt: skip


def _what(run: RunRecord) -> str:
    return f"{run.worker}/{run.schedule} run {run.id} (slot {run.slot.isoformat()})"


def _outcome(run: RunRecord) -> str:
    detail = f"exit code {run.exit_code}" if run.exit_code is not None else f"signal {run.signal}" if run.signal else ""
    why = "; ".join(part for part in (detail, run.reason or "") if part)
    return f"{run.state}" + (f": {why}" if why else "")
