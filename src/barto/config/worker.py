"""``bartoc`` configuration: barto's ``bartoc.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from barto.config._paths import state_home
from barto.config.common import BartosLink, Tracing, _Section


class WorkerConfig(_Section, frozen=True, kw_only=True):
    """Everything ``bartoc`` reads from ``bartoc.toml``, the environment and its flags.

    ``retry_count``: 0 (the default) reconnects forever; a positive number gives up after that
    many consecutive failed connection attempts and exits with status 1, so that a service
    manager restarts it (barto exited 0). ``missed_tick`` is accepted for compatibility; the
    server decides about missed slots now.
    """

    name: str
    retry_count: int = 0
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
    replay_window_secs: int = 60
    stop_wait_seconds: float = 10.0

    def outbox_path(self, env: Mapping[str, str]) -> Path:
        """Where the local outbox lives (``-r``; barto called it the redb file)."""
        return Path(self.redb_path) if self.redb_path else state_home(env) / "bartoc" / "outbox.sqlite"
