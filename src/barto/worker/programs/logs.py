"""Where a program's output goes: read from its pipes on the event loop, written to its log
files (rotated by size, as supervisord does), and handed on line by line (to the server).

bartoc reads the pipes itself, as supervisord does, rather than handing the process its log
file: that is what makes rotation and forwarding possible. A process that forks keeps the pipe
open in its children; the capture lasts until the last holder closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("barto.worker.programs")

_READ = 64 * 1024
_LINE_MAX = 8 * 1024  # a longer line is handed on in pieces


class RotatingFile:
    """An append-only log file that is rotated when a write would take it past ``maxbytes``:
    ``path`` becomes ``path.1``, ``path.1`` becomes ``path.2`` ... up to ``backups`` (the oldest
    goes). ``maxbytes`` 0: never rotated; ``backups`` 0: the file starts again empty."""

    def __init__(self, path: Path, maxbytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._maxbytes = maxbytes
        self._backups = backups
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open, closed by close()
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating at line ends so that no file grows past ``maxbytes`` (but
        by one line longer than that on its own, which is kept whole)."""
        while self._maxbytes and self._size + len(data) > self._maxbytes:
            cut = data.rfind(b"\n", 0, max(0, self._maxbytes - self._size)) + 1
            if not cut and not self._size:
                cut = data.find(b"\n") + 1 or len(data)
            self._append(data[:cut])
            data = data[cut:]
            if not data:
                return
            self._rotate()
        self._append(data)

    def _append(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        if self._backups:
            for number in range(self._backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}.{number}", f"{self.path}.{number + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
        self._size = 0


class Capture:
    """One pipe of one process: into its file, and complete lines to ``lines`` (text, without
    the newline; a line longer than 8 KiB in pieces). Closes itself at end of file."""

    def __init__(self, fd: int, file: RotatingFile, lines: Callable[[list[str]], None]) -> None:
        self._fd = fd
        self._file = file
        self._lines = lines
        self._partial = b""
        self._loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)
        self.closed = False

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ)
        except BlockingIOError:
            return
        except OSError as error:
            log.warning("reading the output of a program failed: %s", error)
            data = b""
        if not data:
            self.close()
            return
        self._write(data)
        self._split(data)

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as error:  # a full disk must not stop the program or bartoc
            log.warning("cannot write %s: %s", self._file.path, error)

    def _split(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        while len(self._partial) > _LINE_MAX:
            complete.append(self._partial[:_LINE_MAX])
            self._partial = self._partial[_LINE_MAX:]
        if complete:
            self._lines([line.decode("utf-8", "replace") for line in complete])

    def close(self) -> None:
        """Stop reading (the rest of a last line without newline is handed on)."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        if self._partial:
            self._lines([self._partial.decode("utf-8", "replace")])
            self._partial = b""
