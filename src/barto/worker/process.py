"""Running one command: spawn it in its own process group, pump its output, stop it for good.

This is the one module that starts child processes. Output is read as bytes and framed into
lines here (``\\n``, one trailing ``\\r`` stripped, invalid UTF-8 replaced, a line longer than
:data:`MAX_LINE_BYTES` split into several), so no byte of output is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence

import msgspec

from barto.model import Stream

MAX_LINE_BYTES = 64 * 1024
_READ_SIZE = 256 * 1024

# Called with the complete lines read from one stream in one chunk.
LineSink = Callable[[Stream, Sequence[str]], None]


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a command ended: an exit code, or the signal that killed it, or why it never ran."""

    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    error: str | None = None


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    sink: LineSink,
    timeout: float | None,
    stop_wait: float,
) -> CommandResult:
    """Run ``argv`` to completion (or to ``timeout`` seconds, then stop it) and report how it ended.

    Cancelling this coroutine stops the whole process group (TERM, ``stop_wait``, KILL) before
    the cancellation propagates: a child never outlives its run.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # own process group: signals reach every descendant
        )
    except OSError as error:
        return CommandResult(exit_code=None, error=f"cannot start {argv[0]!r}: {error.strerror or error}")
    assert proc.stdout is not None
    assert proc.stderr is not None
    pumps = [
        asyncio.ensure_future(_pump(proc.stdout, Stream.STDOUT, sink)),
        asyncio.ensure_future(_pump(proc.stderr, Stream.STDERR, sink)),
    ]
    try:
        timed_out = await _wait(proc, timeout, stop_wait)
        await _drain(proc, pumps, stop_wait)
    finally:
        if proc.returncode is None:
            await asyncio.shield(stop(proc, stop_wait))
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    return _result(proc.returncode, timed_out)


def _result(returncode: int | None, timed_out: bool) -> CommandResult:
    assert returncode is not None  # the process has been waited for
    if returncode < 0:
        return CommandResult(exit_code=None, signal=-returncode, timed_out=timed_out)
    return CommandResult(exit_code=returncode, timed_out=timed_out)


async def _wait(proc: asyncio.subprocess.Process, timeout: float | None, stop_wait: float) -> bool:
    """Wait for the exit; on timeout stop the group. Returns whether the timeout hit."""
    try:
        async with asyncio.timeout(timeout):
            await proc.wait()
        return False
    except TimeoutError:
        await stop(proc, stop_wait)
        return True


async def _drain(proc: asyncio.subprocess.Process, pumps: Sequence[asyncio.Future[None]], grace: float) -> None:
    """Read the pipes to EOF; a descendant still holding them gets ``grace`` seconds, then KILL."""
    _, pending = await asyncio.wait(pumps, timeout=grace)
    if pending:
        _signal_group(proc.pid, signal.SIGKILL)
        await asyncio.wait(pending, timeout=grace)


async def stop(proc: asyncio.subprocess.Process, grace: float) -> None:
    """TERM the process group, wait ``grace`` seconds, then KILL it; returns once reaped."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(grace):
            await proc.wait()
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # descendants that ignored TERM


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _pump(reader: asyncio.StreamReader, stream: Stream, sink: LineSink) -> None:
    """Read ``reader`` to EOF, handing complete lines to ``sink`` chunk by chunk."""
    pending = b""
    while chunk := await reader.read(_READ_SIZE):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        while len(pending) > MAX_LINE_BYTES:
            lines.append(pending[:MAX_LINE_BYTES])
            pending = pending[MAX_LINE_BYTES:]
        if lines:
            sink(stream, [_decode(line) for line in lines])
    if pending:
        sink(stream, [_decode(pending)])


def _decode(line: bytes) -> str:
    return line.removesuffix(b"\r").decode("utf-8", errors="replace")
