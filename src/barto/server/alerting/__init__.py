"""Alerts (docs/alerts.md): events found by the leader, recorded in the store, then delivered
by webhook, email or command, at least once."""

from __future__ import annotations

from barto.server.alerting.watcher import Alerting

__all__ = ["Alerting"]
