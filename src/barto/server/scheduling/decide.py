"""What to do with a due run, as a pure function of the run, its worker's state and its
schedule's policies: send it, let it wait, or record it missed. No clock, no I/O: the
scheduler asks, then acts; tests ask without sleeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

SETTLE_GRACE = timedelta(seconds=60)  # how long runs wait for a worker still resending what it owed


class Link(Enum):
    """A worker's state as the scheduler sees it."""

    READY = "ready"  # connected, and has resent everything it owed
    SETTLING = "settling"  # connected, still resending what it owed (docs/protocol.md, "owed")
    ABSENT = "absent"  # not connected


@dataclass(frozen=True)
class Send:
    """Send it now."""


@dataclass(frozen=True)
class Wait:
    """Keep it until ``expires`` for its worker; ``settling``: because the worker is still
    resending what it owed (it may then be judged for overlap), else for the offline queue."""

    expires: datetime
    settling: bool


@dataclass(frozen=True)
class Miss:
    """Record it ``missed: worker offline``."""


Decision = Send | Wait | Miss


def decide(slot: datetime, link: Link, offline: Literal["skip", "queue"], queue_ttl: float, now: datetime) -> Decision:
    """The fate of a run of ``slot`` due at ``now`` whose worker is in state ``link``.

    A settling worker is waited for whatever the policy: until it has resent what it owed, the
    store may count as going a run that has ended. An absent worker's run waits only with
    ``offline = "queue"``, until ``queue_ttl`` seconds after its slot.
    """
    if link is Link.READY:
        return Send()
    if link is Link.SETTLING:
        return Wait(expires=now + SETTLE_GRACE, settling=True)
    expires = slot + timedelta(seconds=queue_ttl)
    if offline == "queue" and expires > now:
        return Wait(expires=expires, settling=False)
    return Miss()
