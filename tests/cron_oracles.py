"""Quartz's CronExpression and gorhill/cronexpr (jobd's parser) as test oracles.

Both come from Debian (libquartz2-java, golang-github-gorhill-cronexpr-dev; scripts/bootstrap
installs them with a JDK and Go); the two small programs in tests/oracles/ are compiled once
per test session and read many questions on standard input.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ORACLES = Path(__file__).parent / "oracles"
QUARTZ_JARS = ("/usr/share/java/quartz2.jar", "/usr/share/java/slf4j-api.jar")
CRONEXPR_GOPATH = "/usr/share/gocode"


@dataclass(frozen=True)
class Question:
    """``count`` fire times of ``text`` after ``base`` (epoch seconds) in ``zone``."""

    text: str
    zone: str
    base: int
    count: int

    def line(self) -> str:
        return f"{self.text}\t{self.zone}\t{self.base}\t{self.count}"


# An answer: None for a rejected expression, else the fire times as epoch seconds; PANIC where
# the peer itself crashed (cronexpr on some expressions that allow no value).
Answer = tuple[int, ...] | None | str
PANIC = "PANIC"


def quartz_available() -> bool:
    return bool(shutil.which("javac") and shutil.which("java")) and all(Path(j).exists() for j in QUARTZ_JARS)


def cronexpr_available() -> bool:
    return bool(shutil.which("go")) and Path(CRONEXPR_GOPATH, "src/github.com/gorhill/cronexpr").is_dir()


def build_quartz(into: Path) -> list[str]:
    """Compile QuartzNext.java; the command that runs it."""
    subprocess.run(["javac", "-cp", QUARTZ_JARS[0], "-d", str(into), str(ORACLES / "QuartzNext.java")],
                   check=True, timeout=120)  # fmt: skip
    return ["java", "-cp", ":".join((str(into), *QUARTZ_JARS)), "QuartzNext"]


def build_cronexpr(into: Path) -> list[str]:
    """Build cronexpr_next.go against Debian's cronexpr source (GOPATH mode, no network)."""
    return _go_build("cronexpr_next", into)


def build_jobd_format(into: Path) -> list[str]:
    """Build jobd_format.go (Go's time.Time.String() and cronexpr's Next, as jobd prints them)."""
    return _go_build("jobd_format", into)


def _go_build(name: str, into: Path) -> list[str]:
    binary = into / name
    env = {**os.environ, "GOPATH": CRONEXPR_GOPATH, "GO111MODULE": "off", "GOCACHE": str(into / "cache")}
    subprocess.run(["go", "build", "-o", str(binary), str(ORACLES / f"{name}.go")],
                   check=True, timeout=300, env=env)  # fmt: skip
    return [str(binary)]


def ask(command: list[str], questions: list[Question]) -> list[Answer]:
    """One run of an oracle over many questions, in order."""
    for q in questions:
        assert not set(q.text) & {"\t", "\n"}, q
    done = subprocess.run(command, input="".join(q.line() + "\n" for q in questions), capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == len(questions), done.stderr[-2000:]
    return [_answer(line) for line in lines]


def _answer(line: str) -> Answer:
    if line.startswith("ERR"):
        return None
    if line.startswith(PANIC):
        return PANIC
    return tuple(int(v) for v in line.split())


def ask_lines(command: list[str], lines: list[str]) -> list[str]:
    """One run of a line-in, line-out oracle."""
    done = subprocess.run(command, input="".join(f"{line}\n" for line in lines), capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    answers = done.stdout.splitlines()
    assert len(answers) == len(lines), done.stderr[-2000:]
    return answers
