"""Scoped tokens end to end (issue 6 item 5): each role does what it may and is refused the rest."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.harness import Barto, wait_for

TOKENS = {
    "reader": ("read", "r" * 24),
    "ops": ("operate", "o" * 24),
    "boss": ("admin", "b" * 24),
    "w1": ("worker", "1" * 24),
}
LEGACY = "barto-api-key-of-old"


def config(tmp: Path) -> str:
    (tmp / "w2.token").write_text("2" * 24 + "\n")  # a credential from a file, as systemd passes them
    tables = "".join(
        f"[tokens.{name}]\nrole = '{role}'\ntoken = '{secret}'\n" for name, (role, secret) in TOKENS.items()
    )
    schedules = "".join(
        f"[schedules.{w}]\nschedules = [{{ name = 't', on_calendar = '*:*:0/5', cmds = ['true'] }}]\n"
        for w in ("w1", "w2")
    )
    return f"[tokens.w2]\nrole = 'worker'\ntoken_file = '{tmp}/w2.token'\n" + tables + schedules


def as_(barto: Barto, name: str, *args: str) -> tuple[int, str]:
    """barto-cli with the token of ``name``: (exit status, stderr)."""
    barto.use_server(barto.port, f"api_key = '{TOKENS[name][1]}'")
    result = barto.cli(*args)
    return result.returncode, result.stderr


def test_each_role_may_do_its_part_and_no_more(barto: Barto, tmp_path: Path) -> None:
    barto.start_server(config(tmp_path), settings=f"api_key = '{LEGACY}'")
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'")
    barto.start_worker("w2", link=f"api_key = '{'2' * 24}'")
    assert as_(barto, "reader", "runs")[0] == 0
    assert as_(barto, "reader", "query", "-q", "SELECT count(*) FROM runs")[0] == 0
    status, err = as_(barto, "reader", "run-now", "t", "--worker", "w1")
    assert (status, "role read; this needs operate" in err) == (1, True)
    assert as_(barto, "ops", "run-now", "t", "--worker", "w1", "--force")[0] == 0
    add = ("schedules", "add", "w1", "extra", "--cmd", "true", "--cron", "@daily")
    status, err = as_(barto, "ops", *add)
    assert (status, "role operate; this needs admin" in err) == (1, True)
    assert as_(barto, "boss", *add)[0] == 0
    status, err = as_(barto, "w1", "runs")
    assert (status, "worker's credential; it cannot call the API" in err) == (1, True)
    api = f"http://127.0.0.1:{barto.port}/v1/runs"
    assert httpx.get(api).status_code == 401
    assert httpx.get(api, headers={"Authorization": f"Bearer {LEGACY}"}).status_code == 200  # barto's api_key
    assert httpx.get(f"http://127.0.0.1:{barto.port}/healthz").status_code == 200


def test_a_worker_credential_opens_the_door_for_its_own_name_only(barto: Barto, tmp_path: Path) -> None:
    barto.start_server(config(tmp_path))
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w3", wait=False, link=f"api_key = '{TOKENS['w1'][1]}'")  # w1's credential
    barto.start_worker("w4", wait=False, link=f"api_key = '{TOKENS['reader'][1]}'")  # not a worker's
    log = tmp_path / "bartos.log"
    wait_for(lambda: "worker 'w3' presented the credential of worker 'w1'" in log.read_text(), 20, "w3 refused")
    wait_for(lambda: "token 'reader' is not a worker's" in log.read_text(), 20, "w4 refused")
    assert not [c for c in barto.cli_json("clients") if c["connected"]]


def test_secrets_stay_out_of_logs_and_job_environments(barto: Barto, tmp_path: Path) -> None:
    worker_token = TOKENS["w1"][1]
    trace = tmp_path / "job-env"
    path = barto.server_config(
        config(tmp_path).replace("cmds = ['true']", f"cmds = ['env > {trace}']", 1), "verbose = 3\n"
    )
    path.chmod(0o644)  # world-readable, with tokens inside
    barto.start_server()
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w1", settings="verbose = 3", BARTOC_BARTOS__API_KEY=worker_token)
    wait_for(lambda: trace.exists() and trace.stat().st_size > 0, 20, "a run of w1 that dumps its environment")
    assert "BARTO_RUN_ID" in trace.read_text()
    assert worker_token not in trace.read_text()
    assert "BARTOC_" not in trace.read_text()
    assert as_(barto, "reader", "run-now", "t", "--worker", "w1")[0] == 1  # refused: logged, with no token
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("bartos", "w1")}
    assert "DEBUG" in logs["w1"]  # debug logging was on: headers and frames would show up here
    for secret in [s for _, s in TOKENS.values()]:
        assert all(secret not in text for text in logs.values()), secret
    assert "can be read by every user of this machine and holds tokens.boss.token" in logs["bartos"]


def test_program_control_through_the_server_follows_the_roles(barto: Barto, tmp_path: Path) -> None:
    barto.start_server(config(tmp_path))
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    web = "[programs.web]\ncmd = 'sleep'\nargs = ['300']\nstartsecs = 0\n"
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'", settings=web)
    wait_for(lambda: as_(barto, "reader", "ctl", "--worker", "w1", "status", "web")[0] == 0, 20, "status as reader")
    status, err = as_(barto, "reader", "ctl", "--worker", "w1", "stop", "web")
    assert (status, "role read; this needs operate" in err) == (1, True)
    assert as_(barto, "ops", "ctl", "--worker", "w1", "restart", "web")[0] == 0
    status, err = as_(barto, "ops", "ctl", "--worker", "w1", "shutdown")
    assert (status, "role operate; this needs admin" in err) == (1, True)
    assert as_(barto, "reader", "programs")[0] == 0
