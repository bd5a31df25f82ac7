"""bartos + bartoc + barto-cli end to end on PostgreSQL and on MariaDB (SQLite: test_end_to_end.py)."""

from __future__ import annotations

import asyncio
import signal
import subprocess

from tests.databases import create_database, drop_database
from tests.e2e.harness import BIN, Barto, wait_for

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


def _mariadb_server(barto: Barto, database: str, options: str) -> None:
    """A bartos.toml with barto's own [mariadb] table (no [database] url)."""
    text = barto.server_config("").read_text().split("[database]")[0]
    mariadb = f"[mariadb]\nhost = '127.0.0.1'\nusername = 'root'\ndatabase = '{database}'\noptions = '{options}'\n"
    (barto.root / "bartos.toml").write_text(text + mariadb)


def test_barto_s_own_mariadb_options_are_translated(barto: Barto) -> None:
    """`ssl-mode=disabled` (barto's bartos.toml.example) serves; `ssl=true` (its README) asks
    for TLS, which this MariaDB does not offer: a clear error naming the database, no traceback."""
    url = asyncio.run(create_database("mariadb", barto.root))
    database = url.rsplit("/", 1)[1]
    try:
        _mariadb_server(barto, database, "ssl-mode=disabled")
        barto.start_server()
        assert barto.cli_json("schedules") == []
        barto.kill("bartos", signal.SIGTERM)
        _mariadb_server(barto, database, "ssl=true")
        result = subprocess.run(
            [str(BIN / "bartos"), "-c", str(barto.root / "bartos.toml"), "-t", str(barto.root / "x.log")],
            env=barto.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1
        assert "cannot use the database mysql+asyncmy://root:***@127.0.0.1" in result.stderr
        assert "SSL" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        asyncio.run(drop_database("mariadb", url))
