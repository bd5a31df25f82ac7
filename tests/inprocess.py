"""A bartos app served in the test's own process: its lifespan run by hand, requests through
httpx's ASGI transport. Fast tests of the HTTP door; what crosses processes stays in tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from barto.config import load_server, source
from barto.server.app import create_app

TOKENS = {
    "read": "r" * 24,
    "operate": "o" * 24,
    "admin": "a" * 24,
    "worker": "w" * 24,  # the credential of worker w1
}
LEGACY = "k" * 24  # barto's api_key

SECURED = f"""
api_key = "{LEGACY}"
[tokens.reader]
role = "read"
token = "{TOKENS["read"]}"
[tokens.operator]
role = "operate"
token = "{TOKENS["operate"]}"
[tokens.boss]
role = "admin"
token = "{TOKENS["admin"]}"
[tokens.w1]
role = "worker"
token = "{TOKENS["worker"]}"
"""


@asynccontextmanager
async def serving(
    tmp_path: Path, extra: str = SECURED, database: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a bartos on a fresh SQLite file (or ``database``) with config ``extra``."""
    url = database or f"sqlite:///{tmp_path}/bartos.db"
    path = tmp_path / "bartos.toml"
    path.write_text(f'lease_seconds = 1\n{extra}\n[database]\nurl = "{url}"\n')
    src = source("bartos", path, {}, {})
    config = load_server(src, serving=True)
    app = create_app(config, config_path=path, loader=lambda: load_server(src), env={})
    async with _lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bartos") as client:
            await _wait_leading(client)
            yield client


async def _wait_leading(client: httpx.AsyncClient) -> None:
    """Until the app leads (a standby would redirect): bounded by 100 tries, 10 s."""
    info = None
    for _ in range(100):
        info = await client.get("/v1/info", headers=bearer("admin"))
        if info.status_code == 200 and info.json()["cluster"]["role"] == "leader":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the in-process server did not lead: {info and info.text}")


def bearer(role: str | None) -> dict[str, str]:
    """The Authorization header of a role's token ("legacy": barto's api_key; None: none)."""
    if role is None:
        return {}
    return {"Authorization": f"Bearer {LEGACY if role == 'legacy' else TOKENS[role]}"}


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run the ASGI lifespan protocol: startup before the body, shutdown after."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), 30)
    if started["type"] != "lifespan.startup.complete":
        task.cancel()
        raise AssertionError(f"startup failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(outbox.get(), 30)
        await asyncio.wait_for(task, 30)
