"""What the server's parts share, built once per process by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from barto.config import ServerConfig
from barto.config.programs import ProgramDef
from barto.protocol.signing import Signer
from barto.server.alerting import Alerting
from barto.server.btu.source import BtuSource
from barto.server.cluster.lease import Leadership
from barto.server.gateway.fleet import Fleet
from barto.server.gateway.hub import Hub
from barto.server.gateway.ingest import Ingest
from barto.server.scheduling.term import Term
from barto.server.telemetry import Telemetry
from barto.store import Store


@dataclass
class ServerState:
    """The live parts of one bartos process, as the app, the takeover and the reloader share
    them. ``term`` is replaced each time this instance becomes the leader (read back from the
    store then); on a standby it is the view of its own start. Doors and operations never see
    this object: they get narrow parts (barto.server.operations.Parts, gateway.ws.Parts)."""

    config: ServerConfig
    store: Store
    hub: Hub
    ingest: Ingest
    term: Term
    leadership: Leadership
    config_path: str
    alerting: Alerting  # the leader looks and sends; operations send tests
    signer: Signer | None = None  # seals every frame to workers (signing_key)
    fleet: Fleet = field(default_factory=Fleet)  # the workers' programs now
    telemetry: Telemetry = field(default_factory=Telemetry)  # what /metrics shows besides the store's counts
    programs: dict[str, dict[str, ProgramDef]] = field(default_factory=dict)  # per worker, from the config
    btu: BtuSource | None = None  # [btu]'s table: the leader reads it

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
