"""Alerts: what was sent and what failed, and a test event on demand (docs/alerts.md)."""

from __future__ import annotations

import msgspec

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.errors import NotFound
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts
from barto.store.alerts import AlertRow


@implements(ops.ALERTS)
async def listing(parts: Parts, request: r.Alerts) -> list[a.Delivery]:
    """The newest deliveries first."""
    return [_delivery(row) for row in await parts.store.alerts.recent(request.limit, request.before)]


@implements(ops.ALERT_TEST)
async def test(parts: Parts, request: r.AlertRef) -> list[a.Delivery]:
    """A test event through every channel of one alert, sent now; how each went."""
    if request.name not in parts.alerting.alerts:
        known = ", ".join(sorted(parts.alerting.alerts)) or "none configured"
        raise NotFound("alert_not_found", f"no [alerts.{request.name}] in the config ({known})")
    return [_delivery(row) for row in await parts.alerting.test(request.name)]


_SHOWN = tuple(f.name for f in msgspec.structs.fields(a.Delivery))


def _delivery(row: AlertRow) -> a.Delivery:
    """A row as the API shows it (without the event's key and body)."""
    return a.Delivery(**{name: getattr(row, name) for name in _SHOWN})
