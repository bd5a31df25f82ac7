"""``bartoc`` configuration: barto's ``bartoc.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

import msgspec

from barto.config._load import KeyedError
from barto.config._paths import state_home
from barto.config.common import (
    BartosLink,
    Tracing,
    _Section,
    check_env,
    check_key,
    check_name,
    check_owner,
    check_user,
)
from barto.config.programs import ProgramDef, Scalar, check_programs


class UnixHttpServer(_Section, frozen=True, kw_only=True):
    """``[unix_http_server]`` (the taskmaster seed's): the local control socket of the programs."""

    file: str
    chmod: int = 0o700
    chown: str | None = None  # "user" or "user:group"


class Taskmasterd(_Section, frozen=True, kw_only=True):
    """``[taskmasterd]`` (the taskmaster seed's; supervisord's ``[supervisord]``): what bartoc
    does to itself at start, before any program runs (docs/programs.md, "[taskmasterd]").
    Relative paths are relative to the config file's directory. bartoc never daemonizes: run it
    under systemd (or another supervisor), so ``nodaemon = false`` is refused."""

    logfile: str | None = None  # bartoc's log file, unless -t names one
    pidfile: str | None = None  # written at start, removed at exit
    umask: Annotated[int, msgspec.Meta(ge=0, le=0o777)] = 0o022
    nodaemon: bool = True
    minfds: Annotated[int, msgspec.Meta(ge=0, le=1 << 20)] = 1024
    minprocs: Annotated[int, msgspec.Meta(ge=0, le=1 << 22)] = 200
    user: str | None = None  # switch to this user at start (bartoc started as root)
    directory: str | None = None  # bartoc's working directory
    env: dict[str, Scalar] = msgspec.field(default_factory=dict)  # added to every child's environment

    def environment(self) -> dict[str, str]:
        """``[taskmasterd.env]`` with every value as text, as a program's ``env``."""
        return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in self.env.items()}


class WorkerConfig(_Section, frozen=True, kw_only=True):
    """Everything ``bartoc`` reads from ``bartoc.toml``, the environment and its flags.

    ``retry_count``: 0 (the default) reconnects forever; a positive number gives up after that
    many consecutive failed connection attempts and exits with status 1, so that a service
    manager restarts it (barto exited 0). ``missed_tick`` is accepted for compatibility; the
    server decides about missed slots now.
    """

    name: str
    retry_count: Annotated[int, msgspec.Meta(ge=0)] = 0
    client_timeout: float | None = None
    missed_tick: Literal["Burst", "Delay", "Skip"] | None = None
    bartos: BartosLink = BartosLink()
    tracing: Tracing = Tracing()
    verbose: int = 0
    quiet: int = 0
    enable_std_output: bool = False
    redb_path: str | None = None
    server_public_key: str | None = None
    hmac_key: str | None = None
    replay_window_secs: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    programs: dict[str, ProgramDef] = msgspec.field(default_factory=dict)
    unix_http_server: UnixHttpServer | None = None
    taskmasterd: Taskmasterd = Taskmasterd()

    def program_logs(self, env: Mapping[str, str]) -> Path:
        """Where program output goes unless ``stdout``/``stderr`` say otherwise."""
        return state_home(env) / "bartoc" / "programs" / quote(self.name, safe="")

    def outbox_path(self, env: Mapping[str, str]) -> Path:
        """Where the local outbox lives (``-r``; barto called it the redb file).

        By default one per worker name, so that two workers on one machine never share one.
        A barto launcher passes ``.../bartoc.redb``: that file may be barto's own redb buffer,
        which we neither read nor overwrite; the outbox goes beside it as ``bartoc.outbox.sqlite``.
        """
        if not self.redb_path:
            return state_home(env) / "bartoc" / f"outbox-{quote(self.name, safe='')}.sqlite"
        path = Path(self.redb_path)
        return path.with_suffix(".outbox.sqlite") if path.suffix == ".redb" else path


def check_worker(config: WorkerConfig) -> None:
    """Validate what types cannot: the server URLs.

    Raises:
        KeyedError: at the first offending key.
    """
    check_name("worker", config.name, ("name",))
    check_programs(config.programs)
    if config.unix_http_server is not None and config.unix_http_server.chown:
        check_owner(config.unix_http_server.chown, ("unix_http_server", "chown"))
    _check_taskmasterd(config.taskmasterd)
    for index, url in enumerate(config.bartos.urls):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise KeyedError(("bartos", "urls", index), f"expected ws://HOST:PORT or wss://HOST:PORT, not {url!r}")


def _check_taskmasterd(section: Taskmasterd) -> None:
    at = ("taskmasterd",)
    if not section.nodaemon:
        raise KeyedError((*at, "nodaemon"), "bartoc does not daemonize: run it under systemd; set nodaemon = true")
    if section.user is not None:
        check_user(section.user, (*at, "user"))
    check_env(section.environment(), (*at, "env"))


def check_running(config: WorkerConfig) -> None:
    """What running needs beyond :func:`check_worker`: the server key is a key (barto's example
    configs hold a placeholder; they load, but a worker does not run with it)."""
    check_worker(config)
    config.bartos.check_files()
    if config.server_public_key is not None:
        check_key(config.server_public_key, ("server_public_key",))
