"""Hostile input through the REST door: every answer is a 4xx with a JSON error body, nothing
stored changes, and the server keeps serving."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.inprocess import bearer, serving

pytestmark = pytest.mark.anyio

GOOD = {"name": "ok", "cmds": ["true"], "on_calendar": "daily"}
ADMIN = bearer("admin")

BAD_SCHEDULES: list[tuple[dict[str, Any] | str, str]] = [  # a str: the raw JSON
    ({**GOOD, "name": "../x"}, "not a valid name"),
    ({**GOOD, "name": "x?y=1#z"}, "not a valid name"),
    ({**GOOD, "name": "a/b"}, "not a valid name"),
    ({**GOOD, "name": ""}, "cannot be empty"),
    ({**GOOD, "name": ".hidden"}, "not a valid name"),
    ({**GOOD, "name": "a\0b"}, "not a valid name"),
    ({**GOOD, "name": "x" * 129}, "at most 128"),
    ({**GOOD, "name": "run now"}, "not a valid name"),
    ({**GOOD, "cmds": ["echo a\0b"]}, "NUL"),
    ({**GOOD, "cmds": []}, "at least one command"),
    ({**GOOD, "cmds": ["  "]}, "cannot be empty"),
    ({**GOOD, "env": {"A=B": "x"}}, "cannot be empty or hold '='"),
    ({**GOOD, "env": {"": "x"}}, "cannot be empty or hold '='"),
    ({**GOOD, "env": {"A": "x\0y"}}, "NUL"),
    ({**GOOD, "cwd": "/tmp\0x"}, "NUL"),
    ('{"name": "ok", "cmds": ["true"], "on_calendar": "daily", "timeout": 1e309}', "out of range"),
    ({**GOOD, "timeout": -1}, "greater than 0"),
    ({**GOOD, "retries": -1}, "0 or more"),
    ({**GOOD, "retries": 2**70}, "at most 1000"),
    ({**GOOD, "retries": 1001}, "at most 1000"),
    ({**GOOD, "timeout": 10**12}, "at most"),
    ({**GOOD, "max_output_bytes": 2**62}, "at most"),
    ({**GOOD, "on_calendar": "every day at noon"}, "on_calendar"),
    ({**GOOD, "frobnicate": True}, "unknown field"),
    ({"cmds": ["true"], "on_calendar": "daily"}, "missing required field"),
]


@pytest.mark.parametrize(("body", "why"), BAD_SCHEDULES)
async def test_a_bad_schedule_is_a_400_that_names_the_rule(
    tmp_path: Path, body: dict[str, Any] | str, why: str
) -> None:
    raw = body.encode() if isinstance(body, str) else msgspec.json.encode(body)
    async with serving(tmp_path) as client:
        answer = await client.post("/v1/schedules/w1", content=raw, headers=ADMIN)
        assert answer.status_code == 400, answer.text
        assert why in answer.json()["error"]["message"], answer.text
        assert (await client.get("/v1/schedules", headers=ADMIN)).json() == []


REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/v1/schedules/bad%00worker", GOOD, 400, "bad_request"),
    ("POST", "/v1/schedules/%2E%2E", GOOD, 400, "bad_name"),
    ("POST", "/v1/schedules/-x%20y", GOOD, 400, "bad_name"),
    ("GET", "/v1/runs/0", None, 400, "bad_request"),
    ("GET", "/v1/runs/-1", None, 400, "bad_request"),
    ("GET", "/v1/runs/abc", None, 400, "bad_request"),
    ("GET", "/v1/runs/9223372036854775808", None, 400, "bad_request"),  # 2^63: past every BIGINT
    ("GET", "/v1/runs/99999999999999999999999999", None, 400, "bad_request"),
    ("GET", "/v1/runs/9223372036854775807", None, 404, "run_not_found"),  # 2^63 - 1: a fine id, none such
    ("GET", "/v1/runs?limit=0", None, 400, "bad_request"),
    ("GET", "/v1/runs?limit=inf", None, 400, "bad_request"),
    ("GET", "/v1/runs?limit=nan", None, 400, "bad_request"),
    ("GET", "/v1/runs?limit=1.5", None, 400, "bad_request"),
    ("GET", "/v1/runs?limit=99999999999999999999999", None, 400, "bad_request"),
    ("GET", "/v1/runs?limit=100001", None, 400, "bad_request"),
    ("GET", "/v1/runs?state=exploded", None, 400, "bad_request"),
    ("GET", "/v1/runs?worker=a%00b", None, 400, "bad_request"),
    ("GET", f"/v1/runs?worker={'x' * 2000}", None, 400, "bad_request"),
    ("GET", "/v1/runs?frobnicate=1", None, 400, "bad_request"),
    ("GET", "/v1/runs/1/output?after=-1", None, 400, "bad_request"),
    ("GET", "/v1/workers/w1/updates?kind=windows", None, 400, "bad_request"),
    ("GET", "/v1/workers/w1/updates", None, 400, "bad_request"),
    ("POST", "/v1/cleanup", {"older_than_days": 1e300}, 400, "bad_request"),
    ("POST", "/v1/cleanup", {"older_than_days": -1}, 400, "bad_request"),
    ("POST", "/v1/cleanup", {"older_than_days": "soon"}, 400, "bad_request"),
    ("POST", "/v1/cleanup", [1, 2], 400, "bad_body"),
    ("POST", "/v1/query", {"sql": "x" * 100_001}, 400, "bad_request"),
    ("POST", "/v1/query", {"sql": "DELETE FROM runs"}, 400, "not_a_select"),
    ("POST", "/v1/query", {}, 400, "bad_request"),
    (
        "POST",
        "/v1/schedules/w1/ok/backfill",
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        400,
        "bad_range",
    ),
    (
        "POST",
        "/v1/schedules/w1/ok/backfill",
        {"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"},
        400,
        "bad_request",
    ),  # a time without a zone is refused, not guessed
    ("POST", "/v1/schedules/w1/ok/run", {"worker": "w2"}, 400, "bad_request"),  # a body cannot override the path
    ("POST", "/v1/schedules/w1/ok/run?force=1", None, 400, "bad_parameter"),
    ("POST", "/v1/workers/w1/ctl/status", {"bytes": 2**40}, 400, "bad_request"),
    ("POST", "/v1/workers/w1/ctl/status", {"command": "shutdown"}, 400, "bad_request"),  # the path is the command
    ("POST", "/v1/workers/w1/ctl/format-disk", None, 404, "no_such_path"),
    ("GET", "/v1/nothing-here", None, 404, "no_such_path"),
    ("GET", "/v1/query", None, 405, "method_not_allowed"),
    ("DELETE", "/v1/runs/1", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "code"), REQUESTS)
async def test_hostile_requests_get_a_json_error(
    tmp_path: Path, method: str, url: str, body: Any, status: int, code: str
) -> None:
    async with serving(tmp_path) as client:
        added = await client.post("/v1/schedules/w1", json=GOOD, headers=ADMIN)
        assert added.status_code == 201, added.text
        before = await _stored(client)
        answer = await client.request(method, url, json=body, headers=ADMIN)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == code, answer.text
        assert await _stored(client) == before
        assert (await client.get("/healthz")).json() == {"ok": True}


async def test_malformed_bodies(tmp_path: Path) -> None:
    async with serving(tmp_path) as client:
        for raw in (b"{", b"\xff\xfe", b'{"older_than_days": NaN}', b'{"older_than_days": Infinity}', b"[]", b"7"):
            answer = await client.post("/v1/cleanup", content=raw, headers=ADMIN)
            assert answer.status_code == 400, (raw, answer.text)
            assert answer.json()["error"]["code"] == "bad_body", (raw, answer.text)


async def test_a_grandfathered_name_can_still_be_read_and_removed(tmp_path: Path) -> None:
    """A store from before the naming rules may hold an API schedule named ``a/b`` or ``x?y``:
    it is listed, and removing it (with the name encoded in the path) works."""
    async with serving(tmp_path) as client:
        for name in ("ok-a", "ok-b"):
            assert (
                await client.post("/v1/schedules/w1", json={**GOOD, "name": name}, headers=ADMIN)
            ).status_code == 201
    with sqlite3.connect(tmp_path / "bartos.db") as db:  # as an older barto stored them
        for old, new in (("ok-a", "a/b"), ("ok-b", "x?y=1#z")):
            query = "SELECT definition FROM schedules WHERE name = ?"
            data = msgspec.json.decode(db.execute(query, (old,)).fetchone()[0])
            data["name"] = new
            update = "UPDATE schedules SET name = ?, definition = ? WHERE name = ?"
            db.execute(update, (new, msgspec.json.encode(data).decode(), old))
    async with serving(tmp_path) as client:
        listed = {s["name"] for s in (await client.get("/v1/schedules", headers=ADMIN)).json()}
        assert listed == {"a/b", "x?y=1#z"}
        for encoded in ("a%2Fb", "x%3Fy%3D1%23z"):
            answer = await client.delete(f"/v1/schedules/w1/{encoded}", headers=ADMIN)
            assert answer.status_code == 200, answer.text
        assert (await client.get("/v1/schedules", headers=ADMIN)).json() == []


async def _stored(client: httpx.AsyncClient) -> Any:
    return (await client.get("/v1/schedules", headers=ADMIN)).json(), (
        await client.get("/v1/runs", headers=ADMIN)
    ).json()
