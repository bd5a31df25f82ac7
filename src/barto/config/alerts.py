"""``[alerts.<name>]`` in bartos.toml: which events to tell someone about, and where to send them
(docs/alerts.md). Each alert names events, the schedules and workers they concern (globs), and
at least one channel: a webhook (signed), email over SMTP, or a command."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import msgspec

from barto.config._load import KeyedError
from barto.config.common import _Section, check_name

Event = Literal["failed", "missed", "late", "stuck", "worker_offline", "program_fatal", "recovered"]
EVENTS: tuple[Event, ...] = ("failed", "missed", "late", "stuck", "worker_offline", "program_fatal", "recovered")


class Webhook(_Section, frozen=True, kw_only=True):
    """A JSON POST; with ``secret``, signed as ``X-Barto-Signature: sha256=<hex HMAC>``."""

    url: str
    secret: str | None = None
    timeout_secs: float = 10.0


class Email(_Section, frozen=True, kw_only=True):
    """A message over SMTP: STARTTLS on the submission port by default, or TLS from the start."""

    host: str
    port: int = 587
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: str | None = None
    from_: str = msgspec.field(name="from")
    to: list[str]
    timeout_secs: float = 30.0


class Alert(_Section, frozen=True, kw_only=True):
    """One ``[alerts.<name>]``: events (``on``), whose (``schedules``, ``workers``: globs),
    how often (``throttle_secs`` per schedule, worker or program), the thresholds of ``late``
    (not started ``late_secs`` after its slot), ``stuck`` (running past its timeout, or
    ``stuck_factor`` times its p95) and ``worker_offline`` (gone ``offline_secs``), and where."""

    on: list[Event]
    schedules: list[str] = msgspec.field(default_factory=lambda: ["*"])
    workers: list[str] = msgspec.field(default_factory=lambda: ["*"])
    throttle_secs: float = 300.0
    late_secs: float = 60.0
    stuck_factor: float = 3.0
    offline_secs: float = 60.0
    webhook: Webhook | None = None
    email: Email | None = None
    command: list[str] | None = None

    def channels(self) -> list[str]:
        """The channels configured, in a fixed order."""
        return [c for c in ("webhook", "email", "command") if getattr(self, c) is not None]


_BOUNDS = {
    "throttle_secs": (0.0, 7 * 86400.0),
    "late_secs": (0.0, 7 * 86400.0),
    "stuck_factor": (1.0, 1000.0),
    "offline_secs": (0.0, 7 * 86400.0),
}


def check_alerts(alerts: dict[str, Alert]) -> None:
    """Every alert has a name by the rules, events, a channel, and values in range.

    Raises:
        KeyedError: naming the key at fault.
    """
    for name, alert in alerts.items():
        at = ("alerts", name)
        check_name("alert", name, at)
        if not alert.on:
            raise KeyedError((*at, "on"), f"name at least one event: {', '.join(EVENTS)}")
        if not alert.channels():
            raise KeyedError(at, "give at least one of webhook, email, command")
        for key, (low, high) in _BOUNDS.items():
            if not low <= getattr(alert, key) <= high:
                raise KeyedError((*at, key), f"must be between {low:g} and {high:g}")
        for key in ("schedules", "workers"):
            if any(not glob or "\0" in glob or len(glob) > 1024 for glob in getattr(alert, key)):
                raise KeyedError((*at, key), "each pattern is 1-1024 characters without NUL")
        _check_channels(alert, at)


def _check_channels(alert: Alert, at: tuple[str, ...]) -> None:
    if alert.webhook is not None:
        url = urlsplit(alert.webhook.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise KeyedError((*at, "webhook", "url"), "must be an http:// or https:// URL with a host")
        _timeout(alert.webhook.timeout_secs, (*at, "webhook", "timeout_secs"))
    if alert.email is not None:
        email = alert.email
        if not email.to:
            raise KeyedError((*at, "email", "to"), "name at least one address")
        if not 0 < email.port < 65536:
            raise KeyedError((*at, "email", "port"), "must be 1-65535")
        if email.tls and email.starttls:
            raise KeyedError((*at, "email", "tls"), "tls (TLS from the start) and starttls exclude each other")
        if (email.username is None) != (email.password is None):
            raise KeyedError((*at, "email", "username"), "give username and password together")
        _timeout(email.timeout_secs, (*at, "email", "timeout_secs"))
    if alert.command is not None and (not alert.command or any("\0" in part for part in alert.command)):
        raise KeyedError((*at, "command"), "a program and its arguments, without NUL")


def _timeout(value: float, at: tuple[str, ...]) -> None:
    if not 0 < value <= 300:
        raise KeyedError(at, "must be greater than 0 and at most 300")
