"""worker.outbox on a real SQLite file: saved before sent, deleted on ack, back after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from barto.model import Stream
from barto.protocol import Accepted, Finished, Output, Started, decode_to_server
from barto.worker import outbox as outbox_module
from barto.worker.outbox import Outbox, OutboxError

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def output(run_id: int, seq: int, *lines: str) -> Output:
    return Output(run_id=run_id, seq=seq, stream=Stream.STDOUT, ts=NOW, lines=list(lines))


def finished(run_id: int, lines: int) -> Finished:
    return Finished(run_id=run_id, started_at=NOW, finished_at=NOW, lines=lines, exit_code=0)


async def sent(box: Outbox, after: int) -> list[tuple[int, object]]:
    """What the sender would send after ``after``: (eid, decoded message)."""
    items = await asyncio.wait_for(box.after(after), 5)
    return [(eid, decode_to_server(body)[0]) for eid, body in items]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


async def test_events_are_numbered_saved_then_offered_in_order(path: Path) -> None:
    box = Outbox.open(path)
    try:
        box.add(Accepted(run_ids=[7]))
        box.add(Started(run_id=7, ts=NOW))
        box.add(output(7, 1, "a", "b"))
        waiter = asyncio.ensure_future(box.after(0))
        await asyncio.sleep(0.05)
        assert not waiter.done()  # nothing is offered before it is on disk
        await box.flush()
        items = await asyncio.wait_for(waiter, 5)
        assert [eid for eid, _ in items] == [1, 2, 3]
        messages = [decode_to_server(body)[0] for _, body in items]
        assert messages[2] == msgspec.structs.replace(output(7, 1, "a", "b"), eid=3)
        assert await box.known_runs() == [7]
    finally:
        box.close()


async def test_unacknowledged_events_survive_a_restart_and_eids_keep_growing(path: Path) -> None:
    box = Outbox.open(path)
    for i in range(1, 6):
        box.add(output(1, i, f"line {i}"))
    await box.flush()
    box.ack(3)
    await box.flush()  # deletes 1..3
    box.close()

    again = Outbox.open(path)
    try:
        assert [(eid, m.seq) for eid, m in await sent(again, again.acked)] == [(4, 4), (5, 5)]  # type: ignore[attr-defined]
        again.add(output(1, 6, "line 6"))
        await again.flush()
        assert [eid for eid, _ in await sent(again, 5)] == [6]
    finally:
        again.close()

    # even with every row acknowledged and deleted, numbers are never reused
    last = Outbox.open(path)
    try:
        last.ack(6)
        await last.flush()
        last.add(output(1, 7, "line 7"))
        await last.flush()
        assert [eid for eid, _ in await sent(last, 6)] == [7]
    finally:
        last.close()


async def test_a_run_accepted_but_not_finished_is_reported_after_a_restart(path: Path) -> None:
    box = Outbox.open(path)
    box.add(Accepted(run_ids=[1, 2]))
    box.track(1, 101, 5)
    box.track(2, 102, 6)
    box.track(2, 103, 7)  # its second command
    box.add(finished(1, 0))
    await box.flush()
    box.ack(2)
    await box.flush()
    box.close()  # as if killed: run 2 never finished

    again = Outbox.open(path)
    try:
        assert again.interrupted == [2]
        assert again.leftovers == [(103, 7)]  # the group it was in when it died
        assert await again.known_runs() == [2]
        again.add(finished(2, 0))
        await again.flush()
    finally:
        again.close()
    last = Outbox.open(path)
    assert (last.interrupted, last.leftovers) == ([], [])
    last.close()


async def test_the_sender_reads_past_the_memory_budget_from_disk(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "_CACHE_BYTES", 1000)
    monkeypatch.setattr(outbox_module, "_PAGE_BYTES", 2000)
    box = Outbox.open(path)
    try:
        for i in range(1, 201):
            box.add(output(1, i, "x" * 50))
        await box.flush()
        after, seen = 0, []
        while after < 200:
            page = await sent(box, after)
            seen += [eid for eid, _ in page]
            after = page[-1][0]
        assert seen == list(range(1, 201))
    finally:
        box.close()


async def test_settled_waits_for_the_servers_acknowledgement(path: Path) -> None:
    box = Outbox.open(path)
    try:
        box.add(output(1, 1, "a"))
        waiter = asyncio.ensure_future(box.settled())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        box.ack(1)
        await asyncio.wait_for(waiter, 5)
        assert box.idle
    finally:
        box.close()


def test_a_second_worker_on_the_same_file_is_refused(path: Path) -> None:
    box = Outbox.open(path)
    try:
        with pytest.raises(OutboxError, match="in use by another bartoc"):
            Outbox.open(path)
    finally:
        box.close()


def test_a_file_that_is_not_sqlite_is_a_clear_error(path: Path) -> None:
    path.write_bytes(b"redb\x00" * 100)
    with pytest.raises(OutboxError, match="outbox"):
        Outbox.open(path)


async def test_a_run_is_held_until_the_server_has_committed_its_end_even_across_a_restart(path: Path) -> None:
    box = Outbox.open(path)
    box.add(Accepted(run_ids=[7, 8]))
    box.add(Finished(run_id=7, started_at=NOW, finished_at=NOW, lines=0, exit_code=0))  # eid 2
    box.add(Finished(run_id=8, started_at=NOW, finished_at=NOW, lines=0, exit_code=0))  # eid 3
    await box.flush()
    assert (box.holds(7), box.holds(8), box.holds(9)) == (True, True, False)
    box.close()  # nothing acknowledged: both are still this worker's after a restart
    again = Outbox.open(path)
    try:
        assert (again.holds(7), again.holds(8)) == (True, True)
        again.ack(2)
        assert (again.holds(7), again.holds(8)) == (False, True)
        again.ack(3)
        assert not again.holds(8)
    finally:
        again.close()


async def test_owed_is_the_last_event_the_server_has_not_committed_also_after_a_restart(path: Path) -> None:
    box = Outbox.open(path)
    assert (box.owed, box.idle) == (0, True)
    for i in range(1, 4):
        box.add(output(1, i, f"line {i}"))
    assert box.owed == 3  # numbered, not even saved yet
    await box.flush()
    box.ack(2)
    await box.flush()
    assert box.owed == 3
    box.close()

    again = Outbox.open(path)  # the file holds eid 3 only: 1 and 2 were committed
    try:
        assert (again.acked, again.owed, again.idle) == (2, 3, False)
        again.ack(3)
        await again.flush()
        assert (again.owed, again.idle) == (0, True)
    finally:
        again.close()

    empty = Outbox.open(path)  # nothing left to resend, though eids went up to 3
    try:
        assert (empty.acked, empty.owed, empty.idle) == (3, 0, True)
    finally:
        empty.close()


async def test_the_backlog_is_what_the_server_has_not_acknowledged(path: Path) -> None:
    box = Outbox.open(path)
    try:
        assert box.backlog == 0
        for seq in (1, 2, 3):
            box.add(output(7, seq, "x"))
        await box.flush()
        assert box.backlog == 3
        box.ack(2)
        assert box.backlog == 1
        box.ack(3)
        assert box.backlog == 0
    finally:
        box.close()
