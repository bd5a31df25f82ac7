"""The one root of the errors a caller of barto is meant to see, whatever door it came through.

An operation raises one of the five kinds below, each with a stable ``code`` (a word a script
can match on, e.g. ``schedule_not_found``) and a message for a person. Every door maps the kind
to its own way of saying it in one table: HTTP statuses in ``barto.server.http``, 9P error
strings, exit codes. Anything else that escapes an operation is a bug, and is answered as one.
"""

from __future__ import annotations


class BartoError(Exception):
    """What went wrong, as a stable code and a message; the subclass says whose fault it is.

    ``BartoError(code, message)``, or ``BartoError(message)`` for a class whose every instance
    has the same code (its class attribute ``code``): ``StoreError("cannot reach ...")``.
    """

    kind = "error"
    code = "error"

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code if message is None else message)
        if message is not None:
            self.code = code


class Invalid(BartoError):
    """The request itself is wrong (a name, a number, a body); sending it again will not help."""

    kind = "invalid"


class TooLarge(Invalid):
    """The request is bigger than this door accepts (a body past its limit)."""

    kind = code = "too_large"


class TooSlow(Invalid):
    """The caller took longer to send its request than this door waits."""

    kind = code = "too_slow"


class NotFound(BartoError):
    """What the request names does not exist."""

    kind = "not_found"


class Conflict(BartoError):
    """The request is valid, but the state of things refuses it now (a worker offline, a run
    already ended, a schedule the config file owns)."""

    kind = "conflict"


class Forbidden(BartoError):
    """The caller may not do this."""

    kind = "forbidden"


class Unauthenticated(Forbidden):
    """The caller did not say who it is (no token, or an unknown one)."""

    kind = "unauthenticated"


class Unavailable(BartoError):
    """A part this needs cannot answer now (the database, a worker); trying again may work."""

    kind = "unavailable"


class TimedOut(Unavailable):
    """A part this needs did not answer in time."""

    kind = "timed_out"


KINDS: dict[str, type[BartoError]] = {
    kind.kind: kind
    for kind in (Invalid, TooLarge, TooSlow, NotFound, Conflict, Forbidden, Unauthenticated, Unavailable, TimedOut)
}
"""Each kind by its name, as a door's error body carries it (a client raises the same kind again)."""
