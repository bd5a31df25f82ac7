"""A stop cancels the worker's link once; the link must end even when the cancel lands where a
library turns it into an error of its own (websockets closing a session the server closes)."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
import pytest

from barto.config import WorkerConfig
from barto.worker.link import Link

pytestmark = pytest.mark.anyio


class SwallowingLink(Link):
    """A link whose sessions do what websockets did: a cancel during one comes back as a failed
    session, not as a cancellation."""

    def __init__(self) -> None:  # only what Link.run reads
        self._config = msgspec.convert({"name": "w1", "bartos": {"host": "127.0.0.1", "port": 1}}, WorkerConfig)
        self._stopping = False
        self.attempts = 0

    async def _try(self, url: str) -> Literal["welcomed", "standby", "failed"]:
        self.attempts += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return "failed"  # the library's error, caught as a session error would be
        return "failed"


async def test_a_stopped_link_ends_even_if_a_session_swallowed_the_cancel() -> None:
    link = SwallowingLink()
    task = asyncio.create_task(link.run())
    await asyncio.sleep(0.02)  # inside the first attempt
    link.stop()  # what bartoc's stop does, then the cancel
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done
    assert link.attempts == 1  # it did not try again


async def test_a_link_not_stopped_goes_on_after_a_failed_session() -> None:
    link = SwallowingLink()
    task = asyncio.create_task(link.run())
    done, _ = await asyncio.wait([task], timeout=1.5)
    assert not done  # a server that went away is tried again, and again
    assert link.attempts >= 2
    link.stop()
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.done()
