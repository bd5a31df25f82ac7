"""BTU Scheduler's channels on a real bartos: its tables in a real MariaDB database of the test's
own (created with BTU's schema: Frappe's ``tabBTU Task Schedule``, ``tabBTU Task`` and
``tabSingles``), its Unix socket spoken to as Frappe's SchedulerAPI speaks (bytes, a 0.5 s
wait, one recv), the real Redis of this machine (a database per test) and stock
``rq worker --burst`` running the jobs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncmy
import pytest

from tests.conftest import require_or_skip
from tests.databases import MARIADB
from tests.e2e.harness import BIN, Barto, free_port, wait_for
from tests.e2e.rqkit import Rq, leads, reachable

SCHEMA = [
    """CREATE TABLE `tabBTU Task Schedule` (
        name varchar(140) NOT NULL PRIMARY KEY, creation datetime(6), modified datetime(6),
        modified_by varchar(140), owner varchar(140), docstatus int NOT NULL DEFAULT 0, idx int NOT NULL DEFAULT 0,
        task varchar(140), task_description varchar(140), enabled int(1) NOT NULL DEFAULT 0,
        queue_name varchar(140) DEFAULT 'default', redis_job_id varchar(140), argument_overrides longtext,
        schedule_description varchar(140), cron_string varchar(140), run_frequency varchar(140),
        day_of_week varchar(140), day_of_month int, month varchar(140), hour int, minute int
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `tabBTU Task` (
        name varchar(140) NOT NULL PRIMARY KEY, creation datetime(6), modified datetime(6),
        modified_by varchar(140), owner varchar(140), docstatus int NOT NULL DEFAULT 0, idx int NOT NULL DEFAULT 0,
        desc_short varchar(140), desc_long longtext, arguments longtext, function_string varchar(140),
        max_task_duration varchar(140), is_transient int(1) NOT NULL DEFAULT 0, repeat_count int
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `tabSingles` (
        doctype varchar(140), field varchar(140), value longtext, KEY singles_doctype_field_index (doctype, field)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
]


class Frappe:
    """A Frappe site's database with BTU's tables, made and dropped by the test."""

    def __init__(self) -> None:
        self.name = f"btu_{uuid.uuid4().hex[:12]}"
        self.url = f"mysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{self.name}"

    def sql(self, statement: str, *params: Any, database: bool = True) -> None:
        asyncio.run(self._sql(statement, params, database))

    async def _sql(self, statement: str, params: tuple[Any, ...], database: bool) -> None:
        conn = await asyncmy.connect(**MARIADB, **({"database": self.name} if database else {}), autocommit=True)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(statement, params or None)
        finally:
            conn.close()

    def task(self, name: str, function: str, arguments: str = "", duration: str = "600") -> None:
        self.sql(
            "INSERT INTO `tabBTU Task` (name, docstatus, desc_short, arguments, function_string, max_task_duration)"
            " VALUES (%s, 1, %s, %s, %s, %s)",
            name, f"task {name}", arguments, function, duration,
        )  # fmt: skip

    def schedule(self, name: str, task: str, cron: str, *, enabled: int = 1, overrides: str = "") -> None:
        self.sql(
            "INSERT INTO `tabBTU Task Schedule` (name, task, task_description, enabled, queue_name,"
            " argument_overrides, cron_string, run_frequency) VALUES (%s, %s, %s, %s, 'default', %s, %s, 'Cron Style')",
            name, task, f"schedule {name}", enabled, overrides, cron,
        )  # fmt: skip

    def zone(self, name: str) -> None:
        self.sql(
            "INSERT INTO tabSingles (doctype, field, value) VALUES ('BTU Configuration', 'cron_time_zone', %s)", name
        )


@pytest.fixture
def frappe() -> Iterator[Frappe]:
    made = Frappe()
    try:
        made.sql(f"CREATE DATABASE {made.name}", database=False)
    except OSError:
        require_or_skip(False, f"MariaDB at {MARIADB['host']}:{MARIADB['port']}")
    try:
        for statement in SCHEMA:
            made.sql(statement)
        yield made
    finally:
        made.sql(f"DROP DATABASE {made.name}", database=False)


def start(barto: Barto, rq: Rq, frappe: Frappe, extra: str = "", refresh: float = 3600) -> Path:
    """bartos with ``[btu]`` on ``frappe``'s tables; its socket path."""
    path = barto.root / "btu.sock"
    btu = (
        f"[btu]\nsocket_path = '{path}'\ndatabase_url = '{frappe.url}'\n"
        f"full_refresh_interval_secs = {refresh}\n{extra}\n"
    )
    barto.start_server("", f"[redis.default]\nurl = '{rq.url}'\n{btu}")
    wait_for(lambda: path.exists(), 20, "the BTU socket")
    wait_for(lambda: barto.cli_json("btu")["last"] is not None, 20, "the leader's first read of the table")
    return path


def btu_client(path: Path, message: bytes) -> str:
    """Frappe's SchedulerAPI: connect, send without a delimiter, wait half a second, one recv(2048)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.send(message)
        time.sleep(0.5)
        return sock.recv(2048).decode()


def request(kind: str, content: str | None = None) -> bytes:
    return json.dumps({"request_type": kind, "request_content": content}).encode()


def rq_schedules(barto: Barto) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in barto.cli_json("schedules", "--worker", "@rq")}


def next_local(zone: str, hour: int, minute: int) -> datetime:
    """The next hh:mm in ``zone`` after now (computed here with zoneinfo, not by barto)."""
    now = datetime.now(ZoneInfo(zone))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > now else (at + timedelta(days=1)).replace(hour=hour, minute=minute)


def test_the_table_becomes_schedules_and_a_refresh_applies_only_differences(
    barto: Barto, rq: Rq, frappe: Frappe
) -> None:
    frappe.zone("Europe/Berlin")
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 2, 'b': 3}")
    frappe.task("BTU-00002", "tests.rqtasks.boom")
    frappe.schedule("TS-000001", "BTU-00001", "0 3 * * *")
    frappe.schedule("TS-000002", "BTU-00001", "*/5 * * * 1-5", overrides="{'b': 10}")
    frappe.schedule("TS-000003", "BTU-00002", "0 4 * * *", enabled=0)
    frappe.schedule("TS-000004", "BTU-00002", "61 * * * *")
    frappe.schedule("TS-000005", "BTU-00001", "0 5 * * 0", overrides="{'a': __import__('os')}")
    frappe.schedule("TS-000006", "BTU-00009", "0 6 * * *")
    frappe.schedule("TS-000007", "BTU-00001", "15 7 1 * *")
    start(barto, rq, frappe)

    status = barto.cli_json("btu")
    assert status["schedules"] == ["TS-000001", "TS-000002", "TS-000007"]
    skipped = status["last"]["skipped"]
    assert sorted(skipped) == ["TS-000004", "TS-000005", "TS-000006"]
    assert skipped["TS-000004"].startswith("cron_string:")
    assert skipped["TS-000005"].startswith("argument_overrides: not a Python literal")
    assert skipped["TS-000006"] == "task: no BTU Task named 'BTU-00009'"
    listed = rq_schedules(barto)
    assert listed["TS-000001"]["timezone"] == "Europe/Berlin"
    fires = datetime.fromisoformat(listed["TS-000001"]["next_fire"])
    assert fires == next_local("Europe/Berlin", 3, 0).astimezone(UTC)
    unchanged_before = listed["TS-000007"]["next_fire"]

    frappe.sql("UPDATE `tabBTU Task Schedule` SET cron_string = '30 4 * * *' WHERE name = 'TS-000001'")
    frappe.sql("DELETE FROM `tabBTU Task Schedule` WHERE name = 'TS-000002'")
    frappe.sql("UPDATE `tabBTU Task Schedule` SET cron_string = '1 * * * *' WHERE name = 'TS-000004'")
    frappe.schedule("TS-000008", "BTU-00002", "0 0 * * 0")
    done = barto.cli("btu", "refresh", "--json")
    assert done.returncode == 1, done.stderr  # rows were skipped: the exit says so
    report = json.loads(done.stdout)
    assert (report["added"], report["changed"], report["removed"]) == (["TS-000004", "TS-000008"], ["TS-000001"],
                                                                        ["TS-000002"])  # fmt: skip
    assert report["unchanged"] == 1
    assert sorted(report["skipped"]) == ["TS-000005", "TS-000006"]
    listed = rq_schedules(barto)
    assert sorted(listed) == ["TS-000001", "TS-000004", "TS-000007", "TS-000008"]
    assert datetime.fromisoformat(listed["TS-000001"]["next_fire"]) == next_local("Europe/Berlin", 4, 30).astimezone(
        UTC
    )
    assert listed["TS-000007"]["next_fire"] == unchanged_before
    log = (barto.root / "bartos.log").read_text()
    assert "BTU refresh (all): added ['TS-000004', 'TS-000008'], changed ['TS-000001'], removed ['TS-000002']" in log
    assert "BTU Task Schedule TS-000005 skipped: argument_overrides" in log

    # the task's arguments with the schedule's overrides, enqueued at a run and run by a stock worker
    frappe.sql("UPDATE `tabBTU Task Schedule` SET argument_overrides = %s WHERE name = 'TS-000007'", "{'b': 40}")
    barto.cli_json("btu", "refresh", "TS-000007")
    run = rq.run("TS-000007")
    wait_for(lambda: rq.state(run["id"])["state"] == "dispatched", 20, "the job to be enqueued")
    require_or_skip(bool(shutil.which("uvx")), "uvx, to run rq 2.12")
    rq.work("rq2")  # the last 2.x runs what the locked rq 3 enqueued
    ended = rq.ended(run["id"])
    assert (ended["state"], rq.output(run["id"])) == ("succeeded", "42\n")
    (job,) = [j for j in barto.cli_json("rq", "jobs", "--state", "finished") if j["func"] == "tests.rqtasks.add"]
    assert job["id"].startswith("barto-TS-000007-")
    assert rq.redis.hget(f"rq:job:{job['id']}", "timeout") == b"600"  # the task's max_task_duration

    # a restart: the schedules are kept (stored), and the table is read again at once
    frappe.sql("DELETE FROM `tabBTU Task Schedule` WHERE name = 'TS-000008'")
    barto.kill("bartos")
    barto.start_server()
    wait_for(lambda: "TS-000008" not in rq_schedules(barto), 20, "the removed row's schedule to stop")
    assert "TS-000001" in rq_schedules(barto)


def test_the_socket_answers_btus_requests_in_btus_words(barto: Barto, rq: Rq, frappe: Frappe) -> None:
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 1, 'b': 1}")
    for name in ("TS-1", "TS-10", "TS-2"):
        frappe.schedule(name, "BTU-00001", "0 3 * * *")
    path = start(barto, rq, frappe)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o775
    assert btu_client(path, request("ping")) == "pong"
    assert sorted(rq_schedules(barto)) == ["TS-1", "TS-10", "TS-2"]

    # create: the one row is read now, not at the next full refresh
    frappe.sql("UPDATE `tabBTU Task Schedule` SET cron_string = '45 9 * * *' WHERE name = 'TS-2'")
    said = btu_client(path, request("create_task_schedule", "TS-2"))
    assert said == "BTU Scheduler now re-processing Task Schedule TS-2 in Python RQ."
    assert datetime.fromisoformat(rq_schedules(barto)["TS-2"]["next_fire"]) == next_local("UTC", 9, 45)
    frappe.schedule("TS-3", "BTU-00001", "0 1 * * *")
    assert btu_client(path, request("create_task_schedule", "TS-3")).endswith("Task Schedule TS-3 in Python RQ.")
    assert "TS-3" in rq_schedules(barto)

    # cancel: exactly that name (BTU's prefix match also cancelled TS-10)
    said = btu_client(path, request("cancel_task_schedule", "TS-1"))
    assert said == "Successfully cancelled BTU Task Schedule TS-1 in Python RQ."
    assert sorted(rq_schedules(barto)) == ["TS-10", "TS-2", "TS-3"]

    assert btu_client(path, request("reboot")) == "Client message has an unhandled 'request_type': reboot"
    frappe.schedule("TS-4", "BTU-00001", "99 * * * *")
    said = btu_client(path, request("create_task_schedule", "TS-4"))
    assert said.startswith("BTU Scheduler cannot schedule Task Schedule TS-4: cron_string:")
    said = btu_client(path, request("create_task_schedule", "TS-404"))
    assert said == "BTU Scheduler found no enabled Task Schedule TS-404; it is not scheduled."

    hostile = [
        b"hello",
        b"{",
        b"\0" * 16,
        b"[1, 2]",
        b'{"request_type": 7}',
        b"\xff\xfe{}",
        request("create_task_schedule"),
        request("cancel_task_schedule", ""),
        request("create_task_schedule", "TS-1\0; DROP TABLE x"),
        request("create_task_schedule", "../../etc/passwd"),
        request("create_task_schedule", "x" * 900),
        json.dumps({"request_type": "ping", "pad": "x" * 2000}).encode(),
    ]
    for message in hostile:
        said = btu_client(path, message)
        assert said, message[:40]  # always answered (BTU answered some of these with silence)
        assert said != "pong", message[:40]
    assert btu_client(path, request("ping")) == "pong"
    assert sorted(rq_schedules(barto)) == ["TS-10", "TS-2", "TS-3"]
    assert "BTU socket: " in (barto.root / "bartos.log").read_text()

    # a client that sends nothing and one that sends half a request get their answer and go
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.settimeout(10)
        idle.connect(str(path))
        idle.send(b'{"request_type": "pi')
        assert idle.recv(2048).startswith(b"Client message is not a BTU request: not JSON")
    assert btu_client(path, request("ping")) == "pong"


def test_the_socket_takes_our_ndjson_control_for_any_operation(barto: Barto, rq: Rq, frappe: Frappe) -> None:
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 20, 'b': 22}")
    frappe.schedule("TS-000001", "BTU-00001", "0 3 * * *")
    path = start(barto, rq, frappe)
    lines = [
        {"op": "schedules.list", "request": {"worker": "@rq"}},
        {"op": "btu.status"},
        {"op": "no.such"},
        {"op": "runs.follow", "request": {"run_id": 1}},
        {"op": "schedules.list", "request": {"worker": 7}},
        "not an object",
        {"op": "btu.queue_task", "request": {"name": "BTU-00001"}},
    ]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"".join(json.dumps(line).encode() + b"\n" for line in lines) + b"{broken\n")
        reader = sock.makefile("rb")
        answers = [json.loads(reader.readline()) for _ in range(len(lines) + 1)]
    assert [a["ok"] for a in answers] == [True, True, False, False, False, False, True, False], answers
    assert [s["name"] for s in answers[0]["answer"]] == ["TS-000001"]
    assert answers[1]["answer"]["schedules"] == ["TS-000001"]
    assert answers[2]["error"]["code"] == "unknown_operation"
    assert answers[3]["error"]["code"] == "stream_operation"
    assert answers[4]["error"]["kind"] == "invalid"
    assert answers[7]["error"]["code"] == "bad_json"
    queued = answers[6]["answer"]
    assert queued["queue"] == "default"
    rq.work()
    assert rq.redis.hget(f"rq:job:{queued['job_id']}", "status") == b"finished"
    assert btu_client(path, request("ping")) == "pong"


def test_btus_own_config_file_loads_as_is(barto: Barto, rq: Rq, frappe: Frappe) -> None:
    sock = barto.root / "from-file.sock"
    btu_file = barto.root / "btu_scheduler.toml"
    lines = [  # BTU's README sample, with this test's addresses
        "environment_name = 'test'", "full_refresh_internal_secs = 2", "scheduler_polling_interval = 60",
        "time_zone_string = 'America/Los_Angeles'", "tracing_level = 'INFO'",
        "startup_without_database_connections = false", "mysql_user = 'root'", "mysql_password = ''",
        "mysql_host = '127.0.0.1'", "mysql_port = 3306", f"mysql_database = '{frappe.name}'",
        "rq_host = '127.0.0.1'", "rq_port = 6379", f"socket_path = '{sock}'", "webserver_ip = '127.0.0.1'",
        "webserver_port = 8000", "webserver_token = 'token abc:def'",
    ]  # fmt: skip
    btu_file.write_text("\n".join(lines) + "\n")
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 1, 'b': 2}")
    frappe.schedule("TS-000001", "BTU-00001", "0 3 * * *")
    barto.start_server("", f"[redis.default]\nurl = '{rq.url}'\n[btu]\nfile = '{btu_file}'\nredis = 'default'\n")
    wait_for(lambda: sock.exists(), 20, "the socket named by BTU's file")
    status = barto.cli_json("btu")
    assert (status["database"], status["refresh_seconds"]) == (f"mysql://root:***@127.0.0.1:3306/{frappe.name}", 2)
    assert rq_schedules(barto)["TS-000001"]["timezone"] == "America/Los_Angeles"  # tabSingles has none
    frappe.schedule("TS-000002", "BTU-00001", "0 4 * * *")
    wait_for(lambda: "TS-000002" in rq_schedules(barto), 20, "the periodic refresh to read a new row")

    btu_file.write_text(btu_file.read_text().replace("mysql_port = 3306", "mysql_port = 'x'"))
    command = [str(BIN / "bartos"), "-c", str(barto.root / "bartos.toml"), "--check"]
    checked = subprocess.run(command, env=barto.env, capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 2
    assert f"{btu_file}:10: mysql_port" in checked.stderr


def test_an_unreachable_database_changes_nothing_and_says_so(barto: Barto, rq: Rq, frappe: Frappe) -> None:
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 1, 'b': 2}")
    frappe.schedule("TS-000001", "BTU-00001", "0 3 * * *")
    start(barto, rq, frappe)
    assert list(rq_schedules(barto)) == ["TS-000001"]
    frappe.sql(f"DROP DATABASE {frappe.name}", database=False)
    failed = barto.cli("btu", "refresh")
    assert failed.returncode != 0
    assert "cannot read BTU's tables" in failed.stderr
    assert list(rq_schedules(barto)) == ["TS-000001"]
    frappe.sql(f"CREATE DATABASE {frappe.name}", database=False)


def test_a_standby_answers_ping_refuses_changes_and_takes_over_the_table(on_postgresql: Barto, frappe: Frappe) -> None:
    require_or_skip(reachable(6379), "Redis on 127.0.0.1:6379")
    barto, rq = on_postgresql, Rq(on_postgresql)
    frappe.task("BTU-00001", "tests.rqtasks.add", "{'a': 1, 'b': 2}")
    frappe.schedule("TS-000001", "BTU-00001", "0 3 * * *")
    ports, sockets = {"a": barto.port, "b": free_port()}, {}
    try:
        for name, port in ports.items():
            sockets[name] = barto.root / f"{name}.sock"
            btu = f"[btu]\nsocket_path = '{sockets[name]}'\ndatabase_url = '{frappe.url}'\n"
            barto.start_server("", f"lease_seconds = 2\n[redis.default]\nurl = '{rq.url}'\n{btu}", name=name, port=port)
            wait_for(sockets[name].exists, 20, f"{name}'s socket")
            if name == "a":
                wait_for(lambda: "TS-000001" in rq_schedules(barto), 20, "a to read the table")
        assert btu_client(sockets["b"], request("ping")) == "pong"
        said = btu_client(sockets["b"], request("create_task_schedule", "TS-000001"))
        assert said.startswith("BTU Scheduler could not create Task Schedule TS-000001: this server is a standby")
        assert btu_client(sockets["a"], request("create_task_schedule", "TS-000001")).startswith("BTU Scheduler now")

        frappe.schedule("TS-000002", "BTU-00001", "0 4 * * *")
        barto.kill("a", signal.SIGKILL)
        barto.use_server(ports["b"])
        wait_for(lambda: leads(ports["b"]), 20, "b to lead")
        wait_for(lambda: sorted(rq_schedules(barto)) == ["TS-000001", "TS-000002"], 20, "b to read the table")
        said = btu_client(sockets["b"], request("cancel_task_schedule", "TS-000002"))
        assert said == "Successfully cancelled BTU Task Schedule TS-000002 in Python RQ."
    finally:
        rq.close()


def test_a_socket_path_that_cannot_be_made_stops_the_start_naming_the_key(barto: Barto) -> None:
    config = barto.server_config("", "[redis.default]\n[btu]\nsocket_path = '/nonexistent/btu.sock'\n")
    done = subprocess.run([str(BIN / "bartos"), "-c", str(config)], env=barto.env, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert done.returncode == 2
    assert f"{config}:4: btu.socket_path: cannot make a socket in /nonexistent" in done.stderr
