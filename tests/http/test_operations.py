"""Every operation through the REST door, in-process: what it answers when it works, and the
error it gives when what it names is not there or not in a state for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inprocess import bearer, serving

pytestmark = pytest.mark.anyio
ADMIN = bearer("admin")
DAILY = {"name": "nightly", "cmds": ["true"], "on_calendar": "*-*-* 03:00:00", "timezone": "Europe/Berlin"}


async def _json(client: httpx.AsyncClient, method: str, url: str, status: int, body: Any = None) -> Any:
    answer = await client.request(method, url, json=body, headers=ADMIN)
    assert answer.status_code == status, f"{method} {url}: {answer.status_code} {answer.text}"
    return answer.json()


async def test_schedules_from_add_to_remove(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        added = await _json(client, "POST", "/v1/schedules/w1", 201, DAILY)
        assert (added["worker"], added["name"], added["source"], added["enabled"]) == ("w1", "nightly", "api", True)
        assert added["next_fire"].endswith(":00:00Z")  # 03:00 in Berlin is 01:00 or 02:00 UTC
        assert added["next_fire"][11:13] in ("01", "02")
        listed = await _json(client, "GET", "/v1/schedules", 200)
        assert [(s["worker"], s["name"]) for s in listed] == [("w1", "nightly")]
        assert (await _json(client, "POST", "/v1/schedules/w1/nightly/disable", 200))["enabled"] is False
        assert (await _json(client, "POST", "/v1/schedules/w1/nightly/enable", 200))["enabled"] is True
        assert (await _json(client, "POST", "/v1/schedules/w1/nightly/pause", 200))["paused"] is True
        assert (await _json(client, "POST", "/v1/schedules/w1/nightly/resume", 200))["paused"] is False
        ran = await _json(client, "POST", "/v1/schedules/w1/nightly/run", 409)
        assert ran["error"] == {"code": "worker_offline", "kind": "conflict", "message": "worker 'w1' is not connected"}
        assert await _json(client, "DELETE", "/v1/schedules/w1/nightly", 200) == {"removed": "nightly", "worker": "w1"}
        missing = await _json(client, "DELETE", "/v1/schedules/w1/nightly", 404)
        assert missing["error"]["code"] == "schedule_not_found"
        for verb in ("enable", "disable"):
            assert (await _json(client, "POST", f"/v1/schedules/w1/nightly/{verb}", 404))["error"][
                "kind"
            ] == "not_found"
        for verb in ("pause", "resume", "run"):
            assert (await _json(client, "POST", f"/v1/schedules/w1/nightly/{verb}", 404))["error"][
                "kind"
            ] == "not_found"


async def test_backfilled_runs_can_be_listed_read_and_cancelled(tmp_path: Path) -> None:
    queued = {**DAILY, "offline": "queue", "queue_ttl": 31_000_000}  # they wait for w1 (offline)
    async with serving(tmp_path) as client:
        await _json(client, "POST", "/v1/schedules/w1", 201, queued)
        window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T23:59:59Z"}
        created = await _json(client, "POST", "/v1/schedules/w1/nightly/backfill", 201, window)
        assert [r["slot"] for r in created] == [f"2026-11-0{d}T02:00:00Z" for d in (1, 2, 3)]  # CET: UTC+1
        assert {r["trigger"] for r in created} == {"backfill"}
        runs = await _json(client, "GET", "/v1/runs?schedule=nightly&limit=10", 200)
        assert sorted(r["id"] for r in runs) == sorted(r["id"] for r in created)
        one = created[0]["id"]
        assert (await _json(client, "GET", f"/v1/runs/{one}", 200))["schedule"] == "nightly"
        assert await _json(client, "GET", f"/v1/runs/{one}/output", 200) == []
        assert (await _json(client, "GET", f"/v1/runs/{one}", 200))["state"] == "pending"
        assert (await _json(client, "POST", f"/v1/runs/{one}/cancel", 202))["state"] == "cancelled"  # at once
        ended = await _json(client, "POST", f"/v1/runs/{one}/cancel", 409)
        assert ended["error"]["code"] == "run_finished"
        assert (await _json(client, "GET", "/v1/runs/424242", 404))["error"]["code"] == "run_not_found"
        assert (await _json(client, "GET", "/v1/runs/424242/output?follow=1", 404))["error"]["code"] == "run_not_found"
        assert await _json(client, "GET", "/v1/failed", 200) == []
        assert await _json(client, "GET", "/v1/workers/w1/schedules", 200) in ([], ["nightly"])


async def test_the_server_itself(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        assert (await client.get("/healthz")).json() == {"ok": True}
        info = await _json(client, "GET", "/v1/info", 200)
        assert (info["name"], info["database"], info["cluster"]["role"]) == ("bartos", "sqlite", "leader")
        assert await _json(client, "GET", "/v1/clients", 200) == []
        report = await _json(client, "GET", "/v1/workers/w1/updates?kind=apt", 200)
        assert report == {"run": None, "kind": "apt", "report": []}
        done = await _json(client, "POST", "/v1/cleanup", 200, {"older_than_days": 0})
        assert (done["total"], done["runs"]) == (0, 0)
        streamed = await client.post("/v1/cleanup?progress=1", json={}, headers=ADMIN)
        lines = [line for line in streamed.text.splitlines() if line]
        assert streamed.headers["content-type"] == "application/x-ndjson"
        assert len(lines) >= 2  # the total first, then the final tally
        found = await _json(client, "POST", "/v1/query", 200, {"sql": "SELECT count(*) AS n FROM runs"})
        assert found == {"columns": ["n"], "rows": [[0]], "truncated": False}


async def test_programs_of_a_fleet_without_workers(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        assert await _json(client, "GET", "/v1/programs", 200) == []
        assert await _json(client, "GET", "/v1/programs/events?worker=w1", 200) == []
        tail = await _json(client, "GET", "/v1/workers/w1/programs/web/tail", 404)
        assert tail["error"]["code"] == "program_not_found"
        for command in ("status", "pid", "tail", "start", "stop", "restart", "signal", "reload", "shutdown"):
            offline = await _json(client, "POST", f"/v1/workers/w1/ctl/{command}", 409, {})
            assert offline["error"]["code"] == "worker_offline", command


async def test_a_backfill_too_large_is_refused_without_counting_every_slot(tmp_path: Path) -> None:
    """80 days of a 10-second schedule is 691,200 slots: refused at the 10,001st, nothing made."""
    every_ten = {"name": "often", "cmds": ["true"], "on_calendar": "*:*:0/10"}
    async with serving(tmp_path) as client:
        await _json(client, "POST", "/v1/schedules/w1", 201, every_ten)
        window = {"from": "2026-09-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
        refused = await _json(client, "POST", "/v1/schedules/w1/often/backfill", 400, window)
        assert refused["error"]["code"] == "too_many_slots"
        assert refused["error"]["message"].startswith("more than 10000 slots in that range")
        runs = await _json(client, "GET", "/v1/runs?limit=1000", 200)  # the schedule's own slots come meanwhile
        assert [r for r in runs if r["trigger"] == "backfill"] == []
        window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:59:59Z"}
        made = await _json(client, "POST", "/v1/schedules/w1/often/backfill", 201, window)
        assert len(made) == 360  # an hour of them is fine: every slot, none lost at a slice's edge
        assert made[0]["slot"] == "2026-11-01T00:00:00Z"
        assert made[-1]["slot"] == "2026-11-01T00:59:50Z"
