"""Authorization is per operation: every route x every role, against the table written here.

The table below is the documentation's promise (docs/security.md), written out by hand rather
than read from the declarations, so that a declaration changed by mistake fails here. Path
names are chosen to look like verbs (a worker named ``resume``, a schedule named ``run``): a
name decides nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from barto.api.operations import OPERATIONS
from barto.server.http.doors import DOORS
from tests.inprocess import bearer, serving

pytestmark = pytest.mark.anyio

S = "/v1/schedules/{worker}/{name}"
W = "/v1/workers/{worker}"
PROMISED = {
    ("GET", "/healthz"): "open",
    ("GET", "/v1/info"): "read",
    ("GET", "/v1/clients"): "read",
    ("DELETE", "/v1/clients/{worker}"): "admin",
    ("GET", "/v1/schedules"): "read",
    ("GET", "/v1/overview"): "read",
    ("GET", S): "read",
    ("GET", "/v1/timeline"): "read",
    ("POST", "/v1/schedules/{worker}"): "admin",
    ("DELETE", "/v1/schedules/{worker}/{name:path}"): "admin",
    ("POST", f"{S}/enable"): "admin",
    ("POST", f"{S}/disable"): "admin",
    ("POST", f"{S}/cmds"): "admin",
    ("POST", f"{S}/run"): "operate",
    ("POST", f"{S}/backfill"): "operate",
    ("POST", f"{S}/pause"): "operate",
    ("POST", f"{S}/resume"): "operate",
    ("GET", "/v1/runs"): "read",
    ("GET", "/v1/runs/{run_id}"): "read",
    ("GET", "/v1/runs/{run_id}/output"): "read",
    ("POST", "/v1/runs/{run_id}/cancel"): "operate",
    ("GET", "/v1/failed"): "read",
    ("GET", f"{W}/schedules"): "read",
    ("GET", f"{W}/updates"): "read",
    ("POST", "/v1/cleanup"): "admin",
    ("POST", "/v1/query"): "read",
    ("GET", "/v1/metrics"): "read",
    ("GET", "/v1/rq/queues"): "read",
    ("GET", "/v1/rq/jobs"): "read",
    ("GET", "/v1/btu"): "read",
    ("POST", "/v1/btu/refresh"): "admin",
    ("POST", "/v1/btu/schedules/{name}/cancel"): "admin",
    ("POST", "/v1/btu/tasks/{name}/queue"): "operate",
    ("GET", "/v1/alerts"): "read",
    ("POST", "/v1/alerts/{name}/test"): "admin",
    ("GET", "/v1/programs"): "read",
    ("GET", "/v1/programs/events"): "read",
    ("GET", f"{W}/programs/{{name}}/tail"): "read",
    **{("POST", f"{W}/ctl/{c}"): "read" for c in ("status", "pid", "tail")},
    **{("POST", f"{W}/ctl/{c}"): "operate" for c in ("start", "stop", "restart", "signal")},
    **{("POST", f"{W}/ctl/{c}"): "admin" for c in ("reload", "shutdown")},
}
# Streams follow their door's role.
PROMISED_STREAMS = {"runs.follow": "read", "cleanup.progress": "admin", "programs.follow": "read"}
RANK = {"open": 0, "read": 1, "operate": 2, "admin": 3, "legacy": 3, "worker": -1, None: -1}
CALLERS = (None, "worker", "read", "operate", "admin", "legacy")
BODIES: dict[str, Any] = {
    "schedules.add": {"name": "run", "cmds": ["true"], "on_calendar": "daily"},
    "schedules.backfill": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:01Z"},
    "query": {"sql": "SELECT 1"},
    "schedules.commands": {"cmds": ["true"]},
}


def test_every_route_is_in_the_promised_table() -> None:
    declared = {(d.method, d.path): d.operation.role.value for d in DOORS}
    assert declared == PROMISED
    streams = {d.stream.name: d.stream.role.value for d in DOORS if d.stream is not None}
    assert streams == PROMISED_STREAMS
    assert {d.operation.name for d in DOORS} | set(streams) == set(OPERATIONS)  # every operation has a door


def _url(path: str) -> str:
    return (
        path.replace("{worker}", "resume")
        .replace("{name:path}", "run")
        .replace("{name}", "run")
        .replace("{run_id}", "1")
    )


async def test_every_route_answers_every_role_as_promised(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        for door in DOORS:
            calls = [(door.operation.name, _url(door.path))]
            if door.stream is not None:
                calls.append((door.stream.name, f"{_url(door.path)}?{door.flag}=1"))
            for name, url in calls:
                needed = PROMISED_STREAMS.get(name) or PROMISED[(door.method, door.path)]
                for caller in CALLERS:
                    await _check(client, door.method, url, name, needed, caller)


async def _check(client: httpx.AsyncClient, method: str, url: str, name: str, needed: str, caller: str | None) -> None:
    before = await _stored(client)
    body = BODIES.get(name.removesuffix(".progress"))
    answer = await client.request(method, url, headers=bearer(caller), json=body if method == "POST" else None)
    allowed = needed == "open" or RANK[caller] >= RANK[needed]
    where = f"{method} {url} as {caller or 'nobody'} (needs {needed})"
    assert answer.headers["content-type"].startswith(("application/json", "application/x-ndjson")), where
    if allowed:
        assert answer.status_code not in (401, 403), f"{where}: {answer.status_code} {answer.text}"
        return
    assert answer.status_code == (401 if caller is None else 403), f"{where}: {answer.status_code} {answer.text}"
    assert answer.json()["error"]["kind"] in ("unauthenticated", "forbidden"), where
    assert await _stored(client) == before, f"{where} changed what is stored"


async def _stored(client: httpx.AsyncClient) -> Any:
    schedules = await client.get("/v1/schedules", headers=bearer("admin"))
    runs = await client.get("/v1/runs", headers=bearer("admin"))
    return schedules.json(), runs.json()


async def test_names_like_operations_are_only_names(tmp_path: Path) -> None:
    """The holes of the path-suffix rule: an operate token could add a schedule for a worker
    named ``run`` and remove one named ``resume``."""
    async with serving(tmp_path) as client:
        body = {"name": "resume", "cmds": ["true"], "on_calendar": "daily"}
        added = await client.post("/v1/schedules/run", json=body, headers=bearer("operate"))
        assert added.status_code == 403, added.text
        added = await client.post("/v1/schedules/w1", json=body, headers=bearer("admin"))
        assert added.status_code == 201, added.text
        removed = await client.delete("/v1/schedules/w1/resume", headers=bearer("operate"))
        assert removed.status_code == 403, removed.text
        listed = (await client.get("/v1/schedules", headers=bearer("read"))).json()
        assert [(s["worker"], s["name"]) for s in listed] == [("w1", "resume")]


async def test_an_open_server_lets_everyone_do_everything(tmp_path: Path) -> None:
    """Without api_key and [tokens] the server is open, as barto's was (docs/security.md)."""
    async with serving(tmp_path, extra="") as client:
        body = {"name": "a", "cmds": ["true"], "on_calendar": "daily"}
        assert (await client.post("/v1/schedules/w1", json=body)).status_code == 201
        assert (await client.delete("/v1/schedules/w1/a")).status_code == 200
