"""Supervised programs (docs/programs.md): the fleet view, the history of state changes, recent
output, and control requests relayed to a worker's supervisor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from barto.api import operations as ops
from barto.api import requests as r
from barto.api.answers import ControlReply, ProgramRow, TailLine
from barto.errors import Conflict, NotFound, TimedOut
from barto.model import ProgramEvent
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts

CONTROL_SECONDS = 120.0  # a stop waits for stopwaitsecs of every process it stops
KEEPALIVE_SECONDS = 15.0


@implements(ops.PROGRAMS)
async def listing(parts: Parts, request: r.Programs) -> list[ProgramRow]:
    """Every supervised process of every worker (or of one), with its worker's link."""
    return [
        ProgramRow(**row, connected=parts.hub.is_connected(row["worker"]))
        for row in parts.fleet.listing(request.worker)
    ]


@implements(ops.EVENTS)
async def events(parts: Parts, request: r.ProgramEvents) -> list[ProgramEvent]:
    """State changes, oldest first: the newest ``limit`` (of ``worker``, of ``name``)."""
    return await parts.store.program_events(request.worker, request.name, request.limit)


@implements(ops.TAIL)
async def tail(parts: Parts, request: r.Tail) -> list[TailLine]:
    """The last lines of a process (``limit``, after ``after``)."""
    _known(parts, request)
    return parts.fleet.tail(request.worker, request.name, request.after, request.limit)


@implements(ops.TAIL_FOLLOW)
async def follow(parts: Parts, request: r.Tail) -> AsyncIterator[TailLine | None]:
    """:func:`tail`, then each new line, for ever; None now and then while nothing comes (a door
    keeps its connection alive with it)."""
    _known(parts, request)
    return _follow(parts, request)


async def _follow(parts: Parts, request: r.Tail) -> AsyncIterator[TailLine | None]:
    after = request.after
    while True:
        lines = await parts.fleet.wait_tail(request.worker, request.name, after, request.limit, KEEPALIVE_SECONDS)
        for line in lines:
            yield line
        after = lines[-1].seq if lines else after
        if not lines:
            yield None


def _known(parts: Parts, request: r.Tail) -> None:
    if not parts.fleet.knows(request.worker, request.name):
        raise NotFound(
            "program_not_found", f"worker {request.worker!r} has reported no program or process {request.name!r}"
        )


def _relay(command: str) -> Any:
    async def relay(parts: Parts, request: r.Control) -> ControlReply:
        session = parts.hub.session(request.worker)
        if session is None:
            raise Conflict("worker_offline", f"worker {request.worker!r} is not connected")
        fields = {"name": request.name, "signal": request.signal, "bytes": request.bytes}
        ask: dict[str, Any] = {"command": command, **{k: v for k, v in fields.items() if v is not None}}
        try:
            answer = await parts.fleet.ask(session, ask, CONTROL_SECONDS)
        except TimeoutError:
            raise TimedOut(
                "worker_silent", f"worker {request.worker!r} did not answer in {CONTROL_SECONDS:g} s"
            ) from None
        try:
            return msgspec.convert(answer, ControlReply)
        except msgspec.ValidationError:
            return ControlReply(
                status=502, error={"message": f"worker {request.worker!r} answered {str(answer)[:200]}"}
            )

    relay.__doc__ = f"Relay {command!r} to the worker's supervisor and answer with what it answered."
    return relay


for _command, _operation in ops.CONTROL.items():
    implements(_operation)(_relay(_command))
