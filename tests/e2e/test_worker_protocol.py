"""A real bartoc against a test server that speaks the protocol directly (no bartos), for what a
real server never does on its own: sending a run the worker already has."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from barto.protocol import PROTOCOL_VERSION, Dispatch, Finished, Hello, Job, Welcome, decode_to_server, encode
from tests.e2e.harness import Barto, free_port

pytestmark = pytest.mark.anyio


async def received(ws: ServerConnection, kind: type, limit: float = 10) -> object:
    """The next message of ``kind`` from the worker (others are passed over)."""
    async with asyncio.timeout(limit):
        while True:
            for message in decode_to_server(await ws.recv()):
                if isinstance(message, kind):
                    return message


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
