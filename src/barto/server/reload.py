"""Hot reload of schedules: the config file is watched and SIGHUP forces a reload.

The watcher compares the file's (mtime, size, inode) every :data:`_POLL` seconds, which also
catches editors that replace the file, and applies a change once it has held for one poll. A
new config that does not load is rejected whole; the old schedules keep running. Schedules and
[programs.<worker>] definitions (sent to the workers they concern) are reloaded; other changes
need a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from barto.config import ConfigError, ServerConfig
from barto.protocol import Programs
from barto.server.scheduling.rows import schedule_rows
from barto.server.state import ServerState

log = logging.getLogger("barto.server.reload")

_POLL = 0.5

Loader = Callable[[], ServerConfig]


class Reloader:
    """Owns the watch loop; :meth:`request` (SIGHUP) triggers a reload at once."""

    def __init__(self, state: ServerState, path: Path, loader: Loader) -> None:
        self._state = state
        self._path = path
        self._loader = loader
        self._wake = asyncio.Event()

    def request(self) -> None:
        """Reload now (called from the SIGHUP handler)."""
        self._wake.set()

    async def run(self) -> None:
        """Watch until cancelled."""
        seen = pending = _fingerprint(self._path)
        while True:
            try:
                async with asyncio.timeout(_POLL):
                    await self._wake.wait()
            except TimeoutError:
                pass
            current = _fingerprint(self._path)
            # A change is applied once it has held for a poll: an editor (or write_text) that
            # truncates, then writes, must not have the empty file in between taken as the config.
            settled = current != seen and current == pending
            pending = current
            if settled or self._wake.is_set():
                self._wake.clear()
                seen = current
                await self.reload()

    def _push_programs(self, programs: Mapping[str, Any]) -> None:
        """Send the workers whose [programs.<worker>] changed their new definitions."""
        changed = _changed_workers(self._state.programs, programs)
        self._state.programs = dict(programs)
        for worker in changed:
            if (session := self._state.hub.session(worker)) is not None:
                session.send(Programs(programs=self._state.programs_of(worker)))

    async def reload(self) -> bool:
        """Load the config again and apply its schedules; False (and a logged error) if it is invalid."""
        try:
            config = self._loader()
        except ConfigError as error:
            log.error("config reload rejected, the old schedules keep running: %s", error)
            return False
        self._state.term.catalog.replace_config(config.schedules)
        self._state.term.apply(config.timezone)
        self._push_programs(config.programs)
        self._state.alerting.alerts = dict(config.alerts)  # from the next look on
        if self._state.leading:  # the leader's file is the one in the store; a standby's waits its turn
            await self._state.store.replace_schedules(schedule_rows(config.schedules, config.timezone))
        log.info("config reloaded: %d schedules", sum(len(g.schedules) for g in config.schedules.values()))
        return True


def _changed_workers(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    return {worker for worker in set(old) | set(new) if old.get(worker) != new.get(worker)}


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino
