"""supervisord 4.3's own sample program (``echo_supervisord_conf``'s ``[program:theprogramname]``,
``/bin/cat`` with every key the sample shows), translated to bartoc's TOML key by key, run by
supervisord and by bartoc side by side: the same states at the same steps, as supervisord
documents them (RUNNING after startsecs, STOPPED after stop, RUNNING again after start, and
restarted after an unexpected death with autorestart=unexpected)."""

from __future__ import annotations

import getpass
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import BIN, Barto, wait_for

# Sample keys bartoc does not have, each for a stated reason (docs/programs.md, the differences).
UNSUPPORTED = {
    "process_name": "bartoc names processes itself: the program name, or name_NN with numprocs",
    "stdout_capture_maxbytes": "no capture mode (supervisord's event protocol)",
    "stderr_capture_maxbytes": "no capture mode",
    "stdout_events_enabled": "no event listeners",
    "stderr_events_enabled": "no event listeners",
    "stdout_syslog": "no syslog output",
    "stderr_syslog": "no syslog output",
    "serverurl": "accepted by the seed, unused",
}
RENAMED = {"stdout_logfile": "stdout", "stderr_logfile": "stderr"}


def sample_program() -> dict[str, str]:
    """The sample's program section, uncommented: key -> value as supervisord reads it."""
    text = subprocess.run([str(BIN / "echo_supervisord_conf")], capture_output=True, text=True, check=True).stdout
    section = text.split(";[program:theprogramname]", 1)[1].split("\n\n", 1)[0]
    found = {}
    for line in section.strip().splitlines():
        key, _, rest = line.lstrip(";").partition("=")
        found[key.strip()] = re.split(r"\s+;", rest, maxsplit=1)[0].strip()
    return found


def localized(sample: dict[str, str], root: Path) -> dict[str, str]:
    """The sample with what names this machine made real: its user, its log paths."""
    return {
        **sample,
        "user": getpass.getuser(),  # the sample's "chrism" is not an account here
        "stdout_logfile": str(root / "out.log"),
        "stderr_logfile": str(root / "err.log"),
    }


def to_toml(program: dict[str, str]) -> str:
    """bartoc's [programs.theprogramname] for the same settings."""
    lines = ["[programs.theprogramname]"]
    env = ""
    for key, value in program.items():
        if key in UNSUPPORTED:
            continue
        if key == "command":
            cmd, *args = value.split()
            lines += [f"cmd = {cmd!r}", f"args = {args!r}"]
        elif key == "environment":
            pairs = dict(part.split("=", 1) for part in value.split(","))
            env = "[programs.theprogramname.env]\n" + "".join(f"{k} = {v}\n" for k, v in pairs.items())
        elif key == "exitcodes":
            lines.append(f"exitcodes = [{value}]")
        elif key == "umask":
            lines.append(f"umask = 0o{value}")
        elif value in ("true", "false") or value.isdigit():
            lines.append(f"{RENAMED.get(key, key)} = {value}")
        else:
            lines.append(f"{RENAMED.get(key, key)} = {value!r}")
    return "\n".join(lines) + "\n" + env


def test_the_translation_covers_every_key_of_the_sample() -> None:
    sample = sample_program()
    assert sample["command"] == "/bin/cat"
    assert len(sample) >= 30
    translated = to_toml(localized(sample, Path("/tmp")))
    names = {**RENAMED, "command": "cmd", "environment": "[programs.theprogramname.env]"}
    for key in set(sample) - set(UNSUPPORTED):
        assert names.get(key, key) in translated, key


class Supervisord:
    """supervisord 4.3 with the sample's program, asked through supervisorctl."""

    def __init__(self, root: Path, program: dict[str, str]) -> None:
        self.conf = root / "supervisord.conf"
        section = "".join(f"{k}={v}\n" for k, v in program.items())
        self.conf.write_text(
            f"[unix_http_server]\nfile={root}/sv.sock\n[supervisord]\nnodaemon=true\nlogfile={root}/sv.log\n"
            f"pidfile={root}/sv.pid\n[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl=unix://{root}/sv.sock\n[program:theprogramname]\n{section}"
        )
        self.proc = subprocess.Popen([str(BIN / "supervisord"), "-c", str(self.conf)], stdout=subprocess.DEVNULL)

    def ctl(self, *args: str) -> str:
        command = [str(BIN / "supervisorctl"), "-c", str(self.conf), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout

    def state(self) -> tuple[str, int | None]:
        found = re.search(r"theprogramname\s+(\w+)\s+(?:pid (\d+))?", self.ctl("status"))
        return (found.group(1), int(found.group(2)) if found.group(2) else None) if found else ("?", None)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


@pytest.fixture
def supervisord(tmp_path: Path) -> Iterator[Supervisord]:
    root = tmp_path / "sv"
    root.mkdir()
    peer = Supervisord(root, localized(sample_program(), root))
    yield peer
    peer.close()


def test_the_sample_program_behaves_alike_under_supervisord_and_bartoc(
    barto: Barto, supervisord: Supervisord, tmp_path: Path
) -> None:
    sock = tmp_path / "b.sock"
    program = localized(sample_program(), tmp_path)
    barto.start_worker("w1", wait=False, settings=to_toml(program) + f"[unix_http_server]\nfile = '{sock}'\n")

    def bartoc() -> tuple[str, int | None]:
        shown = barto.cli("ctl", "-s", str(sock), "status", "--json").stdout
        found = re.search(r'"state":\s*"(\w+)",\s*"pid":\s*(\d+|null)', shown)
        return (found.group(1), None if found.group(2) == "null" else int(found.group(2))) if found else ("?", None)

    def both(state: str, what: str) -> tuple[tuple[str, int | None], tuple[str, int | None]]:
        def check() -> tuple[tuple[str, int | None], tuple[str, int | None]] | None:
            peer, ours = supervisord.state(), bartoc()
            return (peer, ours) if peer[0] == ours[0] == state else None

        found: tuple[tuple[str, int | None], tuple[str, int | None]] = wait_for(check, 30, what)
        return found

    (_, sv_pid), (_, b_pid) = both("RUNNING", "both RUNNING after startsecs (cat waits on its stdin pipe)")
    time.sleep(1.5)
    assert supervisord.state()[0] == bartoc()[0] == "RUNNING"  # not EXITED: stdin was a pipe for both
    words = r"pid \d+, uptime 0:00:0\d"  # supervisorctl's description of a running process
    assert re.search(words, supervisord.ctl("status"))
    assert re.search(words, barto.cli("ctl", "-s", str(sock), "status").stdout)
    supervisord.ctl("stop", "theprogramname")
    barto.cli("ctl", "-s", str(sock), "stop", "theprogramname")
    both("STOPPED", "both STOPPED")
    supervisord.ctl("start", "theprogramname")
    barto.cli("ctl", "-s", str(sock), "start", "theprogramname")
    (_, sv_pid), (_, b_pid) = both("RUNNING", "both RUNNING again")
    assert sv_pid is not None
    assert b_pid is not None
    os.kill(sv_pid, signal.SIGKILL)  # an unexpected death: autorestart=unexpected restarts it
    os.kill(b_pid, signal.SIGKILL)
    wait_for(lambda: supervisord.state()[1] not in (None, sv_pid) and supervisord.state()[0] == "RUNNING", 30, "sv")
    wait_for(lambda: bartoc()[1] not in (None, b_pid) and bartoc()[0] == "RUNNING", 30, "bartoc restarted it")
