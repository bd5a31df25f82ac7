"""Logging for the three programs, with barto's flags and file naming.

``-v``/``-q`` raise and lower the level (default INFO), ``-e`` also logs to stderr, and the log
file rotates daily into ``<program>.log.YYYY-MM-DD`` (the names barto's logrotate units expect).
Records are written by a listener thread: a log call on the event loop only queues the record,
so a slow disk never stalls dispatch (a flush costs ~0.2 ms on some VMs; a worker finishing a
thousand runs logs a thousand lines).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from barto.config import secrets

_LEVELS = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
_CHATTY = ("uvicorn.error", "alembic")  # libraries whose INFO lines are noise in our logs
_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def level(verbose: int, quiet: int) -> int:
    """INFO by default; each -v one step more detailed, each -q one step less."""
    return _LEVELS[max(0, min(len(_LEVELS) - 1, 2 + verbose - quiet))]


def setup(*, verbose: int, quiet: int, to_stderr: bool, file: Path | None, secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once per process; ``secrets`` never reach a log line."""
    formatter = logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime  # log times are UTC, like barto's
    handlers: list[logging.Handler] = []
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.TimedRotatingFileHandler(file, when="midnight", utc=True, encoding="utf-8")
        rotating.suffix = "%Y-%m-%d"
        handlers.append(rotating)
    if to_stderr or file is None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)  # drains the queue: no record is lost at exit
    queued = _Redacting(records, Redactor(secrets))
    queued.setFormatter(logging.Formatter("%(message)s"))  # the real handlers add time, level, name
    chosen = level(verbose, quiet)
    logging.basicConfig(level=chosen, handlers=[queued], force=True)
    for name in _CHATTY:  # their INFO lines repeat what ours say; -v brings them back
        logging.getLogger(name).setLevel(chosen if chosen == logging.DEBUG else max(chosen, logging.WARNING))
    logging.getLogger("uvicorn.error").addFilter(_drain_is_a_warning)


def _drain_is_a_warning(record: logging.LogRecord) -> bool:
    """uvicorn says ERROR when a stop's drain ends by cancelling requests (a follow stream, a
    long query): that is the documented way a stop ends them ([limits] drain_seconds), a warning."""
    if record.levelno == logging.ERROR and "timeout graceful shutdown exceeded" in str(record.msg):
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


class Program(Protocol):
    """The logging keys every program's config has."""

    @property
    def verbose(self) -> int: ...
    @property
    def quiet(self) -> int: ...
    @property
    def enable_std_output(self) -> bool: ...


def start(config: Program, path: Path, file: Path | None, *, quieter: int = 0) -> None:
    """:func:`setup` for a loaded config: its secrets masked, and a warning when the config file
    that holds them can be read by every user."""
    setup(
        verbose=config.verbose,
        quiet=config.quiet + quieter,
        to_stderr=config.enable_std_output,
        file=file,
        secrets=secrets.values(config),
    )
    if warning := secrets.exposure(path):
        logging.getLogger("barto").warning(warning)


class Redactor:
    """Masks secrets in text: the given values, bearer tokens, and passwords inside URLs."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "****")
        text = _BEARER.sub(r"\1****", text)
        return _URL_PASSWORD.sub(r"\1****@", text)


class _Redacting(logging.handlers.QueueHandler):
    """Formats each record once (message, arguments and traceback) and masks it before it leaves."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord], redact: Redactor) -> None:
        super().__init__(records)
        self._redact = redact

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared: logging.LogRecord = super().prepare(record)
        prepared.msg = prepared.message = self._redact(prepared.msg)
        return prepared
