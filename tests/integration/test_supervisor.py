"""The supervisor with real processes: supervisord's rules as a user sees them (issue 7)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from barto.config.programs import ProgramDef
from barto.worker.programs.machine import State
from barto.worker.programs.supervisor import Child, Hooks, Supervisor

pytestmark = pytest.mark.anyio


def program(cmd: str, **settings: Any) -> ProgramDef:
    """A program running ``cmd`` through sh."""
    return msgspec.convert({"cmd": "/bin/sh", "args": ["-c", cmd], **settings}, ProgramDef)


@pytest.fixture
async def supervise(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Supervisor]]]:
    """Run a supervisor over the given programs; shut down (and check nothing is left) after."""
    running: list[tuple[Supervisor, asyncio.Task[None]]] = []

    async def start(hooks: Hooks | None = None, **programs: ProgramDef) -> Supervisor:
        env = dict(os.environ) | {"BARTOC_SECRET": "x"}
        supervisor = Supervisor(programs, log_dir=tmp_path / "logs", env=env, hooks=hooks or Hooks())
        running.append((supervisor, asyncio.create_task(supervisor.run())))
        return supervisor

    yield start
    for supervisor, task in running:
        await asyncio.wait_for(supervisor.shutdown(), 30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(check: Callable[[], Any], limit: float = 10.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {limit} s")


def state(supervisor: Supervisor, name: str) -> str:
    return str(supervisor.status(name)[0]["state"])


async def test_a_process_that_lasts_startsecs_runs_and_one_that_does_not_backs_off(supervise: Any) -> None:
    supervisor = await supervise(
        steady=program("sleep 30", startsecs=0.3),
        brief=program("sleep 0.05", startsecs=1, startretries=5),
    )
    await until(lambda: state(supervisor, "steady") == "STARTING")  # autostart; RUNNING only after startsecs
    await until(lambda: state(supervisor, "steady") == "RUNNING")
    await until(lambda: state(supervisor, "brief") == "BACKOFF")
    assert "Exited too quickly" in supervisor.status("brief")[0]["description"]


async def test_failed_starts_end_fatal_after_startretries(supervise: Any) -> None:
    started = time.monotonic()
    supervisor = await supervise(crash=program("exit 0", startsecs=1, startretries=2))
    await until(lambda: state(supervisor, "crash") == "FATAL", 15)
    assert supervisor.status("crash")[0]["restarts"] == 2  # three starts: the first and two retries
    assert time.monotonic() - started >= 3  # waited 1 s, then 2 s, between them


@pytest.mark.parametrize(("code", "restarted"), [(2, False), (3, True)])
async def test_autorestart_unexpected_restarts_only_for_codes_not_in_exitcodes(
    supervise: Any, tmp_path: Path, code: int, restarted: bool
) -> None:
    runs = tmp_path / "runs"
    command = f"echo run >> {runs}; sleep 0.3; exit {code}"
    supervisor = await supervise(job=program(command, startsecs=0.1, autorestart="unexpected", exitcodes=[0, 2]))
    await until(lambda: runs.exists() and len(runs.read_text().split()) >= (2 if restarted else 1), 10)
    await asyncio.sleep(0.8)
    if restarted:
        assert len(runs.read_text().split()) >= 2
    else:
        assert (state(supervisor, "job"), runs.read_text().split()) == ("EXITED", ["run"])


async def test_a_stop_signal_that_is_ignored_is_followed_by_kill_after_stopwaitsecs(
    supervise: Any, tmp_path: Path
) -> None:
    ready = tmp_path / "trapped"  # a TERM before the shell set its trap would simply end it
    command = f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done"
    supervisor = await supervise(stubborn=program(command, startsecs=0, stopwaitsecs=1))
    await until(lambda: state(supervisor, "stubborn") == "RUNNING" and ready.exists())
    began = time.monotonic()
    await supervisor.stop("stubborn")
    took = time.monotonic() - began
    assert state(supervisor, "stubborn") == "STOPPED"
    assert supervisor.status("stubborn")[0]["exit_status"] == -9  # KILLed
    assert 0.9 <= took < 5


async def test_stopasgroup_stops_a_forked_grandchild_too(supervise: Any, tmp_path: Path) -> None:
    pids = tmp_path / "grandchild"
    supervisor = await supervise(parent=program(f"sleep 300 & echo $! > {pids}; wait", startsecs=0, stopasgroup=True))
    grandchild = int(await until(lambda: pids.exists() and pids.read_text().strip()))
    await supervisor.stop("parent")
    await until(lambda: not _alive(grandchild), 5)


async def test_numprocs_makes_named_copies_with_their_numbers_in_the_environment(
    supervise: Any, tmp_path: Path
) -> None:
    out = tmp_path / "env"
    facts = "$BARTO_PROCESS_NAME $BARTO_PROCESS_NUM $BARTO_PROGRAM_NAME $TASKMASTER_ENABLED ${BARTOC_SECRET:-none}"
    command = f'echo "{facts}" >> {out}; sleep 30'
    supervisor = await supervise(web=program(command, numprocs=3, numprocs_start=7, startsecs=0))
    await until(lambda: out.exists() and len(out.read_text().splitlines()) == 3)
    assert [s["name"] for s in supervisor.status("web")] == ["web_07", "web_08", "web_09"]
    assert sorted(out.read_text().splitlines()) == [f"web_0{n} {n} web 1 none" for n in (7, 8, 9)]


async def test_a_program_starts_after_the_ones_it_depends_on_run_and_stops_before_them(
    supervise: Any, tmp_path: Path
) -> None:
    order = tmp_path / "order"
    log = f"echo start $BARTO_PROGRAM_NAME >> {order}; trap 'echo stop $BARTO_PROGRAM_NAME >> {order}; exit 0' TERM; "
    loop = "while :; do sleep 0.05; done"
    supervisor = await supervise(
        app=program(log + loop, startsecs=0.3, depends_on=["db"], priority=1),
        db=program(log + loop, startsecs=0.5, priority=999),
    )
    await until(lambda: state(supervisor, "app") == "RUNNING")
    await supervisor.shutdown()
    assert order.read_text().split("\n")[:-1] == ["start db", "start app", "stop app", "stop db"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_an_update_touches_only_what_changed(supervise: Any) -> None:
    stay, change, drop = program("sleep 300", startsecs=0), program("sleep 300", startsecs=0), program("sleep 300")
    supervisor = await supervise(stay=stay, change=change, drop=drop)
    await until(lambda: all(s["state"] == "RUNNING" for s in supervisor.status()))
    pids = {s["name"]: s["pid"] for s in supervisor.status()}
    new_change = program("sleep 301", startsecs=0)
    done = await supervisor.update({"stay": stay, "change": new_change, "new": program("sleep 300", startsecs=0)})
    assert done == {"added": ["new"], "changed": ["change"], "removed": ["drop"]}
    await until(lambda: all(s["state"] == "RUNNING" for s in supervisor.status()))
    after = {s["name"]: s["pid"] for s in supervisor.status()}
    assert after["stay"] == pids["stay"]  # untouched
    assert after["change"] != pids["change"]  # restarted under its new definition
    assert set(after) == {"stay", "change", "new"}
    assert not _alive(pids["drop"])


async def test_logs_rotate_by_size_keeping_backups_and_every_line_is_handed_on(supervise: Any, tmp_path: Path) -> None:
    """30 lines of 100 bytes into files of at most 1,000 bytes with 2 backups: the newest lines
    are in web.log, the ones before in .1 and .2, the oldest gone; none of them is split."""
    heard: list[tuple[str, str, str]] = []
    hooks = Hooks(output=lambda name, stream, lines: heard.extend((name, stream, line) for line in lines))
    out = tmp_path / "web.log"
    script = "for i in $(seq 10 39); do printf '%-98s\\n' line$i; done; echo oops >&2; sleep 30"
    await supervise(
        hooks,
        web=program(script, stdout=str(out), stdout_logfile_maxbytes="1000", stdout_logfile_backups=2, startsecs=0),
    )
    await until(lambda: len(heard) == 31)
    lines = [f"line{i}".ljust(98) for i in range(10, 40)]
    assert [line for name, stream, line in heard if stream == "stdout"] == lines
    assert ("web", "stderr", "oops") in heard
    files = [out, Path(f"{out}.1"), Path(f"{out}.2")]
    kept = [line for f in reversed(files) for line in f.read_text().splitlines()]
    assert kept == lines[-len(kept) :]  # the newest, in order, nothing torn
    assert all(0 < f.stat().st_size <= 1000 for f in files)
    assert not Path(f"{out}.3").exists()
    assert (tmp_path / "logs" / "web.stderr").read_text() == "oops\n"


async def test_every_state_change_is_told_with_the_state_before(supervise: Any) -> None:
    changes: list[tuple[str, State, State]] = []

    def changed(child: Child, previous: State, state: State) -> None:
        changes.append((child.name, previous, state))

    supervisor = await supervise(Hooks(changed=changed), brief=program("exit 3", startsecs=0, autorestart="false"))
    await until(lambda: state(supervisor, "brief") == "EXITED")
    assert changes == [
        ("brief", State.STOPPED, State.STARTING),
        ("brief", State.STARTING, State.RUNNING),
        ("brief", State.RUNNING, State.EXITED),
    ]
