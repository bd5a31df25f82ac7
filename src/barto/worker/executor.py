"""Executing one dispatched run: its commands in order, through the shell, with output events.

Like barto, every command runs even if an earlier one failed; a timeout ends the whole run.
The run's exit code is that of the first command that failed (0 when none did).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from barto.model import Stream
from barto.protocol import Finished, Job, Line, Output, Started, ToServer
from barto.worker.process import CommandResult, run_command

# The worker's own settings and secrets never reach a job.
_PRIVATE_PREFIXES = ("BARTOC_", "BARTOS_", "BARTO_CLI_")

Emit = Callable[[ToServer], None]


def shell(env: Mapping[str, str]) -> str:
    """``$SHELL`` when it names an executable, else ``/bin/sh`` (barto failed every job instead)."""
    candidate = env.get("SHELL", "")
    return candidate if candidate and os.access(candidate, os.X_OK) else "/bin/sh"


def job_env(base: Mapping[str, str], job: Job) -> dict[str, str]:
    """The worker's environment without ``BARTO*`` settings, plus the schedule's env and run facts."""
    env = {k: v for k, v in base.items() if not k.upper().startswith(_PRIVATE_PREFIXES)}
    env.update(job.env)
    env.update(
        BARTO_RUN_ID=str(job.run_id),
        BARTO_SCHEDULE=job.schedule,
        BARTO_SLOT=job.slot.isoformat().replace("+00:00", "Z"),
        BARTO_ATTEMPT=str(job.attempt),
    )
    return env


class _Lines:
    """Numbers lines across the run's commands and both streams, and emits them as Output."""

    def __init__(self, run_id: int, emit: Emit) -> None:
        self.run_id = run_id
        self.seq = 0
        self._emit = emit

    def __call__(self, stream: Stream, texts: Sequence[str]) -> None:
        now = datetime.now(UTC)
        first = self.seq + 1
        self.seq += len(texts)
        lines = [Line(first + i, stream, now, text) for i, text in enumerate(texts)]
        self._emit(Output(run_id=self.run_id, lines=lines))


async def execute(job: Job, *, base_env: Mapping[str, str], emit: Emit, stop_wait: float) -> Finished:
    """Run ``job`` and emit Started, Output... and Finished (which is also returned)."""
    started_at = datetime.now(UTC)
    emit(Started(run_id=job.run_id, ts=started_at))
    lines = _Lines(job.run_id, emit)
    env = job_env(base_env, job)
    argv0 = shell(base_env)
    deadline = None if job.timeout_seconds is None else time.monotonic() + job.timeout_seconds
    failure: CommandResult | None = None
    for cmd in job.cmds:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        result = await run_command(
            [argv0, "-c", cmd], env=env, cwd=job.cwd, sink=lines, timeout=left, stop_wait=stop_wait
        )
        if failure is None and result.exit_code != 0:
            failure = result
        if result.timed_out:
            break
    finished = _finished(job.run_id, started_at, lines.seq, failure)
    emit(finished)
    return finished


def _finished(run_id: int, started_at: datetime, seq: int, failure: CommandResult | None) -> Finished:
    outcome = failure or CommandResult(exit_code=0)
    return Finished(
        run_id=run_id,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        lines=seq,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        timed_out=outcome.timed_out,
        error=outcome.error,
    )
