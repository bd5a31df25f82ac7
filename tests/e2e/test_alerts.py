"""Alerts end to end: a real bartos and bartoc, a webhook receiver that checks signatures, a
real SMTP server (aiosmtpd) and a command sink, all on loopback."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import Barto, free_port, wait_for
from tests.e2e.receivers import mailbox, sink_command, sunk, webhooks
from tests.e2e.secured import TOKENS
from tests.e2e.secured import settings as token_settings

SECRET = "webhook-secret-0123456789"
NEVER = "2099-01-01 00:00:00"
TOKEN, WORKER_TOKEN = TOKENS["boss"][1], TOKENS["w1"][1]
SETTINGS = token_settings({"boss": TOKENS["boss"], "w1": TOKENS["w1"]})
SETTINGS_W2 = token_settings({"boss": TOKENS["boss"], "w2": TOKENS["w1"]})
FINAL = "('succeeded', 'failed', 'timed_out', 'lost', 'missed', 'skipped', 'cancelled')"


def alert(name: str, on: list[str], *, webhook_port: int | None = None, mail_port: int | None = None,
          sink: Path | None = None, extra: str = "") -> str:  # fmt: skip
    lines = [f"[alerts.{name}]", f"on = {json.dumps(on)}", extra]
    if webhook_port:
        lines.append(
            f'webhook = {{ url = "http://127.0.0.1:{webhook_port}/hook", secret = "{SECRET}", timeout_secs = 5 }}'
        )
    if mail_port:
        mail = f'host = "127.0.0.1", port = {mail_port}, starttls = false, from = "barto@example.test"'
        lines.append(f'email = {{ {mail}, to = ["ops@example.test"], timeout_secs = 5 }}')
    if sink:
        lines.append(f"command = {json.dumps(sink_command(sink))}")
    return "\n".join(lines) + "\n"


def schedules(flag: Path) -> str:
    return f"""
[schedules.w1]
schedules = [
  {{ name = "backup", on_calendar = "{NEVER}", cmds = ["test -f {flag}"] }},
  {{ name = "report", on_calendar = "{NEVER}", cmds = ["exit 1"] }},
]
"""


def start(barto: Barto, settings: str, flag: Path) -> None:
    barto.start_server(schedules(flag), SETTINGS + settings)
    barto.use_server(barto.port, f"api_key = '{TOKEN}'")
    barto.start_worker("w1", link=f"api_key = '{WORKER_TOKEN}'")


def run(barto: Barto, name: str) -> None:
    assert barto.cli("run-now", "-w", "w1", name).returncode == 0
    wait_for(lambda: not barto.rows(f"SELECT id FROM runs WHERE state NOT IN {FINAL}"), 20, f"{name} to end")


def test_a_failure_and_its_recovery_reach_every_channel_once(barto: Barto, tmp_path: Path) -> None:
    flag, sink = tmp_path / "backup-ok", tmp_path / "sink.jsonl"
    with webhooks(SECRET) as hooks, mailbox() as (smtp_port, mails):
        ops = alert("ops", ["failed", "recovered"], webhook_port=hooks.port, mail_port=smtp_port, sink=sink,
                    extra='schedules = ["back*"]')  # fmt: skip
        start(barto, ops, flag)
        run(barto, "report")  # fails, but is not one of the alert's schedules
        run(barto, "backup")  # fails
        wait_for(lambda: hooks.events and mails and sunk(sink), 30, "the failure on every channel")
        flag.touch()
        run(barto, "backup")  # succeeds: a recovery
        wait_for(lambda: len(hooks.events) == 2 and len(mails) == 2 and len(sunk(sink)) == 2, 30, "the recovery")
        run(barto, "backup")  # succeeds again: nothing to say
        wait_for(lambda: barto.rows("SELECT COUNT(*) FROM alerts")[0][0] == 6, 10, "six deliveries recorded")

        for events in (hooks.events, sunk(sink)):
            assert [(e["event"], e["schedule"], e["alert"]) for e in events] == [
                ("failed", "backup", "ops"), ("recovered", "backup", "ops")]  # fmt: skip
            assert events[0]["run"]["state"] == "failed"
            assert events[0]["run"]["exit_code"] == 1
        assert hooks.bad_signatures == 0
        assert hooks.headers[0]["X-Barto-Event"] == "failed"
        assert [m["Subject"] for m in mails] == ["[barto] failed: w1/backup", "[barto] recovered: w1/backup"]
        assert mails[0]["To"] == "ops@example.test"
        assert "exit code 1" in mails[0].get_payload()

        listed = json.loads(barto.cli("alerts", "--json").stdout)
        assert sorted((d["channel"], d["event"], d["state"]) for d in listed) == sorted(
            (c, e, "sent") for c in ("webhook", "email", "command") for e in ("failed", "recovered"))  # fmt: skip
        tested = barto.cli("alerts", "test", "ops")
        assert tested.returncode == 0, tested.stderr
        assert hooks.events_of("test")
        assert sunk(sink)[-1]["test"] is True
        assert barto.cli("alerts", "test", "nope").returncode == 1


def test_repeated_failures_are_throttled_and_counted_in_the_next_message(barto: Barto, tmp_path: Path) -> None:
    with webhooks(SECRET) as hooks:
        start(barto, alert("ops", ["failed"], webhook_port=hooks.port, extra="throttle_secs = 10"), tmp_path / "x")
        for _ in range(3):
            run(barto, "backup")
        wait_for(lambda: len(hooks.events) == 1, 20, "the first failure")
        wait_for(lambda: barto.rows("SELECT COUNT(*) FROM alerts WHERE state = 'throttled'")[0][0] == 2, 10, "2")
        wait_for(lambda: _later(barto, 10.2), 20, "the throttle window to pass")
        run(barto, "backup")
        wait_for(lambda: len(hooks.events) == 2, 20, "the next failure")
        assert [e["suppressed"] for e in hooks.events] == [0, 2]


def _later(barto: Barto, seconds: float) -> bool:
    """Whether ``seconds`` have passed since the first alert was recorded (the store's clock)."""
    (first,) = barto.rows("SELECT MIN(created_at) FROM alerts")[0]
    return (datetime.now(UTC) - datetime.fromisoformat(first).replace(tzinfo=UTC)).total_seconds() > seconds


def test_late_runs_and_offline_workers_with_short_graces(barto: Barto, tmp_path: Path) -> None:
    sink = tmp_path / "sink.jsonl"
    settings = alert("watch", ["late", "worker_offline", "recovered"], sink=sink,
                     extra="late_secs = 1\noffline_secs = 1\nthrottle_secs = 0")  # fmt: skip
    held = '{ name = "held", on_calendar = "*-*-* 00:00:00", cmds = ["true"], offline = "queue", queue_ttl = 31536000 }'
    barto.start_server(f"[schedules.w2]\nschedules = [{held}]\n", SETTINGS_W2 + settings)
    barto.use_server(barto.port, f"api_key = '{TOKEN}'")
    barto.start_worker("w2", link=f"api_key = '{WORKER_TOKEN}'")
    barto.kill("w2", signal.SIGKILL)
    wait_for(lambda: [e for e in sunk(sink) if e["event"] == "worker_offline"], 30, "w2 reported offline")
    backfill = barto.cli(
        "backfill", "-w", "w2", "held", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"
    )
    assert backfill.returncode == 0, backfill.stderr  # held pending for w2: not started, so late
    wait_for(lambda: [e for e in sunk(sink) if e["event"] == "late"], 30, "the held run reported late")
    barto.start_worker("w2", link=f"api_key = '{WORKER_TOKEN}'")
    back = [("recovered", "w2"), ("recovered", "w2/held")]  # the worker, and the late run done at last
    wait_for(lambda: all(k in [(e["event"], e["subject"]) for e in sunk(sink)] for k in back), 30, "w2 back")
    kinds = [(e["event"], e["subject"]) for e in sunk(sink)]
    assert sorted(kinds) == sorted([("worker_offline", "w2"), ("late", "w2/held"), *back])
    late: dict[str, Any] = next(e for e in sunk(sink) if e["event"] == "late")
    assert late["schedule"] == "held"
    assert late["run"]["state"] == "pending"


def test_a_delivery_recorded_before_a_kill_9_is_sent_after_the_restart(barto: Barto, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: the first attempts fail
    start(barto, alert("ops", ["failed"], webhook_port=port), tmp_path / "x")
    run(barto, "backup")
    wait_for(lambda: barto.rows("SELECT attempts FROM alerts WHERE state = 'pending' AND attempts > 0"), 30,
             "a failed attempt")  # fmt: skip
    barto.kill("bartos", signal.SIGKILL)
    with webhooks(SECRET, port) as hooks:
        barto.start_server()
        wait_for(lambda: hooks.events, 40, "the delivery after the restart")
        wait_for(lambda: barto.rows("SELECT state FROM alerts") == [("sent",)], 10, "recorded as sent")
        assert [e["event"] for e in hooks.events] == ["failed"]


def test_a_run_far_past_its_usual_duration_and_a_fatal_program(barto: Barto, tmp_path: Path) -> None:
    sink, duration = tmp_path / "sink.jsonl", tmp_path / "duration"
    duration.write_text("0.1")
    settings = alert("watch", ["stuck", "program_fatal"], sink=sink, extra="stuck_factor = 3")
    varies = f'{{ name = "varies", on_calendar = "{NEVER}", cmds = ["sleep $(cat {duration})"] }}'
    programs = "[programs.w1.crashy]\ncmd = 'false'\nstartsecs = 1\nstartretries = 0\nautorestart = false\n"
    barto.start_server(f"[schedules.w1]\nschedules = [{varies}]\n{programs}", SETTINGS + settings)
    barto.use_server(barto.port, f"api_key = '{TOKEN}'")
    barto.start_worker("w1", link=f"api_key = '{WORKER_TOKEN}'")
    for _ in range(5):  # the usual: about 0.1 s
        run(barto, "varies")
    duration.write_text("60")
    assert barto.cli("run-now", "-w", "w1", "varies").returncode == 0
    wait_for(lambda: [e for e in sunk(sink) if e["event"] == "stuck"], 30, "the long run reported stuck")
    wait_for(lambda: [e for e in sunk(sink) if e["event"] == "program_fatal"], 30, "crashy reported FATAL")
    stuck = next(e for e in sunk(sink) if e["event"] == "stuck")
    assert (stuck["schedule"], stuck["run"]["state"]) == ("varies", "running")
    assert "p95" in stuck["message"]
    fatal = next(e for e in sunk(sink) if e["event"] == "program_fatal")
    assert (fatal["subject"], fatal["program"]) == ("w1/crashy", "crashy")
    assert [e["event"] for e in sunk(sink)].count("stuck") == 1  # once, however long it goes on
    assert barto.cli("cancel", str(stuck["run"]["id"])).returncode == 0


def test_a_failover_does_not_send_an_alert_twice(on_postgresql: Barto, tmp_path: Path) -> None:
    """The new leader looks back ten minutes and finds the failures the old one reported: the
    store's unique key makes them the same rows, so nothing is sent again (that key is tested on
    every backend in tests/integration/test_store.py)."""
    barto = on_postgresql
    with webhooks(SECRET) as hooks:
        ops = alert("ops", ["failed"], webhook_port=hooks.port, extra="throttle_secs = 0")
        ports = {"a": barto.port, "b": free_port()}
        barto.use_server(ports["a"], f"api_key = '{TOKEN}'")
        for name, port in ports.items():
            barto.start_server(schedules(tmp_path / "x"), SETTINGS + ops, name=name, port=port)
            if name == "a":
                wait_for(lambda: _role(barto) == "leader", 15, "a to lead")
        urls = ", ".join(f"'ws://127.0.0.1:{port}'" for port in ports.values())
        barto.start_worker("w1", link=f"api_key = '{WORKER_TOKEN}'\nurls = [{urls}]")
        for _ in range(3):
            assert barto.cli("run-now", "-w", "w1", "report").returncode == 0
        wait_for(lambda: len(hooks.events) == 3, 30, "three failures delivered by a")
        assert [_leader_metric(port) for port in ports.values()] == [1.0, 0.0]  # each instance its own /metrics
        barto.kill("a", signal.SIGKILL)
        barto.use_server(ports["b"], f"api_key = '{TOKEN}'")
        wait_for(lambda: _role(barto) == "leader", 30, "b to lead")
        barto.wait_connected("w1", timeout=30)
        assert barto.cli("run-now", "-w", "w1", "report").returncode == 0
        wait_for(lambda: len(hooks.events) >= 4, 30, "b's own failure delivered")
        time.sleep(3)  # b has looked back over a's failures several times (one look a second)
        runs = [e["run"]["id"] for e in hooks.events]
        assert len(runs) == len(set(runs)) == 4


def _role(barto: Barto) -> str | None:
    """The cluster role of the server barto-cli points at (None: it does not answer)."""
    answer = barto.cli("info", "--json")
    return json.loads(answer.stdout)["cluster"]["role"] if answer.returncode == 0 else None


def _leader_metric(port: int) -> float:
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert answer.status_code == 200, answer.text
    line = next(line for line in answer.text.splitlines() if line.startswith("barto_leader "))
    return float(line.split()[1])
