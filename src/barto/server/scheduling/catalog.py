"""The schedules the server runs: the config file's, and those added through the API.

One rule: the file wins for its names. The API cannot add, change, remove, enable or disable a
schedule the file defines (edit the file instead), and a schedule added later to the file
replaces an API schedule of the same name (the API one is dropped, with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from barto.config.server import ScheduleDef, WorkerSchedules

log = logging.getLogger("barto.server.scheduling.catalog")

Key = tuple[str, str]  # (worker, schedule name)
Groups = Mapping[str, WorkerSchedules]  # the config file's schedules, by worker


class Catalog:
    """The config's schedule groups plus the API's schedules."""

    def __init__(self, config: Groups, api: Mapping[Key, ScheduleDef]) -> None:
        self._config: Groups = {}
        self._api: dict[Key, ScheduleDef] = dict(api)
        self.replace_config(config)

    @property
    def config(self) -> Groups:
        """The config file's schedules."""
        return self._config

    def replace_config(self, config: Groups) -> None:
        """A new config file: its names now win over API schedules."""
        self._config = config
        for key in [k for k in self._api if self.from_config(*k)]:
            log.warning(
                "schedule %s of worker %s is now defined in the config file; the API one is dropped", *key[::-1]
            )
            del self._api[key]

    def from_config(self, worker: str, name: str) -> bool:
        """Whether the config file defines ``name`` for ``worker``."""
        group = self._config.get(worker)
        return group is not None and any(s.name == name for s in group.schedules)

    def from_api(self, worker: str, name: str) -> ScheduleDef | None:
        """The API schedule ``name`` of ``worker``."""
        return self._api.get((worker, name))

    def put(self, worker: str, definition: ScheduleDef) -> None:
        """Add or replace an API schedule (the caller checked it is not the file's)."""
        self._api[(worker, definition.name)] = definition

    def remove(self, worker: str, name: str) -> None:
        """Drop an API schedule."""
        self._api.pop((worker, name), None)

    def api_items(self) -> list[tuple[Key, ScheduleDef]]:
        """Every API schedule."""
        return list(self._api.items())

    def api_keys(self) -> frozenset[Key]:
        """The (worker, name) of every API schedule."""
        return frozenset(self._api)

    def merged(self) -> dict[str, WorkerSchedules]:
        """Every schedule, by worker: the file's, then the API's."""
        groups = {worker: list(group.schedules) for worker, group in self._config.items()}
        for (worker, _), definition in sorted(self._api.items()):
            groups.setdefault(worker, []).append(definition)
        return {worker: WorkerSchedules(schedules=schedules) for worker, schedules in groups.items()}


def definition(data: Any) -> ScheduleDef:
    """A stored API schedule back as a definition.

    Raises:
        msgspec.ValidationError: when it no longer fits (a field removed since it was stored).
    """
    return msgspec.convert(data, ScheduleDef)
