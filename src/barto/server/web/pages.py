"""The dashboard's pages: each reads what it shows through the operations layer (as the caller
it is: a login's role, or anybody on a server without tokens) and renders a template.

A page never decides what a role may do: the buttons it shows are the operations the caller's
role allows (``can``), and a form posted anyway is refused by the operation, the same as over
the API. Every form is checked for its CSRF value first, then goes to its operation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import msgspec
from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from barto.api import operations as ops
from barto.api import requests as r
from barto.api.operations import Operation, Role
from barto.errors import BartoError, Forbidden, Invalid, NotFound, Unauthenticated
from barto.model import FAILED_STATES, FINAL_STATES, RunState
from barto.server.auth import SCOPE_KEY, Principal, digest
from barto.server.http.adapter import status_of
from barto.server.operations import Core, refusal
from barto.server.web.sessions import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, Session, Sessions, csrf_matches, new_csrf

log = logging.getLogger("barto.server.web")

PAGE_LINES = 5_000  # output lines on one page of a run; the next page follows by line number
PAGE_RUNS = 50
FORM_BYTES = 16 * 1024
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_encoder = msgspec.json.Encoder()

Handler = Callable[[Request], Awaitable[Response]]


class CsrfRefused(Forbidden):
    """A form came without the CSRF value of the page it was sent from."""

    code = "csrf"


class Dashboard:
    """The pages of one bartos: its operations, its tokens (for logins) and its sessions."""

    def __init__(self, core: Core, tokens: Mapping[bytes, Principal], env: Environment) -> None:
        self._core = core
        self._tokens = tokens
        self._sessions = Sessions()
        self._env = env
        self.open = not tokens  # no tokens configured: open as the API is

    # -- who is asking ---------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        """The caller's login, if its cookie names a live one whose token is still configured."""
        session = self._sessions.get(request.cookies.get(SESSION_COOKIE))
        return session if session is not None and session.digest in self._tokens else None

    def who(self, request: Request) -> Principal | None:
        """The caller: a bearer token's principal (as for the API), else its login's."""
        bearer: Principal | None = request.scope.get(SCOPE_KEY)
        if bearer is not None:
            return bearer
        session = self.session(request)
        return session.principal if session is not None else None

    def can(self, who: Principal | None, operation: Operation) -> bool:
        """Whether ``who`` may call ``operation`` (what decides which buttons a page shows)."""
        if who is None:
            return self.open
        return refusal(who, operation.role) is None

    def csrf(self, request: Request) -> str:
        """The CSRF value this caller's forms carry."""
        session = self.session(request)
        if session is not None:
            return session.csrf
        found = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf", None)
        if not found:  # a first visit: one value for the whole page, set as a cookie with it
            found = request.state.csrf = new_csrf()
        return str(found)

    # -- answers ---------------------------------------------------------------------------

    async def call(self, request: Request, operation: Operation, call: r.Request) -> Any:
        """``operation`` as this caller."""
        return await self._core.call(self.who(request), operation, call)

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        """``template`` rendered with what every page shows (who, the CSRF value, the buttons)."""
        who = self.who(request)
        csrf = self.csrf(request)
        body = self._env.get_template(template).render(
            who=who,
            open=self.open,
            csrf=csrf,
            can=lambda name: self.can(who, ops.OPERATIONS[name]),
            path=request.url.path,
            **values,
        )
        response = HTMLResponse(body, status_code=status, headers=_HEADERS)
        if self.session(request) is None and request.cookies.get(CSRF_COOKIE) != csrf:
            _cookie(request, response, CSRF_COOKIE, csrf)
        return response

    def refused(self, request: Request, error: BartoError) -> Response:
        """The page for an error: a login for a caller without one, else what went wrong."""
        if isinstance(error, Unauthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        status = status_of(error)
        if isinstance(error, CsrfRefused):
            title = "Form refused: its CSRF token is missing or does not match"
        elif isinstance(error, Forbidden):
            title = "Not allowed"
        elif isinstance(error, NotFound):
            title = "Not found"
        else:
            title = "Cannot do that" if status < 500 else "Not available"
        return self.page(request, "error.html", status=status, title=title, message=str(error), code=error.code)

    # -- forms -----------------------------------------------------------------------------

    async def form(self, request: Request) -> dict[str, str]:
        """A posted form's fields, after its CSRF value is checked.

        Raises:
            CsrfRefused: the CSRF value is missing or wrong.
            Invalid: the body is not a small URL-encoded form.
        """
        body = await request.body()
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if body and kind != "application/x-www-form-urlencoded":
            raise Invalid("bad_form", "a form must be sent as application/x-www-form-urlencoded")
        if len(body) > FORM_BYTES:
            raise Invalid("bad_form", f"a form is at most {FORM_BYTES} bytes")
        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise Invalid("bad_form", "the form is not URL-encoded UTF-8") from None
        form = {key: values[-1] for key, values in fields.items()}
        if not csrf_matches(form.get(CSRF_FIELD), self._expected_csrf(request)):
            raise CsrfRefused("csrf", "this form's CSRF token is missing or does not match; reload the page and retry")
        return form

    def _expected_csrf(self, request: Request) -> str | None:
        session = self.session(request)
        return session.csrf if session is not None else request.cookies.get(CSRF_COOKIE)

    # -- logging in and out ----------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.page(request, "login.html", next=_safe_next(request.query_params.get("next")), error=None)

    async def login(self, request: Request) -> Response:
        """A token typed into the form becomes a session (the token is not kept in the browser)."""
        try:
            form = await self.form(request)
        except BartoError as error:
            return self.refused(request, error)
        target = _safe_next(form.get("next"))
        token = form.get("token", "")
        found = self._tokens.get(digest(token)) if token and "\0" not in token else None
        if found is None or found.role == "worker":
            why = "a worker's token cannot log in" if found is not None else "unknown token"
            log.warning("dashboard login refused from %s: %s", _peer(request), why)
            return self.page(request, "login.html", status=401 if found is None else 403, next=target, error=why)
        csrf = new_csrf()
        sid = self._sessions.start(found, digest(token), csrf)
        log.info("dashboard login: token %r (%s) from %s", found.name, found.role, _peer(request))
        response = RedirectResponse(target, status_code=303)
        _cookie(request, response, SESSION_COOKIE, sid)
        _cookie(request, response, CSRF_COOKIE, csrf)
        return response

    async def logout(self, request: Request) -> Response:
        try:
            await self.form(request)
        except BartoError as error:
            return self.refused(request, error)
        self._sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login" if not self.open else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages -----------------------------------------------------------------------------

    async def fleet(self, request: Request) -> Response:
        workers = await self.call(request, ops.CLIENTS, r.Nothing())
        programs = await self.call(request, ops.PROGRAMS, r.Programs())
        info = await self.call(request, ops.INFO, r.Nothing())
        return self.page(request, "fleet.html", workers=workers, programs=programs, info=info)

    async def worker(self, request: Request) -> Response:
        name = request.path_params["worker"]
        workers = await self.call(request, ops.CLIENTS, r.Nothing())
        record = next((w for w in workers if w.name == name), None)
        overview = await self.call(request, ops.OVERVIEW, r.Overview(worker=name, limit=1000))
        if record is None and not overview.rows:
            raise NotFound("worker_not_found", f"no worker named {name!r} has been seen")
        programs = await self.call(request, ops.PROGRAMS, r.Programs(worker=name))
        runs = await self.call(request, ops.RUNS, r.Runs(worker=name, limit=PAGE_RUNS))
        return self.page(
            request, "worker.html", name=name, record=record, overview=overview, programs=programs, runs=runs
        )

    async def schedules(self, request: Request) -> Response:
        query = _query(request, r.Overview, ("worker", "offset"))
        overview = await self.call(request, ops.OVERVIEW, query)
        return self.page(request, "schedules.html", overview=overview, query=query)

    async def schedule(self, request: Request) -> Response:
        worker, name = request.path_params["worker"], request.path_params["name"]
        detail = await self.call(request, ops.DETAIL, r.ScheduleDetail(worker=worker, name=name))
        history = _query(request, r.Runs, ("before",), worker=worker, schedule=name, limit=PAGE_RUNS)
        runs = await self.call(request, ops.RUNS, history)
        return self.page(request, "schedule.html", detail=detail, runs=runs, history=history)

    async def runs(self, request: Request) -> Response:
        query = _query(request, r.Runs, ("worker", "schedule", "state", "since", "until", "before"), limit=PAGE_RUNS)
        runs = await self.call(request, ops.RUNS, query)
        states = [s.value for s in RunState]
        return self.page(request, "runs.html", runs=runs, query=query, states=states, more=_more(request, runs))

    async def failures(self, request: Request) -> Response:
        query = _query(request, r.Runs, ("before",), state=_FAILURES, limit=PAGE_RUNS)
        runs = await self.call(request, ops.RUNS, query)
        return self.page(request, "failures.html", runs=runs, more=_more(request, runs))

    async def run(self, request: Request) -> Response:
        run_id = _run_id(request)
        run = await self.call(request, ops.RUN, r.RunRef(run_id=run_id))
        after = _query(request, r.Output, ("after",), run_id=run_id, limit=PAGE_LINES)
        lines = await self.call(request, ops.OUTPUT, after)
        last = lines[-1].seq if lines else after.after
        at_end = len(lines) < PAGE_LINES
        ended = run.state in FINAL_STATES
        return self.page(request, "run.html", run=run, lines=lines, after=after.after, last=last, at_end=at_end,
                         ended=ended, live=at_end and not ended)  # fmt: skip

    async def timeline(self, request: Request) -> Response:
        view = await self.call(request, ops.TIMELINE, r.Timeline())
        return self.page(request, "timeline.html", view=view)

    async def live(self, request: Request) -> Response:
        """A run's new output lines as Server-Sent Events (``line``), then ``end`` with the run."""
        run_id = _run_id(request)
        after = _query(request, r.Output, ("after",), run_id=run_id)
        resumed = request.headers.get("last-event-id", "")  # a reconnecting browser's last line
        if resumed.isdigit() and len(resumed) < 19 and int(resumed) > after.after:
            after = msgspec.structs.replace(after, after=int(resumed))
        lines = await self.call(request, ops.FOLLOW, after)
        return StreamingResponse(self._events(request, run_id, lines), media_type="text/event-stream",
                                 headers={**_HEADERS, "X-Accel-Buffering": "no"})  # fmt: skip

    async def _events(self, request: Request, run_id: int, lines: AsyncIterator[Any]) -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        async for line in lines:
            if line is None:
                yield b": keep-alive\n\n"
                continue
            yield b"event: line\nid: %d\ndata: %s\n\n" % (line.seq, _encoder.encode(line))
        run = await self.call(request, ops.RUN, r.RunRef(run_id=run_id))
        yield b"event: end\ndata: " + _encoder.encode(run) + b"\n\n"

    # -- actions ---------------------------------------------------------------------------

    async def schedule_action(self, request: Request) -> Response:
        worker, name, action = (request.path_params[k] for k in ("worker", "name", "action"))
        operation = _SCHEDULE_ACTIONS.get(action)
        if operation is None:
            raise NotFound("no_such_action", f"schedules have no action {action!r}")
        await self.form(request)
        result = await self.call(request, operation, operation.request(worker=worker, name=name))
        if operation is ops.RUN_NOW:
            return RedirectResponse(f"/runs/{result.id}", status_code=303)
        return RedirectResponse(f"/schedules/{quote(worker, safe='')}/{quote(name, safe='')}", status_code=303)

    async def cancel(self, request: Request) -> Response:
        run_id = _run_id(request)
        await self.form(request)
        await self.call(request, ops.CANCEL, r.RunRef(run_id=run_id))
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def program_action(self, request: Request) -> Response:
        worker, name, action = (request.path_params[k] for k in ("worker", "name", "action"))
        if action not in _PROGRAM_ACTIONS:
            raise NotFound("no_such_action", f"programs have no action {action!r}")
        await self.form(request)
        reply = await self.call(request, ops.CONTROL[action], r.Control(worker=worker, name=name))
        if reply.status >= 400:
            why = (reply.error or {}).get("message", reply.status)
            raise Invalid("control_refused", f"{worker}: {action} {name}: {why}")
        return RedirectResponse(f"/workers/{quote(worker, safe='')}", status_code=303)

    def handler(self, page: Handler) -> Handler:
        """``page`` with its errors answered as pages (a login, a 403 naming the role, a 404)."""

        async def serve(request: Request) -> Response:
            try:
                return await page(request)
            except BartoError as error:
                return self.refused(request, error)

        return serve


_SCHEDULE_ACTIONS = {
    "run": ops.RUN_NOW,
    "pause": ops.PAUSE,
    "resume": ops.RESUME,
    "enable": ops.ENABLE,
    "disable": ops.DISABLE,
}
_PROGRAM_ACTIONS = ("start", "stop", "restart")
_FAILURES = sorted({*FAILED_STATES, RunState.MISSED})  # what someone should look at
ROLE_OF_ACTION = {name: op.role for name, op in _SCHEDULE_ACTIONS.items()}


def _query(request: Request, kind: type[Any], keys: tuple[str, ...], **fixed: Any) -> Any:
    """The request ``kind`` from the page's query string (only ``keys``; empty ones left out)."""
    data: dict[str, Any] = dict(fixed)
    for key in keys:
        values = [v for v in request.query_params.getlist(key) if v != ""]
        if not values:
            continue
        data[key] = values if key == "state" else values[-1]
        if key in ("since", "until"):
            data[key] = _moment(values[-1])
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as error:
        raise Invalid("bad_request", f"invalid request: {error}") from None


def _moment(text: str) -> datetime:
    """A time from a form: ISO 8601, UTC when it names no offset (the pages show UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("bad_time", f"not a time: {text[:40]!r} (use YYYY-MM-DD HH:MM, UTC)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _run_id(request: Request) -> int:
    return _query(request, r.RunRef, (), run_id=request.path_params["run_id"]).run_id  # type: ignore[no-any-return]


def _more(request: Request, runs: list[Any]) -> str | None:
    """The link to the next page of ``runs`` (None: this one is the last)."""
    if len(runs) < PAGE_RUNS:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "before"]
    return f"{request.url.path}?{urlencode([*params, ('before', str(runs[-1].id))])}"


def _safe_next(target: str | None) -> str:
    """Where to go after a login: a path on this server, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"


__all__ = ["ROLE_OF_ACTION", "Dashboard", "Role"]
