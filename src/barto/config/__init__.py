"""Configuration of the three programs: TOML file, environment overrides, flags.

Precedence, highest first: command-line flag > environment variable > file > default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from barto.config._load import Source, load
from barto.config._paths import data_home, default_config_file, state_home
from barto.config.cli import CliConfig
from barto.config.errors import ConfigError
from barto.config.worker import WorkerConfig, check_running, check_worker

if TYPE_CHECKING:
    from barto.config.server import Calendars, ScheduleDef, ServerConfig

__all__ = [
    "CliConfig",
    "ConfigError",
    "ScheduleDef",
    "ServerConfig",
    "WorkerConfig",
    "data_home",
    "load_cli",
    "load_server",
    "load_worker",
    "source",
    "state_home",
]


def source(program: str, path: Path | None, flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Source:
    """Where ``program`` ("bartos", "bartoc", "barto-cli") reads its config from."""
    env = os.environ if env is None else env
    return Source(
        path=path or default_config_file(program, env),
        required=path is not None,
        env=env,
        prefix=program.upper().replace("-", "_"),
        flags=flags,
    )


def __getattr__(name: str) -> Any:
    """The server's config types, imported on first use: they bring the calendar engine, which
    bartoc and barto-cli do not need at start-up."""
    if name in ("ScheduleDef", "ServerConfig"):
        from barto.config import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_server(src: Source, *, serving: bool = False, calendars: Calendars | None = None) -> ServerConfig:
    """Load and fully validate bartos' config (every calendar is parsed, and handed over in
    ``calendars`` when given; with ``serving``, the files it names are readable too)."""
    from barto.config.server import ServerConfig, check_server, check_serving

    check = check_serving if serving else check_server
    config = load(src, ServerConfig, lambda config: check(config, calendars))
    if config.btu is not None and config.btu.file is not None:
        from barto.config.btu import with_file

        config = with_file(config)
    return config


def load_worker(src: Source, *, running: bool = False) -> WorkerConfig:
    """Load bartoc's config (with ``running``, its keys must be usable too)."""
    return load(src, WorkerConfig, check_running if running else check_worker)


def load_cli(src: Source, *, using: bool = False) -> CliConfig:
    """Load barto-cli's config (with ``using``, the files it names must be readable too;
    barto's documented examples name placeholders, and load)."""
    return load(src, CliConfig, (lambda config: config.bartos.check_files()) if using else None)
