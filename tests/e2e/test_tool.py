"""barto as a tool a user installs: versions, help, shell completion from a live server, the
systemd units (``systemd-analyze verify``), and a wheel built and installed in a fresh venv."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import barto
from tests.conftest import require_or_skip
from tests.e2e.harness import BIN, Barto, wait_for

ROOT = Path(__file__).parents[2]
PROGRAMS = ("bartos", "bartoc", "barto-cli")


def run(
    *command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, check=False,
                          cwd=cwd, env=env)  # fmt: skip


@pytest.mark.parametrize("program", PROGRAMS)
def test_version_and_short_help(program: str) -> None:
    shown = run(BIN / program, "--version")
    assert (shown.returncode, shown.stdout) == (0, f"{program} {barto.__version__}\n")
    helped = run(BIN / program, "-h")
    assert helped.returncode == 0
    assert helped.stdout.startswith(("Usage:", "usage:"))
    assert "--version" in helped.stdout


def _helps(*path: str) -> dict[tuple[str, ...], str]:
    """The help of every command of barto-cli under ``path``, found from the help itself
    (each level's pages asked in parallel)."""
    text = run(BIN / "barto-cli", *path, "-h").stdout
    section = text.split("\nCommands:\n", 1)[1] if "\nCommands:\n" in text else ""
    names = re.findall(r"^  (\S+)", section, flags=re.MULTILINE)
    found = {tuple(path): text}
    with ThreadPoolExecutor(4) as pool:
        for below in pool.map(lambda name: _helps(*path, name), names):
            found.update(below)
    return found


def test_every_help_prints_its_words_as_written_and_flags_without_types() -> None:
    helps = _helps()
    assert len(helps) > 30
    for command, text in helps.items():
        assert text.startswith("Usage: barto-cli"), command
        assert "<bool>" not in text, command
        assert "╭" not in text, command  # plain help: no Rich panels to swallow brackets
    assert "Only this [redis.<name>]." in helps[("rq", "jobs")]
    assert "(default: [taskmasterctl] serverurl)" in helps[("ctl",)]
    assert "([bartos] client_cert / client_key)" in helps[("certs", "client")]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    script = run(BIN / "barto-cli", "completion", shell)
    assert script.returncode == 0
    assert "_BARTO_CLI_COMPLETE=complete_" + shell in script.stdout
    assert run(BIN / "barto-cli", "completion", "tcsh").returncode == 2


def test_bash_completes_the_servers_workers_schedules_and_programs(barto: Barto) -> None:
    schedules = "[schedules.w1]\nschedules = [{ name = 'nightly', on_calendar = 'daily', cmds = ['true'] }]\n"
    programs = "[programs.w1.sleeper]\ncmd = '/bin/sleep'\nargs = ['1000']\nstartsecs = 0\n"
    barto.start_server(schedules, programs)
    barto.start_worker("w1")
    wait_for(lambda: [p["name"] for p in barto.cli_json("programs")] == ["sleeper"], 20, "the program to run")
    config = barto.root / "barto-cli.toml"
    script = run(BIN / "barto-cli", "completion", "bash").stdout

    def complete(*words: str) -> list[str]:
        line = " ".join(f'"{w}"' for w in ("barto-cli", "-c", str(config), *words))
        probe = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) + 2}; _barto_cli_completion barto-cli\n"
        probe += 'printf "%s\\n" "${COMPREPLY[@]}"\n'
        done = run("bash", "-c", probe, env={**barto.env, "PATH": f"{BIN}:/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("run-now", "-w", "") == ["w1"]
    assert complete("run-now", "-w", "w1", "n") == ["nightly"]
    assert complete("programs", "tail", "w1", "") == ["sleeper"]
    assert "schedules" in complete("sch")
    barto.kill("bartos")
    assert complete("run-now", "-w", "") == []  # no server: nothing, and no error


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    require_or_skip(bool(shutil.which("systemd-analyze")), "systemd-analyze")
    for unit in ("bartos", "bartoc"):
        text = (ROOT / "dist" / "systemd" / f"{unit}.service").read_text()
        assert f"ExecStart=/usr/local/bin/{unit} " in text
        copy = tmp_path / f"{unit}.service"  # verify checks that ExecStart exists: point it at ours
        copy.write_text(text.replace(f"/usr/local/bin/{unit}", str(BIN / unit)))
        checked = run("systemd-analyze", "verify", copy)
        assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    assert "KillMode=mixed" in (ROOT / "dist" / "systemd" / "bartoc.service").read_text()


def test_a_built_wheel_installs_in_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    require_or_skip(uv is not None, "uv")
    assert uv is not None
    built = run(uv, "build", "--wheel", "--out-dir", tmp_path / "dist", cwd=ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("barto-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        scripts = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
        names = archive.namelist()
    assert f"Version: {barto.__version__}" in metadata
    assert "License-Expression: MIT" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.startswith("barto/store/migrations/") for n in names)
    assert any(n.startswith("barto/server/web/templates/") for n in names)
    for program, target in (("bartos", "barto.server.main:main"), ("bartoc", "barto.worker.main:main"),
                            ("barto-cli", "barto.cli.main:main")):  # fmt: skip
        assert f"{program} = {target}" in scripts
    venv = tmp_path / "venv"
    assert run(uv, "venv", "--python", "3.11", venv).returncode == 0
    installed = run(uv, "pip", "install", "--python", venv / "bin" / "python", wheel)
    assert installed.returncode == 0, installed.stderr
    for program in PROGRAMS:
        shown = run(venv / "bin" / program, "--version")
        assert (shown.returncode, shown.stdout) == (0, f"{program} {barto.__version__}\n"), shown.stderr
    calendar = run(venv / "bin" / "barto-cli", "calendar", "--base-time", "2026-01-01T00:00:00", "daily")
    assert "Next elapse: Fri 2026-01-02 00:00:00 UTC" in calendar.stdout
