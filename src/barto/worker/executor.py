"""Executing one dispatched run: its commands in order, through the shell, with output events.

Like barto, every command runs even if an earlier one failed; a timeout, a cancel or the
worker's shutdown ends the whole run. The run's exit code is that of the first command that
failed (0 when none did).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from barto.model import Stream
from barto.protocol import MAX_FRAME_BYTES, Finished, Job, Output, RunEvent, Started
from barto.worker.bound import OutputBound, marker
from barto.worker.process import CommandResult, SpawnHook, StopPlan, StopRequest, run_command, stop_after

# The worker's own settings and secrets never reach a job.
_PRIVATE_PREFIXES = ("BARTOC_", "BARTOS_", "BARTO_CLI_")

Emit = Callable[[RunEvent], None]


def shell(env: Mapping[str, str]) -> str:
    """``$SHELL`` when it names an executable, else ``/bin/sh`` (barto failed every job instead)."""
    candidate = env.get("SHELL", "")
    return candidate if candidate and os.access(candidate, os.X_OK) else "/bin/sh"


def public_env(base: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment without its own settings and secrets (``BARTOC_*`` ...)."""
    return {k: v for k, v in base.items() if not k.upper().startswith(_PRIVATE_PREFIXES)}


def job_env(base: Mapping[str, str], job: Job) -> dict[str, str]:
    """The worker's public environment, plus the schedule's env and run facts."""
    env = public_env(base)
    env.update(job.env)
    env.update(
        BARTO_RUN_ID=str(job.run_id),
        BARTO_SCHEDULE=job.schedule,
        BARTO_SLOT=job.slot.isoformat().replace("+00:00", "Z"),
        BARTO_ATTEMPT=str(job.attempt),
    )
    return env


# Output events must stay far below the protocol's frame limit: a line costs at most 6 bytes per
# character in JSON (control characters become \uXXXX) plus quotes and a comma.
_FRAME_BUDGET = MAX_FRAME_BYTES // 2
_LINE_OVERHEAD = 3


def _chunks(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """Split ``texts`` into runs whose encoded size is surely under :data:`_FRAME_BUDGET`."""
    if not texts:
        return
    if 6 * sum(map(len, texts)) + _LINE_OVERHEAD * len(texts) <= _FRAME_BUDGET:
        yield texts  # the usual case, checked at C speed
        return
    start, cost = 0, 0
    for i, text in enumerate(texts):
        size = 6 * len(text) + _LINE_OVERHEAD
        if cost + size > _FRAME_BUDGET and i > start:
            yield texts[start:i]
            start, cost = i, 0
        cost += size
    if start < len(texts):
        yield texts[start:]


class _Run:
    """One run's event stream: Started at its first spawn, lines numbered across commands and streams."""

    def __init__(self, run_id: int, emit: Emit, max_output_bytes: int | None, on_spawn: SpawnHook) -> None:
        self.run_id = run_id
        self.seq = 0
        self.started_at: datetime | None = None
        self._emit = emit
        self._bound = OutputBound(max_output_bytes)
        self._on_spawn = on_spawn

    def spawned(self, pid: int) -> None:
        """Tell ``on_spawn`` about every process group; emit Started when the first exists."""
        self._on_spawn(pid)
        if self.started_at is None:
            self.started_at = datetime.now(UTC)
            self._emit(Started(run_id=self.run_id, ts=self.started_at))

    def lines(self, stream: Stream, texts: Sequence[str]) -> None:
        """Emit what the output bound lets through now."""
        now = datetime.now(UTC)
        self._send(stream, now, self._bound.admit(stream, now, texts))

    def close(self) -> None:
        """Emit the held tail, after a marker line if output was dropped before it."""
        if self._bound.dropped:
            self._send(Stream.STDERR, datetime.now(UTC), [marker(self._bound.dropped)])
        for held in self._bound.rest():
            self._send(held.stream, held.ts, held.texts)

    def _send(self, stream: Stream, ts: datetime, texts: Sequence[str]) -> None:
        """Number ``texts`` and emit them in frames of bounded size."""
        for chunk in _chunks(texts):
            flags = [getattr(text, "flags", 0) for text in chunk]  # process.Line carries them
            marked = any(flags)
            lines = [str(text) for text in chunk] if marked else list(chunk)
            self._emit(
                Output(
                    run_id=self.run_id,
                    seq=self.seq + 1,
                    stream=stream,
                    ts=ts,
                    lines=lines,
                    flags=flags if marked else [],
                )
            )
            self.seq += len(chunk)


async def execute(
    job: Job,
    *,
    base_env: Mapping[str, str],
    emit: Emit,
    request: StopRequest,
    on_spawn: SpawnHook = lambda _: None,
) -> Finished:
    """Run ``job`` and emit Started, Output... and Finished (which is also returned).

    Resolving ``request`` stops the run (its current command's process group, and the commands
    not yet started) and says why; the job's timeout resolves it with ``timeout``. ``on_spawn``
    hears of each command's process group as it starts.
    """
    run = _Run(job.run_id, emit, job.max_output_bytes, on_spawn)
    timer = stop_after(request, job.timeout_seconds)
    try:
        failure = await _commands(job, run, base_env, request)
    finally:
        if timer is not None:
            timer.cancel()
    run.close()
    finished = _finished(run, failure)
    emit(finished)
    return finished


async def _commands(job: Job, run: _Run, base_env: Mapping[str, str], request: StopRequest) -> CommandResult | None:
    """Run the commands in order until one is stopped; returns the first failure, if any."""
    env = job_env(base_env, job)
    argv = [shell(base_env), "-c"]
    plan = StopPlan(signum=job.stop_signal, grace=job.stop_wait_seconds)
    failure: CommandResult | None = None
    for cmd in job.cmds:
        if request.done():
            return failure or CommandResult(exit_code=None, stopped=request.result())
        result = await run_command(
            [*argv, cmd], env=env, cwd=job.cwd, sink=run.lines, plan=plan, request=request, spawned=run.spawned
        )
        if failure is None and (result.exit_code != 0 or result.stopped):
            failure = result
        if result.stopped:
            break
    return failure


def _finished(run: _Run, failure: CommandResult | None) -> Finished:
    outcome = failure or CommandResult(exit_code=0)
    now = datetime.now(UTC)
    return Finished(
        run_id=run.run_id,
        started_at=run.started_at or now,
        finished_at=now,
        lines=run.seq,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        stopped=outcome.stopped,
        error=outcome.error,
    )
