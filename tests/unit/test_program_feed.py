"""The feed of program news to the server and the server's fleet view: what is bounded, and
how the gaps are told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
import pytest

from barto.config.programs import ProgramDef
from barto.model import Stream
from barto.protocol import Control, ControlReply, HostInfo, ProgramEvents, ProgramOutput, ProgramStates
from barto.server.gateway.fleet import TAIL_LINES, Fleet
from barto.server.gateway.hub import Session
from barto.worker.programs import feed as feed_module
from barto.worker.programs.feed import OUTPUT_BUFFER, Feed
from barto.worker.programs.machine import Process, Rules, State
from barto.worker.programs.supervisor import Child

pytestmark = pytest.mark.anyio


def child(name: str = "web") -> Child:
    rules = Rules(startsecs=1, startretries=3, autorestart="true", exitcodes=frozenset({0}), stopwaitsecs=1)
    return Child(name, name, 0, msgspec.convert({"cmd": "x"}, ProgramDef), Process(rules))


async def test_a_session_starts_with_a_snapshot_then_only_what_changed() -> None:
    web, db = child("web"), child("db")
    feed = Feed(lambda: [web.snapshot(0), db.snapshot(0)])
    feed.connected()
    (first,) = await asyncio.wait_for(feed.take(), 1)
    assert isinstance(first, ProgramStates)
    assert (first.snapshot, [p.name for p in first.programs]) == (True, ["web", "db"])
    feed.changed(web, State.STOPPED, State.STARTING)
    states, events = await asyncio.wait_for(feed.take(), 1)
    assert isinstance(states, ProgramStates)
    assert (states.snapshot, [p.name for p in states.programs]) == (False, ["web"])
    assert isinstance(events, ProgramEvents)
    assert [(e.previous, e.state) for e in events.events] == [("STOPPED", "STARTING")]


async def test_a_crash_loop_reports_a_burst_then_one_a_second_and_counts_the_rest() -> None:
    now = [0.0]
    web = child()
    feed = Feed(list, clock=lambda: now[0])
    for _ in range(50):
        feed.changed(web, State.STARTING, State.RUNNING)
    now[0] = 3.0  # three more tokens
    for _ in range(5):
        feed.changed(web, State.STARTING, State.RUNNING)
    reported = next(m for m in await feed.take() if isinstance(m, ProgramEvents)).events
    assert len(reported) == 20 + 3
    assert [e.suppressed for e in reported[20:]] == [30, 0, 0]  # told with the next one let through


async def test_output_beyond_the_buffer_is_dropped_oldest_first_and_counted() -> None:
    feed = Feed(list)
    line = "x" * 99  # 100 bytes with its newline
    for i in range(OUTPUT_BUFFER // 100 + 500):
        feed.output("web", "stdout", [f"{i:05d}" + line[5:]])
    outputs = [m for m in await feed.take() if isinstance(m, ProgramOutput)]
    assert len(outputs) == 1  # consecutive lines of one stream travel together
    assert outputs[0].dropped == 500 * 100
    assert outputs[0].lines[0].startswith("00500")
    fleet = Fleet()
    fleet.output("w1", outputs[0])
    tail = fleet.tail("w1", "web", 0, 10_000)
    assert len(tail) == TAIL_LINES
    fleet.output("w1", ProgramOutput(name="web", stream=outputs[0].stream, ts=outputs[0].ts, lines=["a"], dropped=7))
    assert [line.text for line in fleet.tail("w1", "web", 0, 2)] == [
        "[barto: 7 bytes of output were not forwarded]",
        "a",
    ]


async def test_output_is_paced_to_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    lines = ["x" * 1023] * 256  # 256 KiB with their newlines
    await Feed(list).pace([ProgramOutput(name="web", stream=Stream.STDOUT, ts=datetime.now(UTC), lines=lines)])
    assert slept == [256 * 1024 / feed_module.OUTPUT_RATE]


async def test_a_control_request_to_a_worker_that_leaves_is_answered_at_once() -> None:
    fleet = Fleet()
    session = Session("w1", "0.1.0", HostInfo(hostname="h", os_name="L", os_version="x", kernel="6", python="3"))
    asking = asyncio.ensure_future(fleet.ask(session, {"command": "stop", "name": "web"}, 60))
    await asyncio.sleep(0)
    sent = session.outbound.get_nowait()
    assert isinstance(sent, Control)
    assert sent.request == {"command": "stop", "name": "web"}
    fleet.answered("w2", ControlReply(id=sent.id, response={"status": 200}))  # not the worker asked: ignored
    fleet.gone("w1")
    assert await asyncio.wait_for(asking, 1) == {"status": 502, "error": {"message": "worker 'w1' disconnected"}}
