"""worker.executor: a run's events, its environment, and frames that always fit."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from barto.model import StopReason, Stream
from barto.protocol import MAX_FRAME_BYTES, Finished, Job, Output, Started, encode
from barto.worker.executor import _chunks, execute, job_env, shell

pytestmark = pytest.mark.anyio

SLOT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def job(*cmds: str, **extra: Any) -> Job:
    return Job(run_id=7, schedule="nightly", slot=SLOT, attempt=2, cmds=list(cmds), **extra)


def request() -> asyncio.Future[StopReason]:
    """A stop request nobody resolves (the run ends on its own or by its timeout)."""
    return asyncio.get_running_loop().create_future()


def test_job_env_drops_barto_settings_and_adds_run_facts() -> None:
    base = {"PATH": "/bin", "BARTOC_BARTOS__API_KEY": "secret", "bartos_x": "y", "BARTO_CLI_T": "z", "HOME": "/h"}
    env = job_env(base, job("true", env={"MODE": "fast"}))
    assert env == {
        "PATH": "/bin",
        "HOME": "/h",
        "MODE": "fast",
        "BARTO_RUN_ID": "7",
        "BARTO_SCHEDULE": "nightly",
        "BARTO_SLOT": "2026-11-22T10:00:00Z",
        "BARTO_ATTEMPT": "2",
    }


def test_shell_falls_back_to_bin_sh() -> None:
    assert shell({"SHELL": "/bin/sh"}) == "/bin/sh"
    assert shell({"SHELL": "/no/such/shell"}) == "/bin/sh"
    assert shell({}) == "/bin/sh"


@pytest.mark.parametrize("texts", [["x"] * 300_000, ["\x01" * 60_000] * 40, ["é" * 65_536] * 20])
def test_output_chunks_always_fit_in_a_frame(texts: list[str]) -> None:
    chunks = list(_chunks(texts))
    assert [t for chunk in chunks for t in chunk] == texts
    now = datetime.now(UTC)
    for chunk in chunks:
        message = Output(run_id=1, seq=1, stream=Stream.STDOUT, ts=now, lines=list(chunk))
        assert len(encode(message)) <= MAX_FRAME_BYTES


async def test_a_run_reports_started_numbered_output_and_the_first_failure() -> None:
    events: list[Any] = []
    run = job("echo one; echo two >&2", "exit 4", "echo three; exit 5", env={})
    finished = await execute(run, base_env={"PATH": os.environ["PATH"]}, emit=events.append, request=request())
    assert isinstance(events[0], Started)
    assert events[-1] == finished
    assert isinstance(finished, Finished)
    assert (finished.exit_code, finished.lines, finished.started_at) == (4, 3, events[0].ts)
    numbered = sorted((o.seq + i, line) for o in events if isinstance(o, Output) for i, line in enumerate(o.lines))
    assert [n for n, _ in numbered] == [1, 2, 3]
    assert {line for _, line in numbered} == {"one", "two", "three"}
    assert sum(isinstance(e, Started) for e in events) == 1


async def test_a_run_whose_command_cannot_start_still_finishes() -> None:
    events: list[Any] = []
    finished = await execute(job("true", cwd="/no/such/dir"), base_env={}, emit=events.append, request=request())
    assert events == [finished]
    assert finished.exit_code is None
    assert finished.error is not None


async def test_a_runaway_job_keeps_its_head_and_tail_with_a_marker_between() -> None:
    events: list[Any] = []
    run = job("seq 1 100000", max_output_bytes=1000)
    finished = await execute(run, base_env={"PATH": os.environ["PATH"]}, emit=events.append, request=request())
    outputs = [e for e in events if isinstance(e, Output)]
    numbered = [(o.seq + i, o.stream, line) for o in outputs for i, line in enumerate(o.lines)]
    assert [n for n, _, _ in numbered] == list(range(1, (finished.lines or 0) + 1))  # contiguous, marker included
    texts = [line for _, _, line in numbered]
    (marker_at,) = [i for i, text in enumerate(texts) if text.startswith("[barto: ")]
    dropped = int(texts[marker_at].split()[1])
    assert texts[marker_at] == f"[barto: {dropped} bytes of output dropped]"
    head, tail = texts[:marker_at], texts[marker_at + 1 :]
    assert head == [str(i) for i in range(1, len(head) + 1)]
    assert tail == [str(i) for i in range(100_001 - len(tail), 100_001)]
    assert numbered[marker_at][1] is Stream.STDERR
    kept = sum(len(t) + 1 for t in head + tail)
    assert 900 < kept <= 1000
    assert kept + dropped == len("\n".join(str(i) for i in range(1, 100_001))) + 1  # every byte accounted


async def test_a_timeout_ends_the_whole_run_and_skips_the_commands_after_it(tmp_path: Path) -> None:
    events: list[Any] = []
    marker = tmp_path / "second ran"
    run = job("sleep 0.3", "sleep 30", f"touch '{marker}'", timeout_seconds=1.0, stop_wait_seconds=1.0)
    started = time.monotonic()
    finished = await execute(run, base_env={"PATH": os.environ["PATH"]}, emit=events.append, request=request())
    assert finished.stopped == StopReason.TIMEOUT
    assert finished.signal == 15
    assert 0.9 <= time.monotonic() - started < 5  # the timeout counts across commands
    assert not marker.exists()


async def test_a_cancel_uses_the_jobs_stop_signal_and_wins_over_a_later_timeout() -> None:
    events: list[Any] = []
    stop = request()
    run = job("trap 'exit 3' HUP; echo ready; while :; do sleep 0.05; done", timeout_seconds=30, stop_signal=1)

    def emit(event: Any) -> None:
        events.append(event)
        if isinstance(event, Output) and not stop.done():
            stop.set_result(StopReason.CANCEL)

    finished = await execute(run, base_env={"PATH": os.environ["PATH"]}, emit=emit, request=stop)
    assert (finished.stopped, finished.exit_code) == (StopReason.CANCEL, 3)  # HUP ran the trap


async def test_a_run_stopped_before_its_first_command_runs_nothing() -> None:
    stop = request()
    stop.set_result(StopReason.SHUTDOWN)
    events: list[Any] = []
    finished = await execute(job("echo no"), base_env={}, emit=events.append, request=stop)
    assert events == [finished]
    assert (finished.stopped, finished.exit_code, finished.lines) == (StopReason.SHUTDOWN, None, 0)
