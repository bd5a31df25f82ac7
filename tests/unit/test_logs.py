"""Log records go through a queue to the file: one clean line each, nothing doubled."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from barto import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_a_record_reaches_the_file_once_with_time_level_and_name(tmp_path: Path) -> None:
    path = tmp_path / "bartos.log"
    logs.setup(verbose=0, quiet=0, to_stderr=False, file=path)
    logging.getLogger("barto.test").info("slot %s claimed", 7)
    logging.getLogger("uvicorn.error").info("Started server process")  # library chatter: -v only
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (path.exists() and path.read_text()):
        time.sleep(0.01)
    (line,) = path.read_text().splitlines()
    assert line.endswith("Z INFO barto.test: slot 7 claimed")


@pytest.mark.usefixtures("restore_logging")
def test_secrets_are_masked_in_messages_arguments_and_tracebacks(tmp_path: Path) -> None:
    path = tmp_path / "bartos.log"
    logs.setup(verbose=0, quiet=0, to_stderr=False, file=path, secrets=["hunter2-token"])
    log = logging.getLogger("barto.test")
    log.warning("header %s", "Authorization: Bearer abc.def")
    log.warning("connecting to %s", "mysql://barto:pa55word@db:3306/barto")
    try:
        raise ValueError("bad token hunter2-token")
    except ValueError:
        log.exception("failed")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "Traceback" not in (path.read_text() if path.exists() else ""):
        time.sleep(0.01)
    text = path.read_text()
    assert "Bearer ****" in text
    assert "mysql://barto:****@db:3306/barto" in text
    assert "bad token ****" in text
    assert all(secret not in text for secret in ("abc.def", "pa55word", "hunter2-token"))
