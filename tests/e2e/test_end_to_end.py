"""bartos + two bartocs + barto-cli as real processes on loopback."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.harness import BIN, Barto, free_port, wait_for

SCHEDULES = """
[schedules.w1]
schedules = [
  { name = "even", on_calendar = "*:*:0/2", cmds = ["seq 1 300", "echo oops >&2", "printf 'bad \\\\377 byte'"] },
  { name = "fail", on_calendar = "*:*:0/3", cmds = ["echo about to fail", "exit 7"] },
]
[schedules.w2]
schedules = [
  { name = "env", on_calendar = "*:*:1/2", cmds = ["env | grep -c '^BARTOC_' || true", "echo run=$BARTO_RUN_ID"] },
  { name = "killed", on_calendar = "*:*:0/3", cmds = ["kill -9 $$"] },
]
"""


def _finished(barto: Barto, schedule: str, count: int) -> list[dict[str, object]]:
    """Runs of ``schedule`` that ran and ended (slots missed while a worker connected are left out)."""
    done = [r for r in barto.runs(schedule=schedule) if r["finished_at"] and r["started_at"]]
    return done if len(done) >= count else []


@pytest.fixture
def running(barto: Barto) -> Barto:
    barto.start_server(SCHEDULES)
    barto.start_worker("w1")
    barto.start_worker("w2", BARTOC_SECRET="hunter2", BARTOC_BARTOS__API_KEY="k")
    return barto


def test_runs_fire_on_their_seconds(running: Barto) -> None:
    """Each run's slot matches its calendar, and it starts within a second of the slot."""
    runs = wait_for(lambda: _finished(running, "even", 3), 30, "three runs of 'even'")
    for run in runs:
        slot = datetime.fromisoformat(run["slot"])
        assert slot.second % 2 == 0
        assert slot.microsecond == 0
        assert 0 <= (datetime.fromisoformat(run["started_at"]) - slot).total_seconds() < 1.0
        assert run["worker"] == "w1"
        assert run["attempt"] == 1
        assert run["state"] == "succeeded"
    odd = wait_for(lambda: _finished(running, "env", 1), 30, "a run of 'env'")
    assert datetime.fromisoformat(odd[0]["slot"]).second % 2 == 1


def test_output_arrives_complete_and_in_order(running: Barto) -> None:
    """Every line of every command is stored once, numbered 1..N in order, bad UTF-8 escaped."""
    run = wait_for(lambda: _finished(running, "even", 1), 30, "a run of 'even'")[0]
    lines = running.cli_json("output", str(run["id"]))
    assert [line["seq"] for line in lines] == list(range(1, 303))
    assert [line["data"] for line in lines[:300]] == [str(i) for i in range(1, 301)]
    assert lines[300] == {**lines[300], "stream": "stderr", "data": "oops"}
    assert lines[301]["data"] == "bad \\xff byte"
    assert lines[301]["escaped"] is True
    assert run["lines"] == 302


def test_failures_and_signal_deaths_are_recorded(running: Barto) -> None:
    """A non-zero exit and a SIGKILL both end as failed runs and show up in `failed`."""
    failed_run = wait_for(lambda: _finished(running, "fail", 1), 30, "a run of 'fail'")[0]
    assert (failed_run["state"], failed_run["exit_code"], failed_run["signal"]) == ("failed", 7, None)
    killed = wait_for(lambda: _finished(running, "killed", 1), 30, "a run of 'killed'")[0]
    assert (killed["state"], killed["exit_code"], killed["signal"]) == ("failed", None, 9)
    assert killed["reason"] == "killed by signal 9"
    listed = {r["id"] for r in running.cli_json("failed")}
    assert {failed_run["id"], killed["id"]} <= listed
    text = running.cli("failed").stdout
    assert "Total failed runs" in text


def test_job_environment_has_no_worker_settings(running: Barto) -> None:
    """BARTOC_* variables of the worker never reach a job; run facts do."""
    run = wait_for(lambda: _finished(running, "env", 1), 30, "a run of 'env'")[0]
    data = [line["data"] for line in running.cli_json("output", str(run["id"]))]
    assert data == ["0", f"run={run['id']}"]


def test_barto_views_answer_barto_queries(running: Barto) -> None:
    """barto's `output` and `exit_status` tables exist as views; writes are refused."""
    wait_for(lambda: _finished(running, "fail", 1), 30, "a run of 'fail'")
    sql = "SELECT cmd_name, exit_code FROM exit_status JOIN output ON output.cmd_uuid = exit_status.cmd_uuid"
    rows = running.cli_json("query", "-q", sql + " WHERE exit_code = 7")["rows"]
    assert rows
    assert all(row == ["fail", 7] for row in rows)
    refused = running.cli("query", "-q", "DELETE FROM runs")
    assert refused.returncode == 1
    assert "only SELECT" in refused.stderr


def test_hot_reload_adds_and_removes_schedules(running: Barto) -> None:
    """Editing the config adds a schedule and stops a removed one; a broken edit changes nothing."""
    wait_for(lambda: _finished(running, "fail", 1), 30, "a run of 'fail'")
    running.server_config(SCHEDULES.replace('name = "fail"', 'name = "added"'))
    wait_for(lambda: _finished(running, "added", 1), 30, "a run of the added schedule")
    names = {s["name"] for s in running.cli_json("schedules")}
    assert "added" in names
    assert "fail" not in names
    before = len(running.runs(schedule="fail"))
    running.server_config(SCHEDULES.replace("*:*:0/2", "*:*:99"))  # invalid: kept out whole
    time.sleep(4)
    assert len(running.runs(schedule="fail")) == before
    assert {s["name"] for s in running.cli_json("schedules")} == names


def test_a_config_caught_half_written_is_not_applied(running: Barto) -> None:
    """An edit that truncates the file, then writes it, must not drop every schedule in between:
    the watcher polls every 0.5 s and only applies a change that held for a poll."""
    names = {s["name"] for s in running.cli_json("schedules")}
    path = running.root / "bartos.toml"
    text = path.read_text()
    for _ in range(3):
        path.write_text("")
        time.sleep(0.3)  # shorter than a poll: seen at most once
        path.write_text(text.replace("*:*:0/2", "*:*:99"))  # and then invalid: rejected whole
        time.sleep(1.2)
        assert {s["name"] for s in running.cli_json("schedules")} == names
    assert "config reload rejected" in (running.root / "bartos.log").read_text()


def test_run_now_dispatches_a_manual_run(running: Barto) -> None:
    """`run-now` creates a manual run that completes like a scheduled one."""
    # --force: "env" fires every other second, and on a loaded machine its run may still go on
    # (run-now would then be skipped by the overlap policy, and exit 1: tested in test_faults.py).
    created = running.cli_json("run-now", "env", "--worker", "w2", "--force")
    run = wait_for(
        lambda: [r for r in running.runs(schedule="env") if r["id"] == created["id"] and r["finished_at"]],
        20,
        "the manual run",
    )[0]
    assert run["trigger"] == "manual"
    assert run["state"] == "succeeded"
    missing = running.cli("run-now", "nope", "--worker", "w2")
    assert missing.returncode == 1
    assert "no schedule named 'nope'" in missing.stderr


def test_a_malformed_frame_closes_only_its_connection(running: Barto) -> None:
    """Garbage on the worker socket gets close code 1008; the server and other workers go on."""
    with connect(f"ws://127.0.0.1:{running.port}/v1/ws/worker") as ws:
        ws.send("{not json")
        with pytest.raises(Exception, match="1008"):
            ws.recv(timeout=5)
    assert httpx.get(f"http://127.0.0.1:{running.port}/healthz").status_code == 200
    assert all(c["connected"] for c in running.cli_json("clients"))


def test_a_second_worker_with_a_live_name_is_refused(running: Barto) -> None:
    """A hello under the name of a connected worker is refused with a reason."""
    hello = (
        '{"type":"hello","protocol":1,"name":"w1","version":"x","host":'
        '{"hostname":"h","os_name":"o","os_version":"v","kernel":"k","python":"p"}}'
    )
    with connect(f"ws://127.0.0.1:{running.port}/v1/ws/worker") as ws:
        ws.send(hello)
        answer = ws.recv(timeout=5)
    assert '"type":"refused"' in str(answer)
    assert "name_in_use" in str(answer)


def test_a_broken_config_names_file_line_and_key(barto: Barto) -> None:
    """bartos exits 2 with file:line: key and no traceback."""
    path = barto.server_config(
        '[schedules.w]\nschedules = [\n  { name = "x", on_calendar = "*-*-* 25:00", cmds = ["true"] },\n]\n'
    )
    result = subprocess.run(
        [str(BIN / "bartos"), "-c", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    line = 1 + path.read_text().splitlines().index('  { name = "x", on_calendar = "*-*-* 25:00", cmds = ["true"] },')
    assert result.returncode == 2
    assert f"{path}:{line}: schedules.w.schedules[0].on_calendar: " in result.stderr
    assert "hour 25 out of range" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_server_on_one_sqlite_database_is_refused(running: Barto) -> None:
    """SQLite is for one server; a second bartos on the same file says so and exits 1."""
    config = running.root / "second.toml"
    text = (running.root / "bartos.toml").read_text().replace(f"port = {running.port}", f"port = {free_port()}")
    config.write_text(text)
    second = subprocess.run(
        [str(BIN / "bartos"), "-c", str(config), "-t", str(running.root / "second.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert "another bartos is serving" in second.stderr
    assert "SQLite is for one server" in second.stderr
    assert all(c["connected"] for c in running.cli_json("clients"))  # the first one goes on


def test_schedules_from_the_api_and_the_file_wins(running: Barto) -> None:
    """API schedules run, survive a restart, cannot touch the file's names, and yield to the file."""
    added = running.cli_json("schedules", "add", "w1", "api-tick", "--on-calendar", "*:*:*", "--cmd", "echo from api")
    assert (added["source"], added["enabled"]) == ("api", True)
    done = wait_for(lambda: [r for r in running.runs(schedule="api-tick") if r["state"] == "succeeded"], 20, "a run")
    assert [line["data"] for line in running.cli_json("output", str(done[0]["id"]))] == ["from api"]
    clash = running.cli("schedules", "add", "w1", "even", "--cron", "* * * * *", "--cmd", "true")
    assert clash.returncode == 1
    assert "defined in the config file" in clash.stderr
    bad = running.cli("schedules", "add", "w1", "broken", "--on-calendar", "*-*-* 25:00", "--cmd", "true")
    assert bad.returncode == 1
    assert "hour 25 out of range" in bad.stderr
    assert running.cli_json("schedules", "disable", "w1", "api-tick")["enabled"] is False
    running.kill("bartos")
    running.start_server()
    listed = {s["name"]: s for s in running.cli_json("schedules")}
    assert (listed["api-tick"]["source"], listed["api-tick"]["enabled"]) == ("api", False)  # kept across restarts
    assert listed["even"]["source"] == "config"
    running.server_config(SCHEDULES.replace('name = "fail"', 'name = "api-tick"'))  # the file now has that name

    def source() -> str | None:
        return {s["name"]: s["source"] for s in running.cli_json("schedules")}.get("api-tick")

    wait_for(lambda: source() == "config", 20, "the file to win")
    gone = running.cli("schedules", "remove", "w1", "api-tick")
    assert gone.returncode == 1
    assert "defined in the config file" in gone.stderr
