"""A real bartoc against a hostile test server: whatever one message holds, bartoc answers it
(a rejection, a control reply, a run reported finished) and keeps its session and its process.

The messages are drawn by hypothesis from the protocol's own types (well-typed, with hostile
strings and numbers at the edges of their bounds) and from raw JSON (ill-typed); the server
then checks that the worker still runs a plain job and answers a status request.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve

from barto.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Cancel,
    Control,
    ControlReply,
    Dispatch,
    Finished,
    Hello,
    Job,
    Programs,
    ProtocolError,
    Rejection,
    Welcome,
    decode_to_server,
    decode_to_worker,
    encode,
)
from tests.e2e.harness import Barto, free_port

_NASTY = st.sampled_from(["", "\0", "a\0b", "../../etc/passwd", "x" * 5000, "$(echo hi)", "é\udcff"[:1], "=", "A=B"])
_TEXT = st.one_of(_NASTY, st.text(max_size=40))
_ENV = st.dictionaries(_TEXT, _TEXT, max_size=3)
_JOBS = st.builds(
    Job,
    run_id=st.integers(1, 2**63 - 1),
    schedule=_TEXT,
    slot=st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    attempt=st.integers(0, 2**63 - 1),
    cmds=st.lists(st.one_of(_NASTY, st.sampled_from(["true", "exit 3", "kill -9 $$", "echo x"])), max_size=3),
    env=_ENV,
    cwd=st.one_of(st.none(), _NASTY, st.just("/nonexistent")),
    timeout_seconds=st.one_of(st.none(), st.floats(1e-9, 0.5), st.just(366 * 86_400.0)),
    stop_signal=st.integers(1, 64),
    stop_wait_seconds=st.one_of(st.just(0.0), st.floats(0, 0.2), st.just(86_400.0)),
    max_output_bytes=st.one_of(st.none(), st.integers(0, 2**40)),
)
_CONTROL = st.builds(
    Control,
    id=st.integers(-(2**63), 2**63 - 1),
    request=st.dictionaries(
        st.sampled_from(["command", "target", "name", "signal", "bytes", "x"]),
        st.one_of(_TEXT, st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
        max_size=4,
    ),
)
_PROGRAMS = st.builds(
    Programs,
    programs=st.dictionaries(
        _TEXT, st.one_of(st.dictionaries(_TEXT, _TEXT, max_size=2), st.just({"command": "\0"})), max_size=2
    ),
)
_WELL_TYPED = st.one_of(
    st.builds(Dispatch, jobs=st.lists(_JOBS, min_size=1, max_size=2)),
    st.builds(Cancel, run_id=st.integers(1, 2**63 - 1)),
    st.builds(Ack, eid=st.integers(0, 2**63 - 1)),
    _CONTROL,
    _PROGRAMS,
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=8,
)
_ILL_TYPED = st.one_of(
    st.builds(
        lambda t, body: json.dumps({"type": t, **body}),
        st.sampled_from(["dispatch", "cancel", "ack", "control", "programs", "welcome", "x"]),
        st.dictionaries(st.sampled_from(["jobs", "run_id", "eid", "id", "request", "programs"]), _JSON, max_size=3),
    ),
    _JSON.map(json.dumps),
    st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
)
FRAMES = st.lists(st.one_of(_WELL_TYPED.map(lambda m: encode(m).decode()), _ILL_TYPED), min_size=1, max_size=4)


class Worker:
    """The test server's side of one bartoc session."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.finished: set[int] = set()
        self.replies: dict[int, dict[str, Any]] = {}
        self.rejections = 0

    async def pump(self, until: Any, limit: float = 20) -> None:
        """Read the worker's frames (acknowledging its events) until ``until()`` holds."""
        async with asyncio.timeout(limit):
            while not until():
                for message in decode_to_server(await self.ws.recv()):
                    if isinstance(message, Finished):
                        self.finished.add(message.run_id)
                    elif isinstance(message, ControlReply):
                        self.replies[message.id] = message.response
                    elif isinstance(message, Rejection):
                        self.rejections += 1
                    if eid := getattr(message, "eid", 0):
                        await self.ws.send(encode(Ack(eid=eid)).decode())


_probe = iter(range(10**6, 10**7))


async def check_alive(worker: Worker) -> None:
    """The worker still runs a job and answers a control request."""
    run_id, control_id = next(_probe), next(_probe)
    job = Job(run_id=run_id, schedule="probe", slot=datetime.now(UTC), attempt=0, cmds=["true"])
    await worker.ws.send(encode(Dispatch(jobs=[job])).decode())
    await worker.ws.send(encode(Control(id=control_id, request={"command": "status"})).decode())
    await worker.pump(lambda: run_id in worker.finished and control_id in worker.replies)
    assert worker.replies[control_id]["status"] == 200


@pytest.mark.anyio
async def test_bartoc_survives_whatever_one_message_holds(barto: Barto) -> None:
    sessions: asyncio.Queue[Worker] = asyncio.Queue()
    done = asyncio.Event()

    async def leader(ws: ServerConnection) -> None:
        hello = next(m for m in decode_to_server(await ws.recv()) if isinstance(m, Hello))
        welcome = Welcome(
            protocol=PROTOCOL_VERSION,
            server_version="test",
            session=hello.name,
            heartbeat_seconds=5,
            timeout_seconds=60,
        )
        await ws.send(encode(welcome).decode())
        await sessions.put(Worker(ws))
        await done.wait()

    port = free_port()
    async with serve(leader, "127.0.0.1", port, max_size=None):
        barto.start_worker("w1", port=port, wait=False)
        worker = await asyncio.wait_for(sessions.get(), 30)
        examples: list[list[str]] = []

        @settings(max_examples=200, suppress_health_check=list(HealthCheck), database=None, deadline=None)
        @given(FRAMES)
        def collect(frames: list[str]) -> None:
            examples.append(frames)

        collect()
        random.Random(17).shuffle(examples)
        with (barto.root / "sent.jsonl").open("w") as sent:  # to replay a failure
            for index, frames in enumerate(examples):
                for frame in frames:
                    sent.write(json.dumps(frame) + "\n")
                    sent.flush()
                    async with asyncio.timeout(10):  # a worker that stopped reading fails the test
                        await worker.ws.send(frame)
                if index % 10 == 9:
                    await check_alive(worker)
        dispatched = {job.run_id for frames in examples for frame in frames for job in _jobs_of(frame)}
        await worker.pump(lambda: dispatched <= worker.finished, limit=60)  # every run ended, reported
        await check_alive(worker)
        assert sessions.empty()  # never a second session: the first one stayed up
        assert barto._alive("w1")
        done.set()
    log = (barto.root / "w1.log").read_text()
    assert "Task exception was never retrieved" not in log


def _jobs_of(frame: str) -> list[Job]:
    """The jobs of the Dispatch messages of a frame that decodes (the runs the worker must report)."""
    try:
        messages = decode_to_worker(frame)
    except ProtocolError:
        return []
    return [job for m in messages if isinstance(m, Dispatch) for job in m.jobs]
