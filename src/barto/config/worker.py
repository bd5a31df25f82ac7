"""``bartoc`` configuration: barto's ``bartoc.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

import msgspec

from barto.config._load import KeyedError
from barto.config._paths import state_home
from barto.config.common import BartosLink, Tracing, _Section, check_key, check_name, check_owner
from barto.config.programs import ProgramDef, check_programs


class UnixHttpServer(_Section, frozen=True, kw_only=True):
    """``[unix_http_server]`` (the taskmaster seed's): the local control socket of the programs."""

    file: str
    chmod: int = 0o700
    chown: str | None = None  # "user" or "user:group"


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
    for index, url in enumerate(config.bartos.urls):
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise KeyedError(("bartos", "urls", index), f"expected ws://HOST:PORT or wss://HOST:PORT, not {url!r}")


def check_running(config: WorkerConfig) -> None:
    """What running needs beyond :func:`check_worker`: the server key is a key (barto's example
    configs hold a placeholder; they load, but a worker does not run with it)."""
    check_worker(config)
    if config.server_public_key is not None:
        check_key(config.server_public_key, ("server_public_key",))
