"""Running a program's main coroutine on uvloop, with SIGINT/SIGTERM wired to a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

Stop = Callable[[], None]
# main(register) runs the program; it may call register(stop) to handle SIGINT/SIGTERM itself.
Main = Callable[[Callable[[Stop], None]], Coroutine[Any, Any, None]]


def run(main: Main) -> None:
    """Run ``main(register)``. SIGINT/SIGTERM call the stop function ``main`` registered, if any,
    else cancel ``main`` (whose cleanup then runs); a further signal cancels."""
    uvloop.run(_guarded(main))


async def _guarded(main: Main) -> None:
    stops: list[Stop] = []
    task = asyncio.ensure_future(main(stops.append))
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stops:
            stops.pop()()
        else:
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await task
