"""The dashboard door in-process: every page and form against every role, the login, CSRF, and
hostile input. The same pages in a real browser against real processes: tests/e2e/test_dashboard.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inprocess import SECURED, TOKENS, bearer, serving

pytestmark = pytest.mark.anyio

# The job's runs wait for their worker (none connects here), so a backfilled one stays pending.
JOB = 'name = "job", on_calendar = "*-*-* 03:00:00", cmds = ["echo hi"], offline = "queue", queue_ttl = 31536000'
CONFIG = SECURED + f"\n[schedules.w1]\nschedules = [{{ {JOB} }}]\n"
PAGES = ("/", "/schedules", "/schedules/w1/job", "/runs", "/runs/1", "/failures", "/timeline", "/workers/w1")
ROLES = ("read", "operate", "admin")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@asynccontextmanager
async def board(tmp_path: Path, config: str = CONFIG) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process bartos with one config schedule, one API schedule and one pending run."""
    async with serving(tmp_path, config) as api:
        added = await api.post("/v1/schedules/w1", headers=bearer("admin"),
                               json={"name": "api-job", "cmds": ["true"], "on_calendar": "daily"})  # fmt: skip
        assert added.status_code == 201, added.text
        window = {"from": "2026-01-01T03:00:00Z", "to": "2026-01-01T03:00:00Z"}
        made = await api.post("/v1/schedules/w1/job/backfill", headers=bearer("admin"), json=window)
        assert made.status_code == 201, made.text
        assert [run["id"] for run in made.json()] == [1]
        yield api


def browser(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client of the same app with its own cookie jar (a browser of its own)."""
    return httpx.AsyncClient(transport=api._transport, base_url="http://bartos", follow_redirects=False)


async def login(client: httpx.AsyncClient, role: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post("/login", data={"csrf": _csrf(page), "token": TOKENS[role], "next": "/runs"})


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def stored(api: httpx.AsyncClient) -> Any:
    schedules = await api.get("/v1/schedules", headers=bearer("admin"))
    runs = await api.get("/v1/runs", headers=bearer("admin"))
    return schedules.json(), runs.json()


async def test_without_a_login_every_page_asks_for_one(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as anonymous:
        for path in PAGES:
            answer = await anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next="), path
        login_page = await anonymous.get("/login")
        assert login_page.status_code == 200
        assert 'type="password"' in login_page.text


async def test_every_role_reads_every_page_and_sees_only_its_buttons(tmp_path: Path) -> None:
    async with board(tmp_path) as api:
        for role in ROLES:
            async with browser(api) as client:
                logged = await login(client, role)
                assert (logged.status_code, logged.headers["location"]) == (303, "/runs")
                for path in PAGES:
                    page = await client.get(path)
                    assert page.status_code == 200, f"{role} {path}: {page.status_code} {page.text[:300]}"
                    assert f'<span class="role">{role}</span>' in page.text
                schedule = (await client.get("/schedules")).text
                run = (await client.get("/runs/1")).text
                assert ("Run now" in schedule, "Pause" in schedule, "Cancel" in run) == ((role != "read",) * 3)
                assert ("Disable" in schedule) == (role == "admin")  # API schedules only, an admin's


async def test_a_worker_token_and_unknown_tokens_cannot_log_in(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as client:
        assert (await login(client, "worker")).status_code == 403
        page = await client.get("/login")
        for token in ("x" * 24, "", "a\0b", "é" * 5000):
            answer = await client.post("/login", data={"csrf": _csrf(page), "token": token})
            assert answer.status_code in (400, 401), token[:10]
        assert (await client.get("/")).status_code == 303  # still not logged in


async def test_a_login_goes_back_only_to_this_server(tmp_path: Path) -> None:
    async with board(tmp_path) as api:
        for target, expected in [("//evil.example/x", "/"), ("https://evil.example", "/"), ("/\\evil", "/"),
                                 ("/timeline?x=1", "/timeline?x=1")]:  # fmt: skip
            async with browser(api) as client:
                page = await client.get("/login")
                data = {"csrf": _csrf(page), "token": TOKENS["read"], "next": target}
                answer = await client.post("/login", data=data)
                assert answer.headers["location"] == expected, target


async def test_the_session_cookie_is_http_only_strict_and_logout_ends_it(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as client:
        logged = await login(client, "operate")
        cookies = logged.headers.get_list("set-cookie")
        assert all("HttpOnly" in c and "SameSite=strict" in c for c in cookies), cookies
        assert TOKENS["operate"] not in " ".join(cookies)
        session = client.cookies["barto_session"]
        page = await client.get("/")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["x-content-type-options"] == "nosniff"
        out = await client.post("/logout", data={"csrf": _csrf(page)})
        assert out.status_code == 303
        async with browser(api) as replay:  # the old cookie, replayed: the session is gone
            replay.cookies.set("barto_session", session)
            assert (await replay.get("/")).status_code == 303


async def test_forms_by_role_need_the_operations_role_and_change_nothing_when_refused(tmp_path: Path) -> None:
    needed = {
        "/schedules/w1/job/pause": "operate",
        "/schedules/w1/api-job/disable": "admin",
        "/runs/1/cancel": "operate",
    }
    async with board(tmp_path) as api:
        for role in ROLES:
            async with browser(api) as client:
                await login(client, role)
                csrf = _csrf(await client.get("/"))
                for path, role_needed in needed.items():
                    before = await stored(api)
                    answer = await client.post(path, data={"csrf": csrf})
                    if ROLES.index(role) >= ROLES.index(role_needed):  # the run was cancelled by the first
                        assert answer.status_code in (303, 409), f"{role} {path}: {answer.text[:300]}"
                        assert "already ended" in answer.text if answer.status_code == 409 else True
                        continue
                    assert answer.status_code == 403, f"{role} {path}"
                    assert f"has role {role}; this needs {role_needed}" in answer.text
                    assert "CSRF" not in answer.text
                    assert await stored(api) == before


async def test_a_form_without_its_csrf_token_is_refused_and_says_so(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as admin, browser(api) as other:
        await login(admin, "admin")
        await login(other, "admin")
        foreign = _csrf(await other.get("/"))
        before = await stored(api)
        for data in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": foreign}):
            answer = await admin.post("/schedules/w1/job/pause", data=data)
            assert answer.status_code == 403, data
            assert "CSRF token is missing or does not match" in answer.text
        anonymous = await admin.post("/login", data={"token": TOKENS["admin"]})  # login CSRF too
        assert anonymous.status_code == 403
        assert await stored(api) == before


async def test_hostile_queries_and_forms_are_clear_errors(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as client:
        await login(client, "admin")
        csrf = _csrf(await client.get("/"))
        before = await stored(api)
        for path in ("/runs?since=yesterday", "/runs?before=0", "/runs?before=99999999999999999999999",
                     "/runs?state=exploded", "/runs/abc", "/runs/0", "/schedules?offset=-1",
                     "/runs?worker=a%00b", "/runs/1?after=-5"):  # fmt: skip
            answer = await client.get(path)
            assert answer.status_code == 400, f"{path}: {answer.status_code}"
            assert answer.headers["content-type"].startswith("text/html")
        for path in ("/runs/424242", "/schedules/w1/nope", "/workers/nobody", "/schedules/w1/job/explode"):
            method = client.post if path.endswith("explode") else client.get
            answer = await method(path, data={"csrf": csrf}) if method is client.post else await method(path)
            assert answer.status_code == 404, path
        too_big = await client.post("/schedules/w1/job/pause", data={"csrf": csrf, "x": "y" * 20_000})
        assert too_big.status_code == 400
        as_json = await client.post("/schedules/w1/job/pause", json={"csrf": csrf})
        assert as_json.status_code == 400
        many = await client.post("/schedules/w1/job/pause", content="&".join(f"k{i}=v" for i in range(50)),
                                 headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert many.status_code == 400
        assert await stored(api) == before
        assert (await client.get("/")).status_code == 200  # and it goes on serving


async def test_an_open_server_says_so_and_still_checks_csrf(tmp_path: Path) -> None:
    open_config = CONFIG.replace(SECURED, "")
    async with serving(tmp_path, open_config) as api, browser(api) as client:
        page = await client.get("/schedules")
        assert page.status_code == 200
        assert "no tokens configured" in page.text
        assert (await client.post("/schedules/w1/job/pause", data={})).status_code == 403
        paused = await client.post("/schedules/w1/job/pause", data={"csrf": _csrf(page)})
        assert paused.status_code == 303
        listed = (await api.get("/v1/schedules")).json()
        assert [s["paused"] for s in listed if s["name"] == "job"] == [True]


async def test_live_output_of_an_ended_run_is_one_end_event(tmp_path: Path) -> None:
    async with board(tmp_path) as api, browser(api) as client:
        await login(client, "operate")
        csrf = _csrf(await client.get("/runs/1"))
        assert (await client.post("/runs/1/cancel", data={"csrf": csrf})).status_code == 303
        live = await client.get("/runs/1/live")
        assert live.headers["content-type"].startswith("text/event-stream")
        assert "event: end" in live.text
        assert '"state":"cancelled"' in live.text
        page = (await client.get("/runs/1")).text
        assert "cancelled" in page
        assert "Cancel</button>" not in page


async def test_a_bearer_token_reads_pages_too(tmp_path: Path) -> None:
    """Scripts and curl may read the pages with the API's header instead of a login."""
    async with board(tmp_path) as api:
        assert (await api.get("/timeline", headers=bearer("read"))).status_code == 200
        assert (await api.get("/timeline", headers=bearer("worker"))).status_code == 403


async def test_failures_lists_missed_slots_with_their_reason(tmp_path: Path) -> None:
    config = CONFIG.replace(
        f"schedules = [{{ {JOB} }}]",
        f'schedules = [{{ {JOB} }}, {{ name = "now", on_calendar = "daily", cmds = ["true"] }}]',
    )
    async with board(tmp_path, config) as api:
        window = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
        made = await api.post("/v1/schedules/w1/now/backfill", headers=bearer("admin"), json=window)
        assert made.status_code == 201, made.text
        for _ in range(100):  # the scheduler records it missed (its worker is offline) on its next step
            runs = (await api.get("/v1/runs?schedule=now", headers=bearer("read"))).json()
            if runs and runs[0]["state"] == "missed":
                break
            await asyncio.sleep(0.1)
        page = await api.get("/failures", headers=bearer("read"))
        assert "missed" in page.text
        assert "worker offline" in page.text
        assert '/runs/1"' not in page.text  # the pending job run is not a failure
