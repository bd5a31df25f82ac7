"""What the operations work with, given by the app (no locator): the live pieces, and as
functions what changes with leadership (the term's catalog and scheduler, whether this
instance leads)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from barto.config import ServerConfig
from barto.server.alerting import Alerting
from barto.server.btu.source import BtuSource
from barto.server.cluster.lease import Leadership
from barto.server.gateway.fleet import Fleet
from barto.server.gateway.hub import Hub
from barto.server.gateway.ingest import Ingest
from barto.server.scheduling.term import Term
from barto.server.telemetry import Telemetry
from barto.store import Store


@dataclass(frozen=True)
class Parts:
    """The operations' dependencies."""

    config: ServerConfig
    config_path: str
    started_at: datetime
    store: Store
    hub: Hub
    fleet: Fleet
    ingest: Ingest
    leadership: Leadership
    telemetry: Telemetry
    alerting: Alerting
    term: Callable[[], Term]  # the current term's (a takeover replaces it)
    leading: Callable[[], bool]
    btu: BtuSource | None = None  # [btu]'s table, when there is one
