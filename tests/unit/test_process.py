"""worker.process with real child processes: output framing, exit reporting, stopping for good."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from barto.model import CONTINUES, ESCAPED, OutputLine, StopReason, Stream, escape_bytes, line_bytes
from barto.worker.process import (
    MAX_LINE_BYTES,
    CommandResult,
    StopPlan,
    StopRequest,
    _Framer,
    kill_leftover,
    run_command,
    start_ticks,
    stop_after,
)

pytestmark = pytest.mark.anyio


class Sink:
    """Collects what a command printed, per stream."""

    def __init__(self) -> None:
        self.lines: dict[Stream, list[str]] = {Stream.STDOUT: [], Stream.STDERR: []}

    def __call__(self, stream: Stream, texts: Sequence[str]) -> None:
        self.lines[stream].extend(texts)


async def sh(
    script: str,
    *,
    timeout: float | None = None,
    stop_wait: float = 1.0,
    request: StopRequest | None = None,
    signum: int = signal.SIGTERM,
) -> tuple[CommandResult, Sink]:
    sink = Sink()
    env = {"PATH": os.environ["PATH"]}
    request = request or asyncio.get_running_loop().create_future()
    stop_after(request, timeout)
    plan = StopPlan(signum=signum, grace=stop_wait)
    result = await run_command(["/bin/sh", "-c", script], env=env, cwd=None, sink=sink, plan=plan, request=request)
    return result, sink


async def bare(argv: list[str], cwd: str | None = None) -> CommandResult:
    return await run_command(argv, env={}, cwd=cwd, sink=Sink(), plan=StopPlan(grace=1))


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def wait_gone(pid: int, limit: float = 5.0) -> bool:
    """Whether ``pid`` is gone within ``limit`` seconds (an orphan is reaped by init, not us)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_exit_code_and_both_streams() -> None:
    result, sink = await sh("echo out; echo err >&2; printf 'no newline'; exit 3")
    assert result == CommandResult(exit_code=3)
    assert sink.lines[Stream.STDOUT] == ["out", "no newline"]
    assert sink.lines[Stream.STDERR] == ["err"]


async def test_signal_death_is_reported_as_the_signal() -> None:
    result, _ = await sh("kill -USR1 $$")
    assert (result.exit_code, result.signal) == (None, 10)


async def test_a_command_that_cannot_start_says_why() -> None:
    result = await bare(["/nonexistent/x"])
    assert result.exit_code is None
    assert result.error is not None
    assert "/nonexistent/x" in result.error


async def test_a_missing_working_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = await bare(["/bin/true"], cwd=str(tmp_path / "gone"))
    assert result.error is not None
    assert "gone" in result.error or "No such file" in result.error


async def test_large_output_arrives_complete_and_in_order() -> None:
    result, sink = await sh("seq 1 200000")
    assert result.exit_code == 0
    assert sink.lines[Stream.STDOUT] == [str(i) for i in range(1, 200_001)]


async def test_crlf_invalid_utf8_and_long_lines() -> None:
    long = MAX_LINE_BYTES + 10
    result, sink = await sh(f"printf 'a\\r\\nb\\377c\\n'; head -c {long} /dev/zero | tr '\\0' x; echo")
    assert result.exit_code == 0
    got = sink.lines[Stream.STDOUT]
    assert got == ["a", "b\\xffc", "x" * MAX_LINE_BYTES, "x" * 10]  # the bad byte escaped, not replaced
    assert [getattr(line, "flags", 0) for line in got] == [0, ESCAPED, CONTINUES, 0]


async def test_timeout_kills_the_forked_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    started = time.monotonic()
    result, _ = await sh(f"sleep 300 & echo $! > {pidfile}; wait", timeout=0.5, stop_wait=1.0)
    assert result.stopped == StopReason.TIMEOUT
    assert result.signal == 15  # the shell died of our TERM
    assert time.monotonic() - started < 5
    assert await wait_gone(int(pidfile.read_text()))


async def test_a_command_ignoring_term_is_killed_after_stop_wait(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    started = time.monotonic()
    result, _ = await sh(f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done", timeout=0.5, stop_wait=0.5)
    assert ready.exists()
    assert result.stopped == StopReason.TIMEOUT
    assert result.signal == 9
    assert 0.9 <= time.monotonic() - started < 5  # timeout + stop_wait, then KILL


async def test_a_stop_request_sends_the_plans_signal_and_says_why(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    request: StopRequest = asyncio.get_running_loop().create_future()
    script = f"trap 'echo got INT; exit 7' INT; touch {ready}; while :; do sleep 0.05; done"
    task = asyncio.ensure_future(sh(script, request=request, signum=signal.SIGINT, timeout=30))
    deadline = time.monotonic() + 5
    while not ready.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    request.set_result(StopReason.CANCEL)
    result, sink = await asyncio.wait_for(task, 10)
    assert (result.exit_code, result.stopped) == (7, StopReason.CANCEL)  # the trap ran: INT, not TERM
    assert sink.lines[Stream.STDOUT] == ["got INT"]


async def test_cancelling_a_run_stops_its_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    task = asyncio.ensure_future(sh(f"sleep 300 & echo $! $$ > {pidfile}; wait", stop_wait=0.5))
    deadline = time.monotonic() + 5
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for pid in map(int, pidfile.read_text().split()):
        assert await wait_gone(pid)


async def test_output_of_a_descendant_holding_the_pipe_does_not_hang_the_run() -> None:
    started = time.monotonic()
    result, sink = await sh("echo parent; (sleep 300; echo never) & exit 0", stop_wait=0.3)
    assert result.exit_code == 0
    assert sink.lines[Stream.STDOUT] == ["parent"]
    assert time.monotonic() - started < 5


def _lines_of(chunks: Sequence[bytes]) -> list[bytes]:
    """The lines of the whole output: split at \n, one trailing \r dropped from each."""
    lines = b"".join(chunks).split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the output ended with a newline: no unfinished last line
    return [line.removesuffix(b"\r") for line in lines]


def _reference(chunks: Sequence[bytes]) -> list[tuple[str, int]]:
    """The rule, line by line: a line longer than the limit becomes pieces, each but the last
    marked CONTINUES; a piece with NUL or bytes that are not UTF-8 is escaped, marked ESCAPED."""
    out = []
    for body in _lines_of(chunks):
        pieces = [body[i : i + MAX_LINE_BYTES] for i in range(0, len(body), MAX_LINE_BYTES)] or [b""]
        for index, piece in enumerate(pieces):
            more = CONTINUES if index < len(pieces) - 1 else 0
            try:
                assert b"\0" not in piece
                out.append((piece.decode(), more))
            except (UnicodeDecodeError, AssertionError):
                out.append((escape_bytes(piece), more | ESCAPED))
    return out


_PIECES = st.sampled_from(
    [
        b"a",
        b"\n",
        b"\r",
        b"\r\n",
        b"\xe2",
        b"\x82\xac",
        b"\xff",
        b"\xc3\xa9",
        b"y" * 40_000,
        b"z" * (MAX_LINE_BYTES - 2),
        b"\0",
        b"\\",
        b"\\x41",
    ]
)


@given(st.lists(st.lists(_PIECES, max_size=8).map(b"".join), max_size=6))
@example([b"z" * MAX_LINE_BYTES + b"\r", b"\n"])  # the \r of a \r\n split from its \n
def test_framing_is_independent_of_how_the_bytes_arrive(chunks: list[bytes]) -> None:
    """Whatever the chunk boundaries, the lines are those of the rule applied to the whole output."""
    framer = _Framer()
    got = [line for chunk in chunks for line in framer.feed(chunk)] + framer.flush()
    assert [(str(line), getattr(line, "flags", 0)) for line in got] == _reference(chunks)


@given(st.lists(st.lists(_PIECES, max_size=8).map(b"".join), max_size=6))
def test_the_original_bytes_of_every_line_can_be_recovered(chunks: list[bytes]) -> None:
    """Joining the pieces and undoing the escapes gives back exactly the bytes of each line."""
    framer = _Framer()
    got = [line for chunk in chunks for line in framer.feed(chunk)] + framer.flush()
    now = datetime.now(UTC)
    recovered, pending = [], b""
    for line in got:
        flags = getattr(line, "flags", 0)
        stored = OutputLine(seq=1, stream=Stream.STDOUT, ts=now, data=str(line), escaped=bool(flags & ESCAPED))
        pending += line_bytes(stored)
        if not flags & CONTINUES:
            recovered.append(pending)
            pending = b""
    assert recovered == _lines_of(chunks)


def test_a_leftover_group_is_killed_only_if_it_is_still_ours() -> None:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        ticks = start_ticks(proc.pid)
        assert ticks is not None
        assert not kill_leftover(proc.pid, ticks + 1)  # same id, another start: a reused pid
        assert proc.poll() is None
        assert kill_leftover(proc.pid, ticks)
        assert proc.wait(5) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
    assert not kill_leftover(proc.pid, ticks)  # gone: nothing to do
