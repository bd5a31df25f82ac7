"""Supervised programs inside a real bartoc (issue 7)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.harness import BIN, Barto, wait_for


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_stopping_bartoc_stops_its_programs_and_leaves_no_child_behind(barto: Barto, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    programs = (
        "[programs.daemon]\ncmd = '/bin/sh'\n"
        f"args = ['-c', 'sleep 300 & echo $$ $! > {pids}; wait']\nstartsecs = 0\n"  # a forked grandchild
    )
    barto.start_worker("w1", wait=False, settings=programs)  # no server needed for programs
    leader, grandchild = (int(p) for p in wait_for(lambda: pids.exists() and pids.read_text().split(), 20, "pids"))
    assert alive(leader)
    assert alive(grandchild)
    assert os.getpgid(grandchild) == leader  # each program leads its own process group
    barto.kill("w1", signal.SIGTERM)
    assert not alive(leader)
    assert not alive(grandchild)
    log = (tmp_path / "w1.log").read_text()
    assert "spawned daemon" in log


def test_the_control_socket_and_barto_cli_ctl(barto: Barto, tmp_path: Path) -> None:
    sock = tmp_path / "bartoc.sock"
    programs = (
        "[programs.web]\ncmd = '/bin/sh'\nargs = ['-c', 'echo hello from $BARTO_PROCESS_NAME; exec sleep 300']\n"
        "numprocs = 2\nstartsecs = 0\n"
        f"[unix_http_server]\nfile = '{sock.name}'\nchmod = 0o600\n"  # relative: beside the config file
    )
    barto.start_worker("w1", wait=False, settings=programs)

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return barto.cli("ctl", "-s", str(sock), *args)

    wait_for(lambda: sock.exists() and "RUNNING" in ctl("status", "web_01").stdout, 20, "web_01 running")
    assert sock.stat().st_mode & 0o777 == 0o600
    states = json.loads(ctl("status", "--json").stdout)
    assert [(p["name"], p["state"]) for p in states] == [("web_00", "RUNNING"), ("web_01", "RUNNING")]
    assert ctl("stop", "web_00").returncode == 0
    assert [p["state"] for p in json.loads(ctl("status", "web", "--json").stdout)] == ["STOPPED", "RUNNING"]
    first = json.loads(ctl("pid", "web_01", "--json").stdout)["web_01"]
    assert ctl("restart", "web_01").returncode == 0
    assert json.loads(ctl("pid", "web_01", "--json").stdout)["web_01"] not in (None, first)
    assert "hello from web_01" in ctl("tail", "web_01").stdout
    missing = ctl("start", "nope")
    assert (missing.returncode, "no program or process named 'nope'" in missing.stderr) == (1, True)
    with socket.socket(socket.AF_UNIX) as raw:  # a malformed line: 400, and the connection goes on
        raw.connect(str(sock))
        lines = raw.makefile("rwb")
        for request in (b"{not json\n", b'{"command": "status", "name": "web_00"}\n'):
            lines.write(request)
            lines.flush()
        assert json.loads(lines.readline())["status"] == 400
        assert json.loads(lines.readline())["content"][0]["state"] == "STOPPED"
    config = tmp_path / "w1.toml"
    config.write_text(config.read_text().replace("numprocs = 2", "numprocs = 1"))
    assert json.loads(ctl("reload", "--json").stdout) == {"added": [], "changed": ["web"], "removed": []}
    wait_for(lambda: "RUNNING" in ctl("status", "web").stdout, 20, "web again, one process")
    config.write_text(config.read_text().replace("numprocs = 1", "numprocs = 0"))
    bad = ctl("reload")
    assert (bad.returncode, "does not load, nothing changed" in bad.stderr) == (1, True)
    assert ctl("shutdown").returncode == 0
    status, _ = barto.wait_exit("w1", 20)
    assert status == 0
    assert not sock.exists()


def test_a_bartoc_restarted_after_kill_9_stops_the_programs_its_predecessor_left(barto: Barto, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    programs = (
        f"[programs.daemon]\ncmd = '/bin/sh'\nargs = ['-c', 'echo $$ >> {pids}; exec sleep 300']\nstartsecs = 0\n"
    )
    barto.start_worker("w1", wait=False, settings=programs)
    first = int(wait_for(lambda: pids.exists() and pids.read_text().split(), 20, "the first program")[0])
    barto.kill("w1")  # SIGKILL: bartoc cannot stop anything
    assert alive(first)  # orphaned, still running
    barto.start_worker("w1", wait=False, settings=programs)
    wait_for(lambda: not alive(first), 20, "the orphan to be killed")
    second = int(wait_for(lambda: len(pids.read_text().split()) == 2 and pids.read_text().split(), 20, "a new one")[1])
    assert alive(second)
    assert f"killed process group {first}, left running by the previous bartoc" in (tmp_path / "w1.log").read_text()


def test_the_ctl_shell_completes_commands_keeps_history_and_survives_mistakes(barto: Barto, tmp_path: Path) -> None:
    sock, history = tmp_path / "w1.sock", tmp_path / "ctl-history"
    programs = (
        "[programs.web]\ncmd = '/bin/sh'\nargs = ['-c', 'exec sleep 300']\nnumprocs = 2\nstartsecs = 0\n"
        f"[unix_http_server]\nfile = '{sock}'\n"
    )
    barto.start_worker("w1", wait=False, settings=programs)
    wait_for(lambda: sock.exists(), 20, "the control socket")
    config = tmp_path / "ctl.toml"
    config.write_text(f"[taskmasterctl]\nserverurl = 'unix://{sock}'\nprompt = 'w1ctl'\nhistory = '{history}'\n")
    with shell(barto, [str(BIN / "barto-cli"), "-c", str(config), "ctl"]) as controller:
        expect(controller, "w1ctl> ")
        os.write(controller, b"bogus\n")
        expect(controller, "unknown command 'bogus'")
        os.write(controller, b"resta\tweb_01\n")  # tab completes "restart " (the terminal echoes it)
        expect(controller, "restart web_01")
        expect(controller, "RUNNING")
        os.write(controller, b"stop web_00\n")
        expect(controller, "STOPPED")
        os.write(controller, b"exit\n")
    assert "restart web_01" in history.read_text()
    assert json.loads(barto.cli("ctl", "-s", str(sock), "status", "web_00", "--json").stdout)[0]["state"] == "STOPPED"


@contextlib.contextmanager
def shell(barto: Barto, command: list[str]) -> Iterator[int]:
    """``command`` on a pseudo-terminal: yields the controlling side; the shell must have
    ended by itself (status 0) when the block is left."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(command, env=barto.env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    try:
        yield controller
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait(10)
        os.close(controller)


def expect(fd: int, text: str, timeout: float = 20) -> str:
    """Read the terminal until ``text`` shows up (bounded in time)."""
    seen, deadline = b"", time.monotonic() + timeout
    while text.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"{text!r} not seen in {timeout} s; got {seen.decode(errors='replace')!r}")
        seen += os.read(fd, 4096)
    return seen.decode(errors="replace")


def test_programs_from_the_server_are_merged_the_local_definition_winning(barto: Barto, tmp_path: Path) -> None:
    sock, marks = tmp_path / "w1.sock", tmp_path / "marks"

    def block(table: str, mark: str) -> str:
        return f"[{table}]\ncmd = '/bin/sh'\nargs = ['-c', 'echo {mark} >> {marks}; exec sleep 300']\nstartsecs = 0\n"

    server_programs = block("programs.w1.remote", "remote-v1") + block("programs.w1.both", "both-from-server")
    path = barto.server_config(server_programs)
    barto.start_server()
    local = (
        block("programs.local", "local")
        + block("programs.both", "both-local")
        + f"[unix_http_server]\nfile = '{sock}'\n"
    )
    barto.start_worker("w1", settings=local)

    def names() -> list[str]:
        result = barto.cli("ctl", "-s", str(sock), "status", "--json")
        return (
            sorted(p["name"] for p in json.loads(result.stdout) if p["state"] == "RUNNING")
            if result.returncode == 0
            else []
        )

    wait_for(lambda: names() == ["both", "local", "remote"], 20, "local, both and the server's program")
    assert sorted(marks.read_text().split()) == ["both-local", "local", "remote-v1"]
    assert (
        "program both is defined here and by the server; the local definition is used"
        in (tmp_path / "w1.log").read_text()
    )
    path.write_text(path.read_text().replace("remote-v1", "remote-v2"))  # the server reloads its file
    wait_for(lambda: "remote-v2" in marks.read_text(), 20, "the changed program restarted")
    assert marks.read_text().split().count("local") == 1  # the others untouched


FLEET = (
    "[programs.web]\ncmd = '/bin/sh'\n"
    "args = ['-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done']\nstartsecs = 0\n"
    "[programs.crash]\ncmd = '/bin/sh'\nargs = ['-c', 'exit 3']\nstartsecs = 1\nstartretries = 1\n"
)


def fleet(barto: Barto) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = barto.cli_json("programs")
    return rows


def test_the_fleet_through_the_server_view_history_output_and_control(barto: Barto) -> None:
    barto.start_server("")
    barto.start_worker("w1", settings=FLEET)
    wait_for(
        lambda: {(p["name"], p["state"]) for p in fleet(barto)} == {("web", "RUNNING"), ("crash", "FATAL")},
        20,
        "states",
    )
    web = next(p for p in fleet(barto) if p["name"] == "web")
    assert (web["worker"], web["connected"], web["restarts"]) == ("w1", True, 0)
    table = barto.cli("programs", "--worker", "w1").stdout
    assert "Total processes: 2" in table
    assert any(line.replace("│", " ").split()[:3] == ["w1", "web", "RUNNING"] for line in table.splitlines())

    # control relayed by the server to the worker's socket commands
    assert barto.cli("ctl", "--worker", "w1", "stop", "web").returncode == 0
    assert next(p for p in fleet(barto) if p["name"] == "web")["state"] == "STOPPED"
    started = barto.cli("ctl", "--worker", "w1", "start", "web", "--json")
    assert [p["state"] for p in json.loads(started.stdout)] == ["RUNNING"]
    missing = barto.cli("ctl", "--worker", "w1", "status", "nope")
    assert (missing.returncode, "no program or process named 'nope'" in missing.stderr) == (1, True)
    offline = barto.cli("ctl", "--worker", "w9", "status")
    assert (offline.returncode, "worker 'w9' is not connected" in offline.stderr) == (1, True)

    # the history of state changes, stored by the server
    events = barto.cli_json("programs", "events", "--worker", "w1")
    crash = [(e["previous"], e["state"]) for e in events if e["name"] == "crash"]
    assert crash == [
        ("STOPPED", "STARTING"),
        ("STARTING", "BACKOFF"),
        ("BACKOFF", "STARTING"),
        ("STARTING", "BACKOFF"),
        ("BACKOFF", "FATAL"),
    ]
    web_events = [(e["previous"], e["state"]) for e in events if e["name"] == "web"]
    assert web_events[-4:] == [
        ("RUNNING", "STOPPING"),
        ("STOPPING", "STOPPED"),
        ("STOPPED", "STARTING"),
        ("STARTING", "RUNNING"),
    ]

    # output forwarded to the server: the last lines, then following new ones
    last = wait_for(lambda: barto.cli("programs", "tail", "w1", "web", "-n", "3").stdout.split("\n")[:-1], 10, "lines")
    assert len(last) == 3
    assert all(line.startswith("tick ") for line in last)
    command = [str(BIN / "barto-cli"), "-c", str(barto.root / "barto-cli.toml"), "programs", "tail", "w1", "web", "-f"]
    with subprocess.Popen([*command, "-n", "1"], env=barto.env, stdout=subprocess.PIPE, text=True) as follow:
        try:
            assert follow.stdout is not None
            seen = [follow.stdout.readline().strip() for _ in range(5)]  # bounded: ticks come every 0.1 s
        finally:
            follow.kill()
    numbers = [int(line.split()[1]) for line in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # consecutive, none lost or doubled


LINE = "0123456789012345678901234567890123456789"  # 41 bytes with its newline: 500,000 lines


def test_program_output_forwarding_is_bounded(barto: Barto, tmp_path: Path) -> None:
    """A program writing far faster than the forwarding budget: its file gets every byte, the
    server only about the budget (the gap is marked; tests/unit/test_program_feed.py)."""
    out = tmp_path / "flood.log"
    barto.start_server("")
    barto.start_worker(
        "w1",
        settings="[programs.flood]\ncmd = '/bin/sh'\nstartsecs = 0\n"
        f"args = ['-c', 'yes {LINE} | head -c 20500000; sleep 300']\nstdout = '{out}'\n",
    )
    wait_for(lambda: out.exists() and out.stat().st_size == 20_500_000, 30, "the whole flood in its file")
    time.sleep(3)  # what the worker still forwards arrives
    url = f"http://127.0.0.1:{barto.port}/v1/workers/w1/programs/flood/tail"
    (last,) = httpx.get(url, params={"limit": 1}).json()
    assert last["text"] == LINE
    assert last["seq"] < 100_000  # of 500,000 lines written (the budget: 256 KiB + 128 KiB/s)


def test_the_ctl_shell_through_the_server(barto: Barto) -> None:
    """barto-cli ctl --worker w1: the same shell, its requests relayed by the server."""
    barto.start_server("")
    barto.start_worker("w1", settings="[programs.web]\ncmd = 'sleep'\nargs = ['300']\nstartsecs = 0\n")
    wait_for(lambda: [p["state"] for p in fleet(barto)] == ["RUNNING"], 20, "web running")
    command = [str(BIN / "barto-cli"), "-c", str(barto.root / "barto-cli.toml"), "ctl", "--worker", "w1"]
    with shell(barto, command) as controller:
        expect(controller, "> ")
        os.write(controller, b"st\t\t")  # two completions: start, status, stop
        expect(controller, "status")
        os.write(controller, b"\x15stop w\t\n")  # Ctrl-U clears the line; "w" completes to "web"
        expect(controller, "STOPPED")
        os.write(controller, b"status nope\n")
        expect(controller, "no program or process named 'nope'")
        os.write(controller, b"quit\n")
    assert [p["state"] for p in fleet(barto)] == ["STOPPED"]


def test_taskmasterd_section_applies_to_bartoc_itself(barto: Barto, tmp_path: Path) -> None:
    """The taskmaster seed's [taskmasterd]: pid file, umask, directory and env as it documents."""
    seen, home = tmp_path / "seen", tmp_path / "home"
    home.mkdir()
    settings = (
        "[taskmasterd]\npidfile = 'bartoc.pid'\numask = 0o027\nnodaemon = true\nminfds = 256\nminprocs = 50\n"
        f"directory = '{home}'\n[taskmasterd.env]\nANSWER = 42\nTEST = true\n"
        "[programs.probe]\ncmd = '/bin/sh'\n"
        f"args = ['-c', 'echo $ANSWER $TEST $(umask) $(pwd) > {seen}; exec sleep 300']\nstartsecs = 0\n"
    )
    barto.start_worker("w1", wait=False, settings=settings)
    pidfile = tmp_path / "bartoc.pid"  # relative: beside the config file
    assert wait_for(lambda: seen.exists() and seen.read_text(), 20, "the probe's line") == f"42 true 0027 {home}\n"
    assert int(pidfile.read_text()) == barto.named["w1"].pid
    barto.kill("w1", signal.SIGTERM)
    assert not pidfile.exists()


def test_taskmasterd_nodaemon_false_is_refused_by_name(barto: Barto, tmp_path: Path) -> None:
    barto.start_worker("w1", wait=False, settings="[taskmasterd]\nnodaemon = false\n")
    status, stderr = barto.wait_exit("w1", 20)
    assert status == 2
    assert "w1.toml:3: taskmasterd.nodaemon: bartoc does not daemonize" in stderr


def test_supervisord_habits_cat_stays_up_env_names_and_status_words(barto: Barto, tmp_path: Path) -> None:
    """supervisord's sample program is /bin/cat: its stdin is a pipe kept open, so it runs; the
    child sees SUPERVISOR_* (and BARTO_* twins); status says "pid N, uptime H:MM:SS"."""
    sock, seen = tmp_path / "c.sock", tmp_path / "env"
    programs = (
        "[programs.cat]\ncmd = '/bin/cat'\nstartsecs = 1\n"
        "[programs.probe]\ncmd = '/bin/sh'\nstartsecs = 0\n"
        "args = ['-c', 'echo $SUPERVISOR_ENABLED $SUPERVISOR_PROCESS_NAME $SUPERVISOR_GROUP_NAME "
        f"$BARTO_ENABLED $BARTO_GROUP_NAME > {seen}; exec sleep 300']\n"
        f"[unix_http_server]\nfile = '{sock}'\n"
    )
    barto.start_worker("w1", wait=False, settings=programs)

    def status() -> dict[str, dict[str, object]]:
        answer = barto.cli("ctl", "-s", str(sock), "status", "--json")
        return {p["name"]: p for p in json.loads(answer.stdout)} if answer.returncode == 0 else {}

    cat = wait_for(lambda: status().get("cat", {}).get("state") == "RUNNING" and status()["cat"], 20, "cat RUNNING")
    time.sleep(1.5)  # past startsecs: /dev/null would have ended it at once (EXITED, then FATAL)
    cat = status()["cat"]
    assert cat["state"] == "RUNNING"
    assert str(cat["description"]).startswith(f"pid {cat['pid']}, uptime 0:00:0")
    assert wait_for(lambda: seen.exists() and seen.read_text(), 20, "env") == "1 probe probe 1 probe\n"


def test_supervisord_expansions_in_command_directory_and_env(barto: Barto, tmp_path: Path) -> None:
    seen = tmp_path / "expanded"
    programs = (
        "[programs.exp]\ncmd = '/bin/sh'\nstartsecs = 0\nautorestart = false\ndirectory = '%(here)s'\n"
        f"args = ['-c', 'echo %(program_name)s %(process_num)d %(ENV_HOME)s %(here)s $X $(pwd) 100%% > {seen}']\n"
        "[programs.exp.env]\nX = '%(process_name)s-%(group_name)s'\n"
        "[programs.plain]\ncmd = '/bin/sh'\nstartsecs = 0\nautorestart = false\n"
        f"args = ['-c', 'date +%s > /dev/null && echo 100%% > {seen}.plain']\n"  # no %( : taken as it is
    )
    barto.start_worker("w1", wait=False, settings=programs)
    line = wait_for(lambda: seen.exists() and seen.read_text(), 20, "the expanded line")
    assert line == f"exp 0 {tmp_path} {tmp_path} exp-exp {tmp_path} 100%\n"
    assert (
        wait_for(lambda: Path(f"{seen}.plain").exists() and Path(f"{seen}.plain").read_text(), 20, "plain") == "100%%\n"
    )


def test_an_unknown_expansion_is_a_config_error(barto: Barto) -> None:
    barto.start_worker("w1", wait=False, settings="[programs.x]\ncmd = '/bin/echo'\nargs = ['%(nope)s']\n")
    status, stderr = barto.wait_exit("w1", 20)
    assert status == 2
    assert "w1.toml:4: programs.x.args[0]: cannot expand 'nope'" in stderr


def test_programs_stop_in_reverse_priority_order_each_group_waiting(barto: Barto, tmp_path: Path) -> None:
    """supervisord's shutdown: highest priority first, the next group once the previous is down."""
    trace = tmp_path / "trace"
    programs = "".join(
        f"[programs.p{n}]\ncmd = '/bin/sh'\nstartsecs = 0\npriority = {n}\n"
        f"args = ['-c', 'trap \"echo term {n} >> {trace}; sleep 0.3; echo down {n} >> {trace}; exit 0\" TERM; "
        "while :; do sleep 0.05; done']\n"
        for n in (1, 3, 2)
    )
    sock = tmp_path / "s.sock"
    barto.start_worker("w1", wait=False, settings=programs + f"[unix_http_server]\nfile = '{sock}'\n")
    wait_for(lambda: barto.cli("ctl", "-s", str(sock), "status").stdout.count("RUNNING") == 3, 20, "all running")
    barto.kill("w1", signal.SIGTERM)
    assert trace.read_text().split("\n")[:-1] == ["term 3", "down 3", "term 2", "down 2", "term 1", "down 1"]


def test_a_stopped_program_leaves_no_child_in_its_group(barto: Barto, tmp_path: Path) -> None:
    pids, sock = tmp_path / "pids", tmp_path / "s.sock"
    programs = (
        "[programs.forks]\ncmd = '/bin/sh'\nstartsecs = 0\n"
        f"args = ['-c', 'sleep 300 & echo $! > {pids}; trap \"exit 0\" TERM; while :; do sleep 0.05; done']\n"
        f"[unix_http_server]\nfile = '{sock}'\n"
    )
    barto.start_worker("w1", wait=False, settings=programs)
    grandchild = int(wait_for(lambda: pids.exists() and pids.read_text().strip(), 20, "the grandchild's pid"))
    assert barto.cli("ctl", "-s", str(sock), "stop", "forks").returncode == 0
    wait_for(lambda: not alive(grandchild), 10, "the grandchild to go with its program")


def test_none_and_auto_log_files_as_supervisord(barto: Barto, tmp_path: Path) -> None:
    programs = (
        "[programs.quiet]\ncmd = '/bin/sh'\nargs = ['-c', 'echo hidden; exec sleep 300']\nstartsecs = 0\n"
        "stdout = 'NONE'\nstderr = 'AUTO'\nstdout_logfile_maxbytes = '1KB'\n"
    )
    barto.start_worker("w1", wait=False, settings=programs)
    logs = tmp_path / "state" / "bartoc" / "programs" / "w1"
    wait_for(lambda: (logs / "quiet.stderr").exists(), 20, "the AUTO stderr file")
    time.sleep(0.5)
    assert not (logs / "quiet.stdout").exists()
    assert not list(tmp_path.glob("**/NONE")) + list(tmp_path.glob("**/AUTO"))  # never file names
    assert Path(os.devnull).is_char_device()  # and /dev/null was never rotated away
