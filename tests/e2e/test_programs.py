"""Supervised programs inside a real bartoc (issue 7)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.e2e.harness import Barto, wait_for


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
