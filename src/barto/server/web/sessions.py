"""Who is looking at the dashboard: login sessions, and the CSRF token every form carries.

A login takes a token (the API's tokens and roles) and gives an ``HttpOnly`` ``SameSite=Strict``
cookie naming a session kept in this process; the token itself never goes back to the browser.
Sessions are held in memory: a restart or a failover to another bartos asks for a login again,
and logging out ends the session at once. Each session lives :data:`IDLE` without use, at most
:data:`LIFETIME`, and the oldest go first beyond :data:`MAX_SESSIONS` (only a valid token makes
one, so this bounds memory, not attackers).

CSRF: every form holds the value of the ``barto_csrf`` cookie (double submit; the cookie is
``SameSite=Strict``, so a page elsewhere can neither read it nor have it sent). A logged-in
session also pins the value it was given at login, so a cookie planted by a sibling domain
does not match.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from barto.server.auth import Principal

SESSION_COOKIE = "barto_session"
CSRF_COOKIE = "barto_csrf"
CSRF_FIELD = "csrf"
IDLE = 12 * 3600.0
LIFETIME = 7 * 24 * 3600.0
MAX_SESSIONS = 10_000


@dataclass
class Session:
    """One login: whose token, and the CSRF value it was given."""

    principal: Principal
    digest: bytes  # the token's SHA-256: a token removed from the config ends its sessions
    csrf: str
    created: float = field(default_factory=time.monotonic)
    used: float = field(default_factory=time.monotonic)


class Sessions:
    """The logins of this process, by session id."""

    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def start(self, principal: Principal, digest: bytes, csrf: str) -> str:
        """A new session for ``principal``; its id (the cookie's value)."""
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.popitem(last=False)
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(principal, digest, csrf)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session of ``sid`` (None: no such session, or it expired)."""
        if not sid or (session := self._by_id.get(sid)) is None:
            return None
        now = time.monotonic()
        if now - session.used > IDLE or now - session.created > LIFETIME:
            del self._by_id[sid]
            return None
        session.used = now
        self._by_id.move_to_end(sid)
        return session

    def end(self, sid: str | None) -> None:
        """Log ``sid`` out (nothing if it is unknown)."""
        if sid:
            self._by_id.pop(sid, None)


def new_csrf() -> str:
    """A fresh CSRF value."""
    return secrets.token_urlsafe(24)


def csrf_matches(sent: str | None, expected: str | None) -> bool:
    """Whether a form's CSRF value is the expected one (compared in constant time)."""
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent), str(expected))
