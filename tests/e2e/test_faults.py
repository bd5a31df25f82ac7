"""Fault injection with real processes: cut and frozen links, kill -9 of the server and of a worker,
restarts with a different config, cancels and worker shutdowns. What counts is what the database
holds once the dust settles: every slot accounted for once, every line of every run, nothing
left running, and the right reason on every miss.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BIN, Barto, free_port, wait_for
from tests.e2e.proxy import Proxy

COUNT = "for i in $(seq 1 40); do echo line $i; sleep 0.1; done"  # 4 s, 40 lines
YEARLY = "*-01-01 00:00:00"  # only manual runs, in practice


def toml(worker: str, *schedules: dict[str, Any]) -> str:
    """A ``[schedules.<worker>]`` table (JSON strings are valid TOML basic strings)."""
    entries = ["  { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in s.items()) + " }," for s in schedules]
    return "\n".join([f"[schedules.{worker}]", "schedules = [", *entries, "]"]) + "\n"


TICKS: list[dict[str, Any]] = [
    {"name": "tick_none", "on_calendar": "*:*:*", "cmds": ["echo tick"], "catchup": "none"},
    {"name": "tick_latest", "on_calendar": "*:*:*", "cmds": ["echo tick"], "catchup": "latest"},
    {"name": "count", "on_calendar": YEARLY, "cmds": [COUNT]},
]


def manual_schedules(tmp: Path, count: str = COUNT, *extra: dict[str, Any]) -> str:
    forks = f"sleep 300 & echo $! > {tmp / 'grandchild'}; echo forked; wait"
    return toml(
        "w1",
        {"name": "count", "on_calendar": YEARLY, "cmds": [count]},
        {"name": "forks", "on_calendar": YEARLY, "cmds": [forks], "stopsignal": "INT", "stopwaitsecs": 2},
        *extra,
    )


@pytest.fixture
def proxy(barto: Barto) -> Iterator[Proxy]:
    link = Proxy(free_port(), barto.port)
    try:
        yield link
    finally:
        link.close()


def manual(barto: Barto, tmp: Path) -> None:
    barto.start_server(manual_schedules(tmp))


def run_now(barto: Barto, schedule: str) -> int:
    run_id: int = barto.cli_json("run-now", schedule, "--worker", "w1")["id"]
    return run_id


def state(barto: Barto, run_id: int) -> tuple[str, str | None]:
    ((value, reason),) = barto.rows("SELECT state, reason FROM runs WHERE id = ?", run_id)
    return value, reason


def wait_state(barto: Barto, run_id: int, *states: str, timeout: float = 30) -> tuple[str, str | None]:
    found: tuple[str, str | None] = wait_for(
        lambda: (s := state(barto, run_id))[0] in states and s, timeout, f"run {run_id} to be {'/'.join(states)}"
    )
    return found


def wait_lines(barto: Barto, run_id: int, count: int) -> None:
    wait_for(lambda: barto.rows("SELECT count(*) FROM run_output WHERE run_id = ?", run_id)[0][0] >= count, 20, "lines")


def assert_complete(barto: Barto, run_id: int, texts: list[str]) -> None:
    """The run's output is exactly ``texts``, numbered 1..N, and its line count says N."""
    rows = barto.rows("SELECT seq, data FROM run_output WHERE run_id = ? ORDER BY seq", run_id)
    assert [seq for seq, _ in rows] == list(range(1, len(texts) + 1))
    assert [data for _, data in rows] == texts
    assert barto.rows("SELECT lines FROM runs WHERE id = ?", run_id) == [(len(texts),)]


def assert_settled(barto: Barto) -> None:
    """No run of a past slot is left between states; every succeeded run has all its lines, contiguous."""
    recent = datetime.now(UTC) - timedelta(seconds=3)  # slots claimed ahead, or running right now
    between = barto.rows("SELECT id, state, slot FROM runs WHERE state IN ('pending', 'dispatched', 'running')")
    assert [row for row in between if _time(row[2]) < recent] == []
    counts = barto.rows(
        "SELECT r.id, r.lines, count(o.seq), coalesce(min(o.seq), 1), coalesce(max(o.seq), 0) FROM runs r "
        "LEFT JOIN run_output o ON o.run_id = r.id WHERE r.state = 'succeeded' GROUP BY r.id"
    )
    for run_id, lines, count, low, high in counts:
        assert (count, low, high) == (lines, 1, lines), f"run {run_id}"


def slots(barto: Barto, schedule: str) -> list[tuple[datetime, int, str, str | None, datetime]]:
    """(slot, attempt, state, reason, created_at) of a schedule's runs, by slot."""
    rows = barto.rows(
        "SELECT slot, attempt, state, reason, created_at FROM runs WHERE schedule = ? ORDER BY slot", schedule
    )
    return [(_time(slot), attempt, st, reason, _time(created)) for slot, attempt, st, reason, created in rows]


def _time(text: Any) -> datetime:
    """A stored time (SQLite keeps UTC without an offset) as an aware datetime."""
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)


def assert_every_second_once(barto: Barto, schedule: str) -> None:
    """From its first slot to its last, every second has exactly one attempt-1 run."""
    found = [slot for slot, attempt, *_ in slots(barto, schedule) if attempt == 1]
    expected = [found[0] + timedelta(seconds=i) for i in range(int((found[-1] - found[0]).total_seconds()) + 1)]
    assert found == expected


def counting_through(barto: Barto, proxy: Proxy, tmp_path: Path) -> int:
    """A worker behind ``proxy`` running the 40-line job, a few lines in; returns the run id."""
    manual(barto, tmp_path)
    barto.start_worker("w1", port=proxy.port)
    run_id = run_now(barto, "count")
    wait_lines(barto, run_id, 5)
    return run_id


def test_a_cut_link_loses_no_line_and_the_run_goes_on(barto: Barto, proxy: Proxy, tmp_path: Path) -> None:
    run_id = counting_through(barto, proxy, tmp_path)
    proxy.cut()
    time.sleep(1.5)  # lines go on being written to the outbox meanwhile
    proxy.restore()
    wait_state(barto, run_id, "succeeded")
    assert_complete(barto, run_id, [f"line {i}" for i in range(1, 41)])
    assert_settled(barto)


def test_a_silent_link_is_detected_within_two_heartbeats(barto: Barto, proxy: Proxy, tmp_path: Path) -> None:
    run_id = counting_through(barto, proxy, tmp_path)
    proxy.freeze()
    wait_for(lambda: not barto.cli_json("clients")[0]["connected"], 10, "the server to drop the silent worker")
    log = tmp_path / "w1.log"
    wait_for(lambda: "server silent for 2 s" in log.read_text(), 10, "the worker to notice the silence")
    proxy.restore()
    barto.wait_connected("w1")
    wait_state(barto, run_id, "succeeded")
    assert_complete(barto, run_id, [f"line {i}" for i in range(1, 41)])


def test_server_killed_and_restarted_with_another_config(barto: Barto) -> None:
    barto.start_server(toml("w1", *TICKS))
    barto.start_worker("w1")
    run_id = run_now(barto, "count")
    wait_for(lambda: len(slots(barto, "tick_latest")) >= 3, 20, "a few ticks")
    barto.kill("bartos")
    time.sleep(4)
    barto.server_config(toml("w1", *TICKS, {"name": "added", "on_calendar": "*:*:*", "cmds": ["true"]}))
    barto.start_server()
    wait_for(lambda: barto.rows("SELECT count(*) FROM runs WHERE schedule = 'added'")[0][0] >= 3, 30, "new schedule")
    wait_state(barto, run_id, "succeeded")
    assert_complete(barto, run_id, [f"line {i}" for i in range(1, 41)])
    barto.kill("w1", signal.SIGTERM)
    for schedule in ("tick_none", "tick_latest"):
        assert_every_second_once(barto, schedule)
    down = [row for row in slots(barto, "tick_none") if row[3] == "server down"]
    assert len(down) >= 2
    assert all(st == "missed" for _, _, st, *_ in down)
    # Claimed after its slot had passed (on time, slots are claimed ahead): the catch-up's rows.
    # All "server down" but the latest, which runs late (the server sends it only once the worker
    # has resent the end of the run before the kill, if that was still in its outbox).
    rows = slots(barto, "tick_latest")
    batch = {r[4] for r in rows if r[3] == "server down" and r[4] > r[0]}  # one claim: one transaction, one time
    assert len(batch) == 1, rows
    caught = [r for r in rows if r[4] in batch]
    assert all(r[3] == "server down" for r in caught[:-1]), caught
    assert (caught[-1][2], caught[-1][3]) == ("succeeded", None), caught
    assert_settled(barto)


def test_a_killed_worker_is_lost_after_lost_after_then_its_restart_says_why(barto: Barto, tmp_path: Path) -> None:
    barto.start_server(manual_schedules(tmp_path, "sleep 2; echo done"), "lost_after_seconds = 2")
    barto.start_worker("w1")
    run_id = run_now(barto, "count")
    wait_state(barto, run_id, "running")
    barto.kill("w1")
    assert wait_state(barto, run_id, "lost") == ("lost", "worker did not come back")
    time.sleep(2)  # the orphaned command ends on its own meanwhile
    barto.start_worker("w1")
    wait_for(
        lambda: state(barto, run_id) == ("lost", "worker restarted while the run was going"),
        20,
        "the restarted worker's report",
    )
    assert_settled(barto)


def forking(barto: Barto, tmp_path: Path) -> tuple[int, int]:
    """The "forks" job running, its sleeping grandchild forked: (run id, grandchild pid)."""
    manual(barto, tmp_path)
    barto.start_worker("w1")
    run_id = run_now(barto, "forks")
    wait_lines(barto, run_id, 1)
    return run_id, int((tmp_path / "grandchild").read_text())


def test_cancel_stops_the_whole_group_with_the_schedules_signal(barto: Barto, tmp_path: Path) -> None:
    run_id, grandchild = forking(barto, tmp_path)
    answer = barto.cli("cancel", str(run_id))
    assert answer.returncode == 0, answer.stderr
    assert wait_state(barto, run_id, "cancelled") == ("cancelled", "cancelled")
    wait_for(lambda: not _alive(grandchild), 10, "the grandchild to be gone")
    again = barto.cli("cancel", str(run_id))
    assert again.returncode == 1
    assert "already ended" in again.stderr


def test_worker_shutdown_stops_its_runs_and_reports_them(barto: Barto, tmp_path: Path) -> None:
    run_id, grandchild = forking(barto, tmp_path)
    barto.kill("w1", signal.SIGTERM)
    assert state(barto, run_id) == ("cancelled", "worker shutdown")  # reported before bartoc exited
    assert not _alive(grandchild)
    assert_complete(barto, run_id, ["forked"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_run_now_honours_overlap_unless_forced_and_backfill_runs_past_slots(barto: Barto, tmp_path: Path) -> None:
    hourly = {"name": "hourly", "on_calendar": "hourly", "cmds": ["echo slot $BARTO_SLOT"]}
    barto.start_server(manual_schedules(tmp_path, COUNT, hourly))
    barto.start_worker("w1")
    first = run_now(barto, "count")
    wait_state(barto, first, "running")
    refused = barto.cli("run-now", "count", "--worker", "w1")
    assert refused.returncode == 1
    assert "skipped" in refused.stdout
    forced = barto.cli_json("run-now", "count", "--worker", "w1", "--force")
    assert wait_state(barto, forced["id"], "running", "succeeded")[0] in ("running", "succeeded")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start, end = (now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=1)).isoformat()
    created = barto.cli_json("backfill", "hourly", "--worker", "w1", "--from", start, "--to", end)
    assert [(r["slot"][:13], r["attempt"], r["trigger"]) for r in created] == [
        ((now - timedelta(hours=h)).isoformat()[:13], 1, "backfill") for h in (3, 2, 1)
    ]
    for run in created:
        wait_state(barto, run["id"], "succeeded")
        assert barto.rows("SELECT data FROM run_output WHERE run_id = ?", run["id"])[0][0].startswith(
            f"slot {run['slot'][:19]}"
        )
    times = [barto.rows("SELECT started_at, finished_at FROM runs WHERE id = ?", r["id"])[0] for r in created]
    assert all(_time(later[0]) >= _time(earlier[1]) for earlier, later in pairwise(times))
    again = barto.cli_json("backfill", "hourly", "--worker", "w1", "--from", start, "--to", end)
    assert again == []  # those slots succeeded: nothing left to backfill


def test_pause_survives_a_restart_and_resume_does_not_flood(barto: Barto) -> None:
    barto.start_server(toml("w1", {"name": "tick", "on_calendar": "*:*:*", "cmds": ["true"]}))
    barto.start_worker("w1")
    wait_for(lambda: len(slots(barto, "tick")) >= 2, 20, "a couple of ticks")
    paused = barto.cli_json("pause", "tick", "--worker", "w1")
    assert (paused["paused"], paused["next_fire"]) == (True, None)
    barto.kill("bartos")
    barto.start_server()
    assert [s["paused"] for s in barto.cli_json("schedules")] == [True]  # remembered across the restart
    count = len(slots(barto, "tick"))
    time.sleep(2.5)
    assert len(slots(barto, "tick")) == count  # nothing fires, nothing is recorded as missed
    resumed = barto.cli_json("resume", "tick", "--worker", "w1")
    assert resumed["paused"] is False
    wait_for(lambda: len(slots(barto, "tick")) >= count + 2, 20, "ticks after the resume")
    barto.kill("bartos")
    barto.start_server()  # catch-up starts from the resume, not from before the pause
    wait_for(lambda: len(slots(barto, "tick")) >= count + 4, 20, "ticks after the restart")
    down = [r[0] for r in slots(barto, "tick") if r[3] == "server down"]
    assert all(slot >= _time(resumed["next_fire"]) for slot in down)  # none from the paused stretch


def test_cleanup_deletes_what_retention_says_and_spares_running_runs(barto: Barto, tmp_path: Path) -> None:
    manual(barto, tmp_path)
    barto.start_worker("w1")
    done = run_now(barto, "forks")
    wait_lines(barto, done, 1)
    barto.cli("cancel", str(done))
    wait_state(barto, done, "cancelled")
    going = run_now(barto, "count")
    wait_state(barto, going, "running")
    plain = barto.cli("cleanup", "--older-than-days", "0")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "deleted 1 runs and 1 output lines\n"
    assert barto.rows("SELECT id FROM runs") == [(going,)]
    wait_state(barto, going, "succeeded")
    on_tty = _on_a_terminal(barto, "cleanup", "--older-than-days", "0")
    assert on_tty.endswith("deleted 1 runs and 40 output lines")  # after the bar, which clears itself
    assert barto.rows("SELECT count(*) FROM runs") == [(0,)]


def _on_a_terminal(barto: Barto, *args: str) -> str:
    """Run barto-cli with its stdout on a pseudo-terminal; returns what it printed, stripped."""
    controller, terminal = pty.openpty()
    command = [str(BIN / "barto-cli"), "-c", str(barto.root / "barto-cli.toml"), *args]
    proc = subprocess.Popen(command, env=barto.env, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(30) == 0
    os.close(controller)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n").strip()


def test_a_worker_tries_its_servers_in_turn(barto: Barto, tmp_path: Path) -> None:
    manual(barto, tmp_path)
    dead = free_port()
    urls = f'urls = ["ws://127.0.0.1:{dead}", "ws://127.0.0.1:{barto.port}/"]'
    barto.start_worker("w1", link=urls)  # the first URL refuses; the second is the server
    run_id = run_now(barto, "forks")
    wait_lines(barto, run_id, 1)
    log = (tmp_path / "w1.log").read_text()
    assert f"cannot connect to ws://127.0.0.1:{dead}/v1/ws/worker" in log
    assert f"connected to ws://127.0.0.1:{barto.port}/v1/ws/worker" in log


def test_out_of_retries_the_worker_exits_non_zero(barto: Barto) -> None:
    barto.start_worker("w1", port=free_port(), wait=False, settings="retry_count = 2")
    status, stderr = barto.wait_exit("w1", 30)
    assert status == 1  # so that a service manager restarts it (barto exited 0)
    assert "gave up after 2 failed connection attempts" in stderr
    assert "Traceback" not in stderr


def test_a_restarted_worker_kills_what_its_killed_predecessor_left_running(barto: Barto, tmp_path: Path) -> None:
    run_id, grandchild = forking(barto, tmp_path)
    barto.kill("w1")  # SIGKILL: bartoc cannot stop anything
    assert _alive(grandchild)  # its own process group outlives it
    barto.start_worker("w1")
    wait_for(lambda: not _alive(grandchild), 10, "the leftover group to be killed")
    assert wait_state(barto, run_id, "lost") == ("lost", "worker restarted while the run was going")
    assert "left running by the previous bartoc" in (tmp_path / "w1.log").read_text()


def test_the_catch_up_run_waits_for_the_end_the_worker_still_owes(barto: Barto) -> None:
    """A run ends while the server is down, so its end waits in the worker's outbox; the slot it
    passed is caught up late once the server is back. The worker resends that end just after
    its hello: the catch-up run must be judged against it (succeeded), not against the stale
    "running" row (skipped for overlap)."""
    slow = {"name": "slow", "on_calendar": "*:*:0/10", "cmds": ["sleep 2"], "catchup": "latest"}
    barto.start_server(toml("w1", slow))
    barto.start_worker("w1")
    wait_for(lambda: barto.rows("SELECT count(*) FROM runs WHERE state = 'running'")[0][0] == 1, 25, "a slow run")
    ((first,),) = barto.rows("SELECT id FROM runs WHERE state = 'running'")
    barto.kill("bartos")
    time.sleep(11)  # the run ends meanwhile, and the next slot passes
    barto.start_server()
    wait_state(barto, first, "succeeded")
    # Pending is the state a run holds while the worker still resends what it owed: wait past it.
    caught = wait_for(
        lambda: [r for r in slots(barto, "slow") if r[4] > r[0] + timedelta(seconds=1) and r[2] != "pending"],
        20,
        "the catch-up run to be judged",
    )
    assert (caught[0][2], caught[0][3]) in {("dispatched", None), ("running", None), ("succeeded", None)}, caught
