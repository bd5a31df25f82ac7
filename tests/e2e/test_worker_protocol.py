"""A real bartoc against a test server that speaks the protocol directly (no bartos), for what a
real server never does on its own: sending a run the worker already has."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from barto.model import Stream
from barto.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Dispatch,
    Finished,
    Hello,
    HostInfo,
    Job,
    Output,
    Rejection,
    Started,
    Welcome,
    decode_to_server,
    decode_to_worker,
    encode,
)
from barto.protocol.keys import encode_key
from barto.protocol.signing import Signer, public_key
from tests.e2e.harness import Barto, free_port, wait_for


async def received(ws: ServerConnection, kind: type, limit: float = 10) -> object:
    """The next message of ``kind`` from the worker (others are passed over)."""
    async with asyncio.timeout(limit):
        while True:
            for message in decode_to_server(await ws.recv()):
                if isinstance(message, kind):
                    return message


@pytest.mark.anyio
async def test_a_run_sent_again_before_it_is_acknowledged_runs_once(barto: Barto, tmp_path: Path) -> None:
    trace = tmp_path / "ran"
    job = Job(run_id=7, schedule="s", slot=datetime.now(UTC), attempt=1, cmds=[f"echo once >> {trace}"])
    done = asyncio.get_running_loop().create_future()

    async def leader(ws: ServerConnection) -> None:
        hello = await received(ws, Hello)
        assert isinstance(hello, Hello)
        welcome = Welcome(
            protocol=PROTOCOL_VERSION, server_version="test", session="s1", heartbeat_seconds=1, timeout_seconds=5
        )
        await ws.send(encode(welcome).decode())
        await ws.send(encode(Dispatch(jobs=[job])).decode())
        await received(ws, Finished)
        await ws.send(encode(Dispatch(jobs=[job])).decode())  # no Ack: the worker still has run 7
        await asyncio.sleep(1.5)
        done.set_result(None)
        await ws.wait_closed()

    port = free_port()
    async with serve(leader, "127.0.0.1", port):
        barto.start_worker("w1", port=port, wait=False)
        await asyncio.wait_for(done, 30)
    assert trace.read_text() == "once\n"


def test_a_worker_cannot_report_the_runs_of_another(barto: Barto, tmp_path: Path) -> None:
    barto.start_server("[schedules.w1]\nschedules = [{ name = 't', on_calendar = '*:*:*', cmds = ['true'] }]\n")
    missed = wait_for(lambda: barto.runs(worker="w1", state="missed"), 10, "a run of w1 (missed: w1 is offline)")
    victim = missed[-1]
    asyncio.run(_report_as(barto.port, "w2", victim["id"]))
    after = barto.cli_json("runs", "--worker", "w1", "--limit", "1000")
    assert next(r for r in after if r["id"] == victim["id"])["state"] == victim["state"]
    assert barto.cli_json("output", str(victim["id"])) == []
    assert barto.cli_json("info")["counters"]["foreign_events"] == 3
    log = (tmp_path / "bartos.log").read_text()
    assert f"worker w2 reported runs that are not its own, ignored: [{victim['id']}]" in log


async def _report_as(port: int, name: str, run_id: int) -> None:
    """Say hello as ``name`` and report run ``run_id`` as started, talking and succeeded."""
    host = HostInfo(hostname="h", os_name="Linux", os_version="1", kernel="6", python="3.11")
    now = datetime.now(UTC)
    events = [
        Started(eid=1, run_id=run_id, ts=now),
        Output(eid=2, run_id=run_id, seq=1, stream=Stream.STDOUT, ts=now, lines=["forged"]),
        Finished(eid=3, run_id=run_id, started_at=now, finished_at=now, lines=1, exit_code=0),
    ]
    async with connect(f"ws://127.0.0.1:{port}/v1/ws/worker") as ws:
        await ws.send(encode(Hello(protocol=PROTOCOL_VERSION, name=name, version="x", host=host)).decode())
        assert isinstance(decode_to_worker(await ws.recv())[0], Welcome)
        for event in events:
            await ws.send(encode(event).decode())
        async with asyncio.timeout(10):
            while not any(isinstance(m, Ack) and m.eid == 3 for m in decode_to_worker(await ws.recv())):
                pass  # acknowledged (so the worker would forget them), not stored


SEED = b"\x01" * 32
PUBLIC = encode_key(public_key(SEED))


@pytest.mark.anyio
async def test_a_worker_with_the_server_key_acts_only_on_fresh_frames_signed_with_it(
    barto: Barto, tmp_path: Path
) -> None:
    trace = tmp_path / "ran"
    signer, forger = Signer(SEED), Signer(b"\x02" * 32)
    reasons: list[str] = []

    def dispatch(run_id: int) -> str:
        job = Job(run_id=run_id, schedule="s", slot=datetime.now(UTC), attempt=1, cmds=[f"echo {run_id} >> {trace}"])
        return encode(Dispatch(jobs=[job])).decode()

    async def leader(ws: ServerConnection) -> None:
        await received(ws, Hello)
        welcome = Welcome(
            protocol=PROTOCOL_VERSION, server_version="t", session="s", heartbeat_seconds=1, timeout_seconds=5
        )
        await ws.send(signer.seal(encode(welcome).decode(), time.time()))
        good = signer.seal(dispatch(1), time.time())
        await ws.send(dispatch(2))  # unsigned
        await ws.send(forger.seal(dispatch(3), time.time()))  # another key
        await ws.send(signer.seal(dispatch(4), time.time() - 120))  # outside the 60 s window
        await ws.send(good)
        await ws.send(good)  # replayed
        while len(reasons) < 4:
            rejection = await received(ws, Rejection)
            assert isinstance(rejection, Rejection)
            reasons.append(rejection.reason)
        await asyncio.sleep(1)  # time for anything wrongly accepted to run
        done.set_result(None)
        await ws.wait_closed()

    done = asyncio.get_running_loop().create_future()
    port = free_port()
    async with serve(leader, "127.0.0.1", port):
        barto.start_worker("w1", port=port, wait=False, settings=f"server_public_key = '{PUBLIC}'")
        await asyncio.wait_for(done, 30)
    assert trace.read_text() == "1\n"
    assert [r.split(":")[0].split(" (")[0] for r in reasons] == [
        "unsigned frame",
        "bad signature",
        "stale frame",
        "replayed frame",
    ]


def test_a_signed_fleet_runs_and_a_worker_with_another_key_runs_nothing(barto: Barto, tmp_path: Path) -> None:
    schedules = "".join(
        f"[schedules.{w}]\nschedules = [{{ name = 't', on_calendar = '*:*:*', cmds = ['true'] }}]\n"
        for w in ("w1", "w2")
    )
    barto.start_server(schedules, settings=f"signing_key = '{encode_key(SEED)}'")
    barto.start_worker("w1", settings=f"server_public_key = '{PUBLIC}'")
    other = encode_key(public_key(b"\x02" * 32))
    barto.start_worker("w2", wait=False, settings=f"server_public_key = '{other}'")
    since = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(("w1",), since), 20, "a signed run on w1")
    log = tmp_path / "w2.log"
    wait_for(lambda: log.exists() and "answer to our hello was rejected: bad signature" in log.read_text(), 20, "w2")
    assert not [r for r in barto.runs(worker="w2") if r["state"] == "succeeded"]
