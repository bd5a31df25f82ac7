"""bartos + bartoc + barto-cli end to end on PostgreSQL and on MariaDB (SQLite: test_end_to_end.py)."""

from __future__ import annotations

from tests.e2e.harness import Barto, wait_for

SCHEDULES = """
[schedules.w1]
schedules = [
  { name = "talk", on_calendar = "*:*:*", cmds = ["seq 1 50", "echo done >&2"] },
  { name = "fail", on_calendar = "*:*:0/2", cmds = ["exit 300"] },
]
"""


def test_runs_output_and_failures_on_a_server_database(on_server_database: Barto) -> None:
    barto = on_server_database
    barto.start_server(SCHEDULES)
    barto.start_worker("w1")
    done = wait_for(lambda: [r for r in barto.runs(schedule="talk") if r["state"] == "succeeded"], 30, "a talk run")
    lines = barto.cli_json("output", str(done[0]["id"]))
    assert [line["seq"] for line in lines] == list(range(1, 52))
    assert [line["data"] for line in lines][:3] == ["1", "2", "3"]
    assert lines[-1]["stream"] == "stderr"
    failed = wait_for(lambda: [r for r in barto.runs(schedule="fail") if r["state"] == "failed"], 30, "a failed run")
    assert failed[0]["exit_code"] == 44  # the shell reports 300 modulo 256
    assert done[0]["slot"].endswith("Z")
    assert barto.cli("failed").returncode == 0
