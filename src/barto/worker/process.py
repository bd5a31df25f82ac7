"""Running one command: spawn it in its own process group, pump its output, stop it for good.

This is the one module that starts child processes. Output is read as bytes and framed into
lines here (``\\n``, one trailing ``\\r`` stripped; a line longer than :data:`MAX_LINE_BYTES`
split into pieces marked ``CONTINUES``; a line with NUL or bytes that are not UTF-8 escaped and
marked ``ESCAPED``), so no byte of output is ever dropped or changed beyond recovery.

Children are spawned with :class:`subprocess.Popen` (vfork + exec, the cheapest spawn Python
has) and then watched by the event loop itself: the pipes with ``add_reader``, the exit with a
pidfd, so an exit is noticed at once with no thread and no SIGCHLD handler per child. (asyncio's
own subprocess support costs about 2x a bare spawn per child, and uvloop's about 10x.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec

from barto.model import CONTINUES, ESCAPED, StopReason, Stream, escape_bytes

log = logging.getLogger("barto.worker.process")

MAX_LINE_BYTES = 64 * 1024
_READ_SIZE = 256 * 1024
_POLL_EXIT = 0.05  # seconds between exit checks where pidfds are unavailable

# Called with the complete lines read from one stream in one chunk.
LineSink = Callable[[Stream, Sequence[str]], None]
# Called with the pid (= process group id) once the process exists (a run is "running" from
# then, not from when we meant to start it).
SpawnHook = Callable[[int], None]
# Resolves when someone asks for the command to be stopped (cancel, shutdown), with the reason.
StopRequest = asyncio.Future[StopReason]


class StopPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How to stop a process group: ``signum`` to all of it, ``grace`` seconds, then KILL."""

    signum: int = signal.SIGTERM
    grace: float = 10.0


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a command ended: an exit code, or the signal that killed it, or why it never ran."""

    exit_code: int | None
    signal: int | None = None
    stopped: StopReason | None = None  # why we stopped it, if we did
    error: str | None = None


class Line(str):
    """An output line that carries flags (``CONTINUES``, ``ESCAPED`` of barto.model); it is a
    plain ``str`` to everything that does not look."""

    flags: int = 0


class _Framer:
    """Bytes in, complete lines out; whatever follows the last newline waits for more."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        lines, rest = _lines(data[:cut]), data[cut:]
        # A long unfinished line leaves in pieces as it grows; one byte is held back in case it
        # is the \r of a \r\n still to come (the pieces must not depend on chunk boundaries).
        while len(rest) > MAX_LINE_BYTES + 1:
            lines.append(_line(rest[:MAX_LINE_BYTES], CONTINUES))
            rest = rest[MAX_LINE_BYTES:]
        self._pending = rest
        return lines

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return _pieces(rest) if rest else []


def _lines(complete: bytes) -> list[str]:
    """The lines of ``complete`` (which ends with a newline, or is empty).

    Decoding the whole block at once gives the same text as decoding line by line (a newline
    is never part of a UTF-8 sequence) at a fraction of the cost; a block with a line over the
    limit, a NUL or bytes that are not UTF-8 takes the slow path, line by line.
    """
    if b"\0" not in complete and (len(complete) <= MAX_LINE_BYTES or _short_lines(complete)):
        try:
            lines = complete.decode().replace("\r\n", "\n").split("\n")
        except UnicodeDecodeError:
            pass
        else:
            lines.pop()  # what follows the last newline: nothing
            return lines
    return [piece for line in complete.split(b"\n")[:-1] for piece in _pieces(line)]


def _short_lines(block: bytes) -> bool:
    return max(map(len, block.split(b"\n"))) <= MAX_LINE_BYTES


def _pieces(line: bytes) -> list[str]:
    """A line without its trailing \r, in pieces of at most :data:`MAX_LINE_BYTES` bytes, each
    but the last marked as continued by the next."""
    line = line.removesuffix(b"\r")
    starts = range(0, len(line), MAX_LINE_BYTES) or range(1)  # an empty line is one empty piece
    return [_line(line[i : i + MAX_LINE_BYTES], CONTINUES if i < starts[-1] else 0) for i in starts]


def _line(data: bytes, flags: int = 0) -> str:
    """The text of one line's bytes: as it is when it is UTF-8 without NUL, else escaped (and
    marked so), so that the original bytes can be recovered (barto.model.line_bytes)."""
    if b"\0" not in data:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            pass
        else:
            return _flagged(text, flags) if flags else text
    return _flagged(escape_bytes(data), flags | ESCAPED)


def _flagged(text: str, flags: int) -> Line:
    line = Line(text)
    line.flags = flags
    return line


class _Pipe:
    """One output pipe, read by the event loop as data arrives; ``done`` resolves at EOF."""

    def __init__(self, file: IO[bytes], stream: Stream, sink: LineSink) -> None:
        self._file = file
        self._fd = file.fileno()
        self._stream = stream
        self._sink = sink
        self._framer = _Framer()
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return
        if lines := self._framer.feed(chunk):
            self._sink(self._stream, lines)

    def close(self) -> None:
        """Stop reading (at EOF, or because a runaway descendant keeps the pipe open)."""
        if self.done.done():
            return
        self._loop.remove_reader(self._fd)
        if rest := self._framer.flush():
            self._sink(self._stream, rest)
        self._file.close()
        self.done.set_result(None)


class _Child:
    """A spawned process group: its pipes, and a future that resolves the moment it exits."""

    def __init__(self, proc: subprocess.Popen[bytes], sink: LineSink) -> None:
        assert proc.stdout is not None
        assert proc.stderr is not None
        self.proc = proc
        self.pipes = [_Pipe(proc.stdout, Stream.STDOUT, sink), _Pipe(proc.stderr, Stream.STDERR, sink)]
        self.exited = exit_future(proc)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the whole process group (the child's descendants included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def close(self) -> None:
        """Stop watching; the process must have been reaped."""
        self.exited.cancel()  # a no-op once it exited; otherwise it lets go of the pidfd
        for pipe in self.pipes:
            pipe.close()


def exit_future(proc: subprocess.Popen[bytes]) -> asyncio.Future[None]:
    """A future that resolves the moment ``proc`` exits (and is reaped): its pidfd turns readable,
    or, where the kernel or a sandbox refuses pidfds, a poll every :data:`_POLL_EXIT` notices.
    Cancelling it stops the watch."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    pidfd = _pidfd(proc.pid)

    def check() -> None:
        if exited.done():
            return
        if proc.poll() is not None:
            exited.set_result(None)
        elif pidfd is None:
            loop.call_later(_POLL_EXIT, check)

    def unwatch(_: object) -> None:
        if pidfd is not None:
            loop.remove_reader(pidfd)
            os.close(pidfd)

    exited.add_done_callback(unwatch)
    if pidfd is None:
        loop.call_soon(check)
    else:
        loop.add_reader(pidfd, check)
    return exited


def _pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``, or None where the kernel or a sandbox refuses them (we poll instead)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError) as error:
        log.debug("no pidfd for %d (%s); polling its exit", pid, error)
        return None


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    sink: LineSink,
    plan: StopPlan,
    request: StopRequest | None = None,
    spawned: SpawnHook = lambda _: None,
) -> CommandResult:
    """Run ``argv`` to completion and report how it ended.

    When ``request`` resolves (a timeout, see :func:`stop_after`; a cancel; a shutdown), the
    whole process group is stopped as ``plan`` says. Cancelling this coroutine stops it the
    same way before the cancellation propagates: a child never outlives its run.
    """
    try:
        proc = await spawn(job_popen(argv, env, cwd))
    except OSError as error:
        return CommandResult(exit_code=None, error=f"cannot start {argv[0]!r}: {error.strerror or error}")
    except ValueError as error:  # a NUL byte or "=" in a name: what the kernel cannot be given
        return CommandResult(exit_code=None, error=f"cannot start {argv[0]!r}: {error}")
    spawned(proc.pid)
    child = _Child(proc, sink)
    try:
        stopped = await _wait(child, request, plan)
        await _drain(child, plan.grace)
    finally:
        if proc.returncode is None:
            await asyncio.shield(stop(child, plan))
        child.close()
    return _result(proc.returncode, stopped)


async def spawn(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Spawn in a thread: spawns overlap, and the loop stays free while the kernel execs. The
    only way barto makes a process (a job's command here, a supervised program's too).

    If we are cancelled meanwhile, the child is killed as soon as it exists: never leaked.
    """
    future = asyncio.ensure_future(asyncio.to_thread(popen))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_kill_spawned)
        raise


def job_popen(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> Callable[[], subprocess.Popen[bytes]]:
    """How a job's command is made: its own session (so its own process group: signals reach
    every descendant), output on two pipes."""

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )

    return popen


def program_popen(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    user: str | None,
    umask: int | None,
    stderr_apart: bool,
) -> Callable[[], subprocess.Popen[bytes]]:
    """How a supervised program is made: its own process group (not session: supervisord's
    way), the program's user and umask set in C after the fork, stderr apart or into stdout,
    and stdin a pipe that bartoc keeps open (supervisord's: ``cat`` waits on it instead of
    ending at once on /dev/null)."""

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr_apart else subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            process_group=0,
            user=user,
            umask=umask if umask is not None else -1,
        )

    return popen


def _kill_spawned(future: asyncio.Future[subprocess.Popen[bytes]]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    proc = future.result()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaps it; KILL cannot be ignored, so this returns at once


def _result(returncode: int | None, stopped: StopReason | None) -> CommandResult:
    assert returncode is not None  # the process has been waited for
    if returncode < 0:
        return CommandResult(exit_code=None, signal=-returncode, stopped=stopped)
    return CommandResult(exit_code=returncode, stopped=stopped)


async def _wait(child: _Child, request: StopRequest | None, plan: StopPlan) -> StopReason | None:
    """Wait for the exit or a stop request; on the latter stop the group and say why."""
    waiters: list[asyncio.Future[Any]] = [child.exited] if request is None else [child.exited, request]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if child.exited.done() or request is None:
        return None
    await stop(child, plan)
    return request.result()


def stop_after(request: StopRequest, seconds: float | None) -> asyncio.TimerHandle | None:
    """Resolve ``request`` with :attr:`StopReason.TIMEOUT` after ``seconds`` (never if None).

    Whoever resolves it first wins (a cancel before the timeout stays a cancel).
    """
    if seconds is None:
        return None
    return asyncio.get_running_loop().call_later(seconds, _resolve, request, StopReason.TIMEOUT)


def _resolve(request: StopRequest, reason: StopReason) -> None:
    if not request.done():
        request.set_result(reason)


async def _drain(child: _Child, grace: float) -> None:
    """Read the pipes to EOF; a descendant still holding them gets ``grace`` seconds, then KILL."""
    pending = [pipe.done for pipe in child.pipes]
    _, left = await asyncio.wait(pending, timeout=grace)
    if left:
        child.signal(signal.SIGKILL)
        await asyncio.wait(left, timeout=grace)


async def stop(child: _Child, plan: StopPlan) -> None:
    """Signal the process group, wait ``plan.grace`` seconds, then KILL it; returns once reaped."""
    child.signal(plan.signum)
    try:
        async with asyncio.timeout(plan.grace):
            await asyncio.shield(child.exited)
    except TimeoutError:
        child.signal(signal.SIGKILL)
        await asyncio.shield(child.exited)
    child.signal(signal.SIGKILL)  # descendants that ignored TERM


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (None where /proc cannot tell).

    With the pid it names one process for good: a pid is reused, a (pid, start) pair is not.
    """
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def kill_leftover(pgid: int, ticks: int | None) -> bool:
    """KILL a process group a previous bartoc left running; False if it is gone (or not ours).

    If a process with the group's id exists and started at another time, the id was reused by
    someone else and nothing is sent. A group whose leader is gone keeps its id reserved while
    any member lives, so signalling it then reaches only our leftovers.
    """
    now = start_ticks(pgid)
    if now is not None and ticks is not None and now != ticks:
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True
