"""BTU's rows as schedules, and BTU's config file under ``[btu] file``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from barto.config import ConfigError, load_server, source
from barto.server.btu.rows import MARK, BadRow, Row, schedule

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Europe/Berlin moves to summer time


def row(**changes: Any) -> Row:
    values: dict[str, Any] = {
        "name": "TS-000001", "task": "BTU-00001", "task_description": "nightly", "enabled": 1,
        "queue_name": "long", "argument_overrides": "", "cron_string": "0 3 * * *", "cron_time_zone": None,
        "function_string": "app.jobs.nightly", "arguments": "{'site': 'erp', 'days': (1, 2)}",
        "max_task_duration": "600s",
    }  # fmt: skip
    return Row(**{**values, **changes})


def made(**changes: Any) -> Any:
    return schedule(row(**changes), redis="btu", default_tz="UTC", fallback_tz=None)


def test_a_row_is_an_rq_schedule_with_the_tasks_call() -> None:
    definition = made(argument_overrides="{'days': [7], 'dry_run': True}")
    assert definition.rq is not None
    assert (definition.rq.func, definition.rq.queue, definition.rq.timeout) == ("app.jobs.nightly", "long", 600)
    assert definition.rq.kwargs == {"site": "erp", "days": [7], "dry_run": True}  # the schedule's override wins
    assert definition.rq.meta == {MARK: "TS-000001", "btu_task": "BTU-00001"}
    assert (definition.redis, definition.overlap, definition.cron_dialect) == ("btu", "allow", "cron")


def test_frappes_five_fields_are_vixie_cron_with_sunday_zero() -> None:
    sunday = made(cron_string="0 9 * * 0").spec("@rq", "UTC")
    assert sunday.next_after(NOW) == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)  # 2026-03-29 is a Sunday
    monday = made(cron_string="0 9 * * 1").spec("@rq", "UTC")
    assert monday.next_after(NOW) == datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


def test_the_zone_is_applied_across_a_dst_change() -> None:
    spec = made(cron_time_zone="Europe/Berlin", cron_string="30 3 * * *").spec("@rq", "UTC")
    assert spec.next_after(NOW) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, not BTU's 02:30
    fallback = schedule(row(cron_time_zone=None), redis="btu", default_tz="UTC", fallback_tz="Asia/Tokyo")
    assert fallback.timezone == "Asia/Tokyo"


def test_six_and_seven_fields_are_read_as_btu_padded_them() -> None:
    assert made(cron_string="0 3 * * * 2027").cron_dialect == "jobd"  # minute .. year
    assert made(cron_string="30 0 3 * * * *").cron_dialect == "jobd"  # second .. year


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"cron_string": "61 * * * *"}, "cron_string:"),
        ({"cron_string": "* * *"}, "cron_string: '* * *' has 3 fields"),
        ({"cron_string": None}, "cron_string: '' has 0 fields"),
        ({"cron_time_zone": "Mars/Olympus"}, "cron_time_zone:"),
        ({"function_string": None}, "task: no BTU Task named 'BTU-00001'"),
        ({"task": None}, "task: none set"),
        ({"function_string": "os.system; rm -rf /"}, "task: "),
        ({"queue_name": "a queue"}, "task: "),
        ({"name": "../../etc"}, "name:"),
        ({"name": "TS-1\x00"}, "name:"),
        ({"arguments": "{'a': __import__('os')}"}, "arguments: not a Python literal"),
        ({"arguments": "[1, 2]"}, "arguments: a dict of keyword arguments by name, not list"),
        ({"arguments": "{1: 2}"}, "arguments: a dict of keyword arguments by name"),
        ({"arguments": "{'a': b'raw'}"}, "arguments: bytes values cannot be passed"),
        ({"arguments": "{'a': {1, 2}}"}, "arguments: set values cannot be passed"),
        ({"arguments": "{'a': float('nan')}"}, "arguments: not a Python literal"),
        ({"arguments": "{'a': 1e999}"}, "arguments: float values cannot be passed"),
        ({"argument_overrides": "{" * 100_000}, "argument_overrides: 100000 characters"),
        ({"max_task_duration": "forever"}, "max_task_duration: 'forever' is not"),
        ({"max_task_duration": "0"}, "max_task_duration: '0' is not"),
        ({"max_task_duration": "400d"}, "max_task_duration:"),
    ],
)
def test_a_bad_row_says_which_column_and_why(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(BadRow) as caught:
        made(**changes)
    assert str(caught.value).startswith(says), str(caught.value)


@pytest.mark.parametrize(("given", "seconds"), [("600", 600), ("600s", 600), ("10m", 600), ("1h", 3600), (90, 90),
                                                ("", None), (None, None), ("1.5", 2)])  # fmt: skip
def test_max_task_duration(given: object, seconds: int | None) -> None:
    definition = made(max_task_duration=given)
    assert definition.rq is not None
    assert definition.rq.timeout == seconds


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_btus_own_file_fills_btu_and_makes_its_redis(tmp_path: Path) -> None:
    btu_file = _write(tmp_path / "btu_scheduler.toml", (
        "environment_name = 'prod'\nfull_refresh_internal_secs = 180\ntime_zone_string = 'America/New_York'\n"
        "mysql_user = 'btu'\nmysql_password = 'p@ss/word'\nmysql_host = 'db.local'\nmysql_database = '_site1'\n"
        "rq_host = '10.0.0.5'\nrq_port = 6380\nsocket_path = '/run/btu.sock'\nsocket_file_group_owner = 'www-data'\n"
        "webserver_ip = '127.0.0.1'\nwebserver_port = 8000\nstartup_without_database_connections = true\n"
    ))  # fmt: skip
    bartos = _write(tmp_path / "bartos.toml", f"[btu]\nfile = '{btu_file}'\nsocket_path = '/tmp/ours.sock'\n")
    config = load_server(source("bartos", bartos, {}, {}))
    assert config.btu is not None
    assert config.btu.database_url == "mysql://btu:p%40ss%2Fword@db.local:3306/_site1"
    assert (config.btu.socket_path, config.btu.socket_group) == ("/tmp/ours.sock", "www-data")  # [btu] wins
    assert (config.btu.full_refresh_interval_secs, config.btu.time_zone) == (180, "America/New_York")
    assert (config.btu.redis, config.redis["btu"].url) == ("btu", "redis://10.0.0.5:6380/0")


def test_an_error_in_btus_file_names_its_line_and_key(tmp_path: Path) -> None:
    btu_file = _write(tmp_path / "btu_scheduler.toml", "rq_host = '127.0.0.1'\nrq_port = 70000\n")
    bartos = _write(tmp_path / "bartos.toml", f"[btu]\nfile = '{btu_file}'\n")
    with pytest.raises(ConfigError) as caught:
        load_server(source("bartos", bartos, {}, {}))
    assert str(caught.value).startswith(f"{btu_file}:2: rq_port: must be a port")
    with pytest.raises(ConfigError) as caught:
        load_server(source("bartos", _write(tmp_path / "b.toml", "[btu]\nfile = '/nonexistent/btu.toml'\n"), {}, {}))
    assert "/nonexistent/btu.toml" in str(caught.value)
