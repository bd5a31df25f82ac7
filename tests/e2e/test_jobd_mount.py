"""``barto-cli mount``: jobd's file system through FUSE (libfuse3), driven by a real shell, on a
real bartos and bartoc; unmounted with fusermount3 and with Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_or_skip
from tests.e2e.harness import BIN, Barto, free_port, wait_for
from tests.e2e.secured import TOKENS, settings

SCHEDULES = """
[schedules.w1]
schedules = [
  { name = "conf", on_calendar = "2099-01-01", cmds = ["echo from the file"] },
]
"""


class Mounted:
    """A ``barto-cli mount`` of ``where``, as the CLI of ``barto`` (its token) runs it."""

    def __init__(self, barto: Barto, where: Path, token: str) -> None:
        self.barto, self.where = barto, where
        config = barto.root / f"cli-{token[:4]}.toml"
        config.write_text(f"[bartos]\nhost = '127.0.0.1'\nport = {barto.port}\napi_key = '{token}'\n")
        where.mkdir()
        command = [str(BIN / "barto-cli"), "-c", str(config), "mount", str(where), "--worker", "w1"]
        self.proc = subprocess.Popen(command, env=barto.env, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: self._up(), 20, "the mount")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"barto-cli mount exited {self.proc.returncode}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        return os.path.ismount(self.where)

    def sh(self, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with bash in the mount."""
        return subprocess.run(["bash", "-c", script], cwd=self.where, capture_output=True, text=True, timeout=timeout,
                              check=False)  # fmt: skip

    def close(self) -> None:
        if os.path.ismount(self.where):
            subprocess.run(["fusermount3", "-u", str(self.where)], check=False, timeout=10)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def mounted(barto: Barto) -> Iterator[Mounted]:
    require_or_skip(bool(shutil.which("fusermount3")) and Path("/dev/fuse").exists(), "FUSE (/dev/fuse, fuse3)")
    barto.start_server(SCHEDULES, settings())
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'")
    made = Mounted(barto, barto.root / "mnt", TOKENS["boss"][1])
    try:
        yield made
    finally:
        made.close()


def test_a_shell_makes_stops_and_removes_a_job(mounted: Mounted) -> None:
    listing = mounted.sh("ls; ls jobs; ls -l jobs/conf")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[:5] == ["clone", "jobs", "runs", "workers", "conf"]
    modes = {line.split()[-1]: line.split()[0] for line in lines[6:]}
    assert modes == {"cmd": "-rw-rw-rw-", "ctl": "-rw-rw-rw-", "log": "-r--r--r--", "schedule": "-r--r--r--"}

    made = mounted.sh("echo -n 'hello:0 0/5 * * * ? *:echo hello world' > clone && cat jobs/hello/ctl")
    assert (made.returncode, made.stdout) == (0, "stopped"), made.stderr
    started = mounted.sh("echo -n start > jobs/hello/ctl && cat jobs/hello/ctl jobs/hello/cmd")
    assert started.stdout == "startedecho hello world"
    stopped = mounted.sh("echo -n stop > jobs/hello/ctl && cat jobs/hello/ctl")
    assert stopped.stdout == "stopped"
    assert mounted.sh("cat jobs/hello/schedule").stdout == "0 0/5 * * * ? *"
    removed = mounted.sh("rm -r jobs/hello && ls jobs")
    assert (removed.returncode, removed.stdout) == (0, "conf\n"), removed.stderr
    assert "hello" not in {s["name"] for s in mounted.barto.cli_json("schedules")}


def test_a_shell_sees_refusals_as_write_errors(mounted: Mounted) -> None:
    refused = mounted.sh("echo -n stop > jobs/conf/ctl")
    assert refused.returncode == 1
    assert "Read-only file system" in refused.stderr  # the config file owns it
    bad = mounted.sh("echo -n 'bad name:* * * * *:true' > clone")
    assert bad.returncode == 1
    assert "Invalid argument" in bad.stderr
    assert mounted.sh("cat jobs/nothing/ctl").returncode == 1
    assert mounted.sh("mkdir jobs/new").returncode == 1
    assert mounted.sh("echo x > jobs/conf/log").returncode == 1
    assert mounted.sh("ls jobs").stdout == "conf\n"


def test_a_read_token_mount_cannot_write(barto: Barto, mounted: Mounted) -> None:
    reader = Mounted(barto, barto.root / "ro", TOKENS["viewer"][1])
    try:
        refused = reader.sh("echo -n 'x:* * * * *:true' > clone")
        assert refused.returncode == 1
        assert "Permission denied" in refused.stderr
        assert reader.sh("cat jobs/conf/cmd").stdout == "echo from the file"
        assert reader.sh("echo -n run > jobs/conf/ctl").returncode == 1
    finally:
        reader.close()
    assert [s["name"] for s in barto.cli_json("schedules")] == ["conf"]


def test_tail_follows_a_log_while_the_job_runs(mounted: Mounted) -> None:
    assert (
        mounted.sh("echo -n 'ticker:* * * * * * *:echo tick' > clone && echo -n start > jobs/ticker/ctl").returncode
        == 0
    )
    tail = subprocess.Popen(["tail", "-n", "+1", "-f", "-s", "0.5", "jobs/ticker/log"], cwd=mounted.where,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(6)
    finally:
        tail.send_signal(signal.SIGTERM)
    out, _ = tail.communicate(timeout=10)
    ticks = [line for line in out.splitlines() if line.endswith(":tick")]
    assert len(ticks) >= 3, out  # lines that came after tail opened the file


def test_ctrl_c_unmounts(barto: Barto, mounted: Mounted) -> None:
    mounted.proc.send_signal(signal.SIGINT)
    assert mounted.proc.wait(10) == 0
    assert not os.path.ismount(mounted.where)


def _kernel_has_9p() -> bool:
    return any(line.split()[-1] == "9p" for line in Path("/proc/filesystems").read_text().splitlines())


def test_the_kernel_mount_line_of_the_docs(barto: Barto, tmp_path: Path) -> None:
    """docs/jobd.md's mount line, where the kernel has a 9P client; on machines without one
    (ours: no CONFIG_NET_9P, no modules) this is not tested, and says so."""
    if not _kernel_has_9p():
        pytest.skip("NOT TESTED: this kernel has no 9P client (no '9p' in /proc/filesystems)")
    port = free_port()
    barto.start_server(SCHEDULES, settings() + f"[ninep]\nport = {port}\n")
    where = tmp_path / "k"
    where.mkdir()
    options = f"trans=tcp,port={port},version=9p2000.L,aname=token:{TOKENS['viewer'][1]}"
    subprocess.run(["mount", "-t", "9p", "-o", options, "127.0.0.1", str(where)], check=True, timeout=30)
    try:
        assert sorted(os.listdir(where)) == ["runs", "workers"]
    finally:
        subprocess.run(["umount", str(where)], check=False, timeout=30)
