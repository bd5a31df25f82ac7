"""What the server's parts share, built once per process by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from barto.config import ServerConfig
from barto.config.programs import ProgramDef
from barto.protocol.signing import Signer
from barto.server.cluster.lease import Leadership
from barto.server.gateway.fleet import Fleet
from barto.server.gateway.hub import Hub
from barto.server.gateway.ingest import Ingest
from barto.server.scheduling.catalog import Catalog
from barto.server.scheduling.scheduler import Scheduler
from barto.store import Store


@dataclass
class ServerState:
    """The live parts of one bartos process.

    ``scheduler`` and ``catalog`` are replaced each time this instance becomes the leader (they
    are read back from the store then); on a standby they hold the view of its own start.
    """

    config: ServerConfig
    store: Store
    hub: Hub
    ingest: Ingest
    scheduler: Scheduler
    catalog: Catalog
    leadership: Leadership
    config_path: str
    signer: Signer | None = None  # seals every frame to workers (signing_key)
    fleet: Fleet = field(default_factory=Fleet)  # the workers' programs now
    programs: dict[str, dict[str, ProgramDef]] = field(default_factory=dict)  # per worker, from the config

    def programs_of(self, worker: str) -> dict[str, Any]:
        """The program definitions this server holds for ``worker``, as sent on the wire."""
        found: dict[str, Any] = msgspec.to_builtins(self.programs.get(worker, {}))
        return found

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    leader_ready: bool = False  # took over and runs the scheduler

    @property
    def leading(self) -> bool:
        """Whether this instance is the scheduler leader now (and has finished taking over)."""
        return self.leader_ready and self.leadership.leading

    def apply_schedules(self) -> None:
        """Give the scheduler the catalog's schedules (after a reload or an API change)."""
        self.scheduler.load(self.catalog.merged(), self.config.timezone, datetime.now(UTC), api=self.catalog.api_keys())
