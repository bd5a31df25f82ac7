"""The corpus of broken configs (tests/fixtures/bad-config/<program>/): each file says, in its
first two lines, where the error is (``# at: :LINE: KEY``, the text after the file name) and what the message says
(``# says: ...``). The real program, run with ``--check``, must exit 2 and print exactly that:
file, line and key, and the words — never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import BIN

CORPUS = Path(__file__).parents[1] / "fixtures" / "bad-config"
CASES = sorted(CORPUS.glob("*/*.toml"))


def test_the_corpus_is_large_and_covers_every_program() -> None:
    assert len(CASES) >= 60
    assert {case.parent.name for case in CASES} == {"bartos", "bartoc", "barto-cli"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_a_broken_config_is_refused_with_file_line_and_key(case: Path, tmp_path: Path) -> None:
    at, says = (line.split(": ", 1)[1] for line in case.read_text().splitlines()[:2])
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d"), "XDG_STATE_HOME": str(tmp_path / "s")}
    env["PATH"] = "/usr/bin:/bin"
    command = [str(BIN / case.parent.name), "-c", str(case), "--check"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"{case.parent.name}: error: {case}{at}"), result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
