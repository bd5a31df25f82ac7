"""`barto-cli calendar` as a user runs it: a subprocess, no server, no config."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-c", "from barto.cli.main import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def test_preview_prints_what_systemd_analyze_prints() -> None:
    """Original and normalized forms, the elapses in local time and in UTC."""
    done = run("calendar", "--base-time", "2025-10-20T12:34:56Z", "--iterations", "2",
               "daily Europe/Berlin")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        "  Original form: daily Europe/Berlin",
        "Normalized form: *-*-* 00:00:00 Europe/Berlin",
        "    Next elapse: Tue 2025-10-21 00:00:00 CEST",
        "       (in UTC): Mon 2025-10-20 22:00:00 UTC",
    ]
    assert "       Iter. #2: Wed 2025-10-22 00:00:00 CEST" in lines


def test_json_and_every_dialect() -> None:
    """--json gives one document; cron, Quartz and barto forms preview too."""
    done = run("calendar", "--json", "--base-time", "2025-10-20T12:34:56Z",
               "*/5 * * * *", "0 0 12 ? * 6L", "*,*,* 10:00:00")  # fmt: skip
    assert done.returncode == 0, done.stderr
    previews = json.loads(done.stdout)
    assert [p["next"][0] for p in previews] == [
        "2025-10-20T12:35:00Z", "2025-10-31T12:00:00Z", "2025-10-21T10:00:00Z"
    ]  # fmt: skip
    assert previews[2]["normalized"] == "*-*-* 10:00:00"


@pytest.mark.parametrize("expr", ["*-13-01", "61 * * * *"])
def test_bad_expression_is_a_clear_error(expr: str) -> None:
    """An invalid expression: a one-line reason on stderr, exit 1, no traceback."""
    done = run("calendar", expr)
    assert done.returncode == 1
    assert "Failed to parse calendar specification" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("program", ["barto.server.main", "barto.worker.main"])
def test_server_and_worker_print_help(program: str) -> None:
    """bartos and bartoc print their help with barto's flags."""
    code = f"import sys; sys.argv[1:] = ['--help']; from {program} import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "usage" in done.stdout.lower()
    assert "--config-absolute-path" in done.stdout
    assert "--tracing-absolute-path" in done.stdout


def test_seed_shows_the_minute_the_server_will_use() -> None:
    """--seed WORKER/SCHEDULE fixes R and H as the server does: the same minute for both forms."""
    from datetime import UTC, datetime

    from barto.calendar import parse

    base = "2025-10-20T12:34:56Z"
    done = run("calendar", "--json", "--base-time", base, "--seed", "w1/backup", "H 10 * * *", "*-*-* 10:R:00")
    assert done.returncode == 0, done.stderr
    first = [p["next"][0] for p in json.loads(done.stdout)]
    server = parse("H 10 * * *", seed="w1/backup").next_after(datetime(2025, 10, 20, 12, 34, 56, tzinfo=UTC))
    assert server is not None
    assert first == [server.isoformat().replace("+00:00", "Z")] * 2
