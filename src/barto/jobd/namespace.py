"""jobd's namespace over the whole fleet, built on the operations alone (docs/jobd.md).

```
/clone  /jobs/<name>/{ctl,cmd,schedule,log}            the configured worker's, as jobd's
/workers/<w>/{clone,status}  /workers/<w>/jobs/<name>/...
/workers/<w>/programs/<p>/{ctl,status,tail}
/runs/<id>/{status,output,exit}
```

Every read and write is one or a few calls of ``call`` (an operation and its request), so the
caller's role decides what may be done, exactly as over REST. The 9P door calls the server's
operations directly; ``barto-cli mount`` calls them over the REST API.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.api.operations import Operation
from barto.errors import BartoError
from barto.jobd.fs import READ_WRITE_MODE, WRITE_MODE, Dir, File, FsError, Handle, Node, not_found, one_line
from barto.model import OutputLine, RunRecord, ScheduleRecord, WorkerRecord, line_bytes

Caller = Callable[[Operation, r.Request], Awaitable[Any]]
T = TypeVar("T", bound=r.Request)

LOG_RUNS = 32  # jobd's history ring
LISTED_RUNS = 100  # /runs lists the newest; any id can be walked to
OUTPUT_PAGE = 100_000
RAN_BADLY = ("failed", "timed_out", "lost", "cancelled")  # in the log; a skipped or missed slot did not run
JOBD_NAME = re.compile(r"[0-9A-Za-z_]+")

# The one table of this door: an operation's error as an errno (all 9P2000.L and FUSE carry).
_BY_CODE = {
    "defined_in_config": errno.EROFS,
    "worker_offline": errno.EHOSTDOWN,
    "schedule_exists": errno.EEXIST,
}
_BY_KIND = {
    "unauthenticated": errno.EACCES,
    "forbidden": errno.EACCES,
    "too_large": errno.EFBIG,
    "too_slow": errno.ETIMEDOUT,
    "invalid": errno.EINVAL,
    "not_found": errno.ENOENT,
    "conflict": errno.EBUSY,
    "unavailable": errno.EAGAIN,
    "timed_out": errno.ETIMEDOUT,
}


def errno_of(error: BartoError) -> int:
    """The errno a file system gives for an operation's error."""
    return _BY_CODE.get(error.code) or _BY_KIND.get(error.kind, errno.EIO)


def go_time(at: datetime, zone: str) -> str:
    """``at`` as Go's ``time.Time.String()`` prints it, jobd's format:
    ``2014-02-11 09:42:33.454707331 -0600 CST`` (fraction without trailing zeros; none if 0)."""
    return Stamper(zone)(at)


class Stamper:
    """:func:`go_time` for many times in one zone: the text of a second is made once (a log's
    lines come many a second), only the fraction for each."""

    def __init__(self, zone: str) -> None:
        self._zone = ZoneInfo(zone)
        self._second = -1
        self._head = self._tail = ""

    def __call__(self, at: datetime) -> str:
        second = int(at.timestamp() // 1)
        if second != self._second:
            local = at.astimezone(self._zone)
            self._second, self._head, self._tail = second, f"{local:%Y-%m-%d %H:%M:%S}", f" {local:%z %Z}"
        fraction = f".{at.microsecond:06d}".rstrip("0") if at.microsecond else ""
        return self._head + fraction + self._tail


class Namespace:
    """The tree of one caller. ``worker``: the one whose jobs ``/clone`` and ``/jobs`` hold."""

    def __init__(self, call: Caller, *, worker: str | None) -> None:
        self._call = call
        self.worker = worker

    def root(self) -> Dir:
        return _Root(self, "/")

    async def call(self, operation: Operation, kind: type[T], **fields: Any) -> Any:
        """Do ``operation`` with a request checked as every door checks one (a name from a walk
        is any text: out of range is EINVAL, never a request built unchecked)."""
        try:
            request = msgspec.convert(fields, kind)
        except msgspec.ValidationError as error:
            raise FsError(errno.EINVAL, f"invalid request: {error}") from None
        try:
            return await self._call(operation, request)
        except BartoError as error:
            raise FsError(errno_of(error), str(error)) from None

    async def schedule(self, worker: str, name: str) -> a.Detail:
        detail: a.Detail = await self.call(ops.DETAIL, r.ScheduleDetail, worker=worker, name=name, upcoming=1, recent=1)
        return detail

    async def output(self, run_id: int) -> list[OutputLine]:
        """Every output line of a run, in pages."""
        lines: list[OutputLine] = []
        while True:
            after = lines[-1].seq if lines else 0
            page = await self.call(ops.OUTPUT, r.Output, run_id=run_id, after=after, limit=OUTPUT_PAGE)
            lines.extend(page)
            if len(page) < OUTPUT_PAGE:
                return lines


def _listable(name: str) -> bool:
    """A stored name that can be a directory entry (a grandfathered one may hold ``/``)."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


class _Root(Dir):
    def __init__(self, ns: Namespace, path: str) -> None:
        super().__init__(path)
        self.ns = ns

    async def entries(self) -> list[Node]:
        found: list[Node] = []
        if self.ns.worker is not None:
            found += [_Clone(self.ns, "/clone", self.ns.worker), _Jobs(self.ns, "/jobs", self.ns.worker)]
        return [*found, _Workers(self.ns, "/workers"), _Runs(self.ns, "/runs")]


class _Workers(_Root):
    async def entries(self) -> list[Node]:
        workers: list[WorkerRecord] = await self.ns.call(ops.CLIENTS, r.Nothing)
        return [_Worker(self.ns, self.child(w.name), w.name) for w in workers if _listable(w.name)]


class _Worker(Dir):
    def __init__(self, ns: Namespace, path: str, worker: str) -> None:
        super().__init__(path)
        self.ns, self.worker = ns, worker

    async def entries(self) -> list[Node]:
        ns, w = self.ns, self.worker
        return [
            _Clone(ns, self.child("clone"), w),
            _Jobs(ns, self.child("jobs"), w),
            _Status(ns, self.child("status"), w),
            _Programs(ns, self.child("programs"), w),
        ]


class _Jobs(_Worker):
    async def entries(self) -> list[Node]:
        records: list[ScheduleRecord] = await self.ns.call(ops.SCHEDULES, r.ScheduleList, worker=self.worker)
        return [self._job(s.name) for s in records if _listable(s.name)]

    async def lookup(self, name: str) -> Node:
        await self.ns.schedule(self.worker, name)  # ENOENT if there is none
        return self._job(name)

    def _job(self, name: str) -> Node:
        return _Job(self.ns, self.child(name), self.worker, name)


class _Job(Dir):
    """``jobs/<name>``: removing it removes the API schedule (``rm -r`` removes its files first,
    which is accepted and does nothing)."""

    def __init__(self, ns: Namespace, path: str, worker: str, name: str) -> None:
        super().__init__(path)
        self.ns, self.worker, self.schedule = ns, worker, name

    async def entries(self) -> list[Node]:
        return [kind(self, self.child(kind.entry)) for kind in (_Ctl, _Cmd, _Schedule, _Log)]

    async def remove(self) -> None:
        await self.ns.call(ops.REMOVE, r.ScheduleRef, worker=self.worker, name=self.schedule)

    async def record(self) -> ScheduleRecord:
        return (await self.ns.schedule(self.worker, self.schedule)).schedule


class _JobFile(File):
    def __init__(self, job: _Job, path: str) -> None:
        super().__init__(path)
        self.job = job

    async def remove(self) -> None:
        """Accepted, so that ``rm -r jobs/<name>`` reaches the directory."""

    def ref(self) -> dict[str, str]:
        return {"worker": self.job.worker, "name": self.job.schedule}


class _Ctl(_JobFile):
    """``started`` or ``stopped``; takes ``start`` (enable, and resume if paused), ``stop``
    (disable) and ``run`` (now)."""

    entry = "ctl"

    mode = READ_WRITE_MODE

    async def content(self) -> bytes:
        record = await self.job.record()
        return b"started" if record.enabled and not record.paused else b"stopped"

    async def write(self, handle: Handle, offset: int, data: bytes) -> None:
        word = one_line(data).lower()
        call = self.job.ns.call
        if word == "start":
            record = await call(ops.ENABLE, r.ScheduleRef, **self.ref())
            if record.paused:
                await call(ops.RESUME, r.ScheduleRef, **self.ref())
        elif word == "stop":
            await call(ops.DISABLE, r.ScheduleRef, **self.ref())
        elif word == "run":
            await call(ops.RUN_NOW, r.RunNow, **self.ref())
        else:
            raise FsError(errno.EINVAL, f"unknown command: {word[:40]!r} (start, stop or run)")


class _Cmd(_JobFile):
    """The commands, one a line; a write replaces them with the one written (an API schedule)."""

    entry = "cmd"

    mode = READ_WRITE_MODE

    async def content(self) -> bytes:
        return "\n".join((await self.job.record()).cmds).encode()

    async def write(self, handle: Handle, offset: int, data: bytes) -> None:
        if offset > len(handle.written):
            raise FsError(errno.EINVAL, f"a write at {offset}, past the {len(handle.written)} bytes written")
        handle.written[offset : offset + len(data)] = data
        command = one_line(bytes(handle.written))
        await self.job.ns.call(ops.COMMANDS, r.Commands, **self.ref(), cmds=[command])


class _Schedule(_JobFile):
    """``<expr>`` when stopped, ``<expr>:<next fire>`` when started (jobd's two forms)."""

    entry = "schedule"

    async def content(self) -> bytes:
        record = await self.job.record()
        started = record.enabled and not record.paused and record.next_fire is not None
        if not started or record.next_fire is None:
            return record.calendar.encode()
        return f"{record.calendar}:{go_time(record.next_fire, record.timezone)}".encode()


class _Log(_JobFile):
    """The last runs as jobd logs them: ``<timestamp>:<line>`` for each line the command wrote
    on stdout, and, unlike jobd, ``<timestamp>:<state>: <exit, signal, reason>`` for a run that
    failed, timed out, was lost or cancelled."""

    entry = "log"

    grows = True

    async def content(self) -> bytes:
        return await self._render(await self._runs(None))

    async def opened(self, handle: Handle) -> bytes:
        """From the oldest run the open first showed, however many have come since; the runs'
        output is read again only when a run has changed (a ``cat`` ends with a look)."""
        window = handle.anchor if isinstance(handle.anchor, _Window) else None
        runs = await self._runs(window.since if window is not None else None)
        seen = tuple((run.id, run.state, run.lines) for run in runs)
        if window is not None and window.seen == seen and all(run.finished_at is not None for run in runs):
            return window.text  # (a run going on has lines its record does not count yet)
        text = await self._render(runs)
        handle.anchor = _Window(runs[-1].slot if runs else None, seen, text)
        return text

    async def _runs(self, since: datetime | None) -> list[RunRecord]:
        window = {"since": since, "limit": OUTPUT_PAGE} if since is not None else {"limit": LOG_RUNS}
        runs: list[RunRecord] = await self.job.ns.call(ops.RUNS, r.Runs, **_job_filter(self.job), **window)
        return runs

    async def _render(self, runs: list[RunRecord]) -> bytes:
        ns = self.job.ns
        zone = (await self.job.record()).timezone
        out = bytearray()
        for run in reversed(runs):
            out += _stdout_entries(await ns.output(run.id) if run.lines or run.finished_at is None else [], zone)
            if run.finished_at is not None and run.state in RAN_BADLY:
                out += f"{go_time(run.finished_at, zone)}:{_ending(run)}\n".encode()
        return bytes(out)


@dataclass(frozen=True)
class _Window:
    """What a log's open showed: from which slot, of which runs as they were, and its text."""

    since: datetime | None
    seen: tuple[tuple[int, str, int], ...]
    text: bytes


def _job_filter(job: _Job) -> dict[str, str]:
    return {"worker": job.worker, "schedule": job.schedule}


def _stdout_entries(lines: list[OutputLine], zone: str) -> bytes:
    stamp, out = Stamper(zone), bytearray()
    joined = False  # the previous line continues into this one: no new prefix
    for line in lines:
        if line.stream != "stdout":
            continue
        if not joined:
            out += f"{stamp(line.ts)}:".encode()
        out += line_bytes(line) + (b"" if line.continues else b"\n")
        joined = line.continues
    return bytes(out)


def _ending(run: RunRecord) -> str:
    """How a run ended, in one line: ``failed: exit 3``, ``timed_out: signal 15``, ``missed: ...``."""
    parts: list[str] = [run.state]
    if run.exit_code is not None:
        parts.append(f"exit {run.exit_code}")
    if run.signal is not None:
        parts.append(f"signal {run.signal}")
    if run.reason:
        parts.append(run.reason)
    return parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")


class _Clone(File):
    """Takes a definition a write; a job made here starts stopped, as in jobd.

    Short form (jobd's): ``name:cronexpr:cmd``, cronexpr in cronexpr's dialect, no ``:`` in the
    command. Long form, for commands with ``:`` and systemd calendars: ``key=value`` lines,
    starting with ``name=``: ``name``, one of ``cron`` (cronexpr) or ``calendar`` (systemd/barto),
    one or more ``cmd``, optionally ``timezone``.
    """

    mode = WRITE_MODE

    def __init__(self, ns: Namespace, path: str, worker: str) -> None:
        super().__init__(path)
        self.ns, self.worker = ns, worker

    async def write(self, handle: Handle, offset: int, data: bytes) -> None:
        definition = parse_definition(one_line(data))
        await self.ns.call(ops.ADD, r.AddSchedule, worker=self.worker, schedule=definition, replace=False)


def parse_definition(text: str) -> dict[str, Any]:
    """A clone write as the fields of a schedule (checked further by the operation).

    Raises:
        FsError: EINVAL, saying what is wrong.
    """
    if text.startswith("name="):
        return _long_form(text)
    parts = text.split(":")
    if len(parts) != 3:
        raise FsError(
            errno.EINVAL,
            "invalid job definition: want name:cronexpr:cmd (for a ':' in the command, the name=... form)",
        )
    name, expression, command = parts
    _check_name(name)
    return {"name": name, "cron": expression, "cron_dialect": "jobd", "cmds": [command], "enabled": False}


def _long_form(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"cmds": [], "enabled": False}
    for number, line in enumerate(text.split("\n"), 1):
        key, sep, value = line.partition("=")
        if not sep:
            raise FsError(errno.EINVAL, f"line {number}: want key=value")
        if key == "cmd":
            fields["cmds"].append(value)
        elif key in ("name", "cron", "calendar", "timezone") and key not in fields:
            fields[key] = value
        else:
            raise FsError(
                errno.EINVAL,
                f"line {number}: {key[:40]!r} given twice or not a key (name, cron, calendar, cmd, timezone)",
            )
    if ("cron" in fields) == ("calendar" in fields):
        raise FsError(errno.EINVAL, "invalid job definition: give one of cron= and calendar=")
    _check_name(fields["name"])
    if "calendar" in fields:
        fields["on_calendar"] = fields.pop("calendar")
    else:
        fields["cron_dialect"] = "jobd"
    return fields


def _check_name(name: str) -> None:
    if not JOBD_NAME.fullmatch(name):
        raise FsError(errno.EINVAL, f"invalid job name {name[:40]!r}: letters, digits and _ only, as in jobd")


class _Status(File):
    """A worker's link: ``state connected|disconnected``, ``since``, ``version``, ``address``."""

    grows = False

    def __init__(self, ns: Namespace, path: str, worker: str) -> None:
        super().__init__(path)
        self.ns, self.worker = ns, worker

    async def content(self) -> bytes:
        workers: list[WorkerRecord] = await self.ns.call(ops.CLIENTS, r.Nothing)
        found = next((w for w in workers if w.name == self.worker), None)
        if found is None:
            raise not_found(self.path)
        since = found.last_seen if not found.connected else found.first_seen
        lines = [
            f"state {'connected' if found.connected else 'disconnected'}",
            f"since {since.isoformat()}",
            f"version {found.version}",
            f"address {found.address or '-'}",
        ]
        return "\n".join(lines).encode() + b"\n"


class _Programs(_Worker):
    async def entries(self) -> list[Node]:
        rows: list[a.ProgramRow] = await self.ns.call(ops.PROGRAMS, r.Programs, worker=self.worker)
        return [_Program(self.ns, self.child(p.name), self.worker, p.name) for p in rows if _listable(p.name)]


class _Program(Dir):
    def __init__(self, ns: Namespace, path: str, worker: str, name: str) -> None:
        super().__init__(path)
        self.ns, self.worker, self.program = ns, worker, name

    async def entries(self) -> list[Node]:
        return [kind(self, self.child(kind.entry)) for kind in (_ProgramCtl, _ProgramStatus, _ProgramTail)]

    async def row(self) -> a.ProgramRow:
        rows: list[a.ProgramRow] = await self.ns.call(ops.PROGRAMS, r.Programs, worker=self.worker)
        found = next((p for p in rows if p.name == self.program), None)
        if found is None:
            raise not_found(self.path)
        return found


class _ProgramFile(File):
    def __init__(self, program: _Program, path: str) -> None:
        super().__init__(path)
        self.program = program


class _ProgramCtl(_ProgramFile):
    """The state word (``RUNNING``, ``STOPPED``, ...); takes ``start``, ``stop``, ``restart``."""

    entry = "ctl"

    mode = READ_WRITE_MODE

    async def content(self) -> bytes:
        return (await self.program.row()).state.encode()

    async def write(self, handle: Handle, offset: int, data: bytes) -> None:
        word = one_line(data).lower()
        if word not in ("start", "stop", "restart"):
            raise FsError(errno.EINVAL, f"unknown command: {word[:40]!r} (start, stop or restart)")
        p = self.program
        reply: a.ControlReply = await p.ns.call(ops.CONTROL[word], r.Control, worker=p.worker, name=p.program)
        if reply.status >= 400:
            message = (reply.error or {}).get("message", f"the supervisor answered {reply.status}")
            raise FsError(errno.EIO, str(message))


class _ProgramStatus(_ProgramFile):
    """``state``, ``pid``, ``uptime``, ``restarts``, ``description``: one a line."""

    entry = "status"

    async def content(self) -> bytes:
        row = await self.program.row()
        lines = [
            f"state {row.state}",
            f"pid {row.pid if row.pid is not None else '-'}",
            f"uptime {row.uptime_seconds:.0f}" if row.uptime_seconds is not None else "uptime -",
            f"restarts {row.restarts}",
            f"description {row.description}",
        ]
        return "\n".join(lines).encode() + b"\n"


class _ProgramTail(_ProgramFile):
    """The process's recent output lines."""

    entry = "tail"

    grows = True

    async def content(self) -> bytes:
        p = self.program
        lines: list[a.TailLine] = await p.ns.call(ops.TAIL, r.Tail, worker=p.worker, name=p.program, limit=1000)
        return b"".join(line.text.encode() + b"\n" for line in lines)


class _Runs(_Root):
    async def entries(self) -> list[Node]:
        runs: list[RunRecord] = await self.ns.call(ops.RUNS, r.Runs, limit=LISTED_RUNS)
        return [_Run(self.ns, self.child(str(run.id)), run.id) for run in runs]

    async def lookup(self, name: str) -> Node:
        if not name.isascii() or not name.isdigit() or len(name) > 19:
            raise not_found(self.child(name))
        await self.ns.call(ops.RUN, r.RunRef, run_id=int(name))
        return _Run(self.ns, self.child(name), int(name))


class _Run(Dir):
    def __init__(self, ns: Namespace, path: str, run_id: int) -> None:
        super().__init__(path)
        self.ns, self.run_id = ns, run_id

    async def entries(self) -> list[Node]:
        return [kind(self, self.child(kind.entry)) for kind in (_RunStatus, _RunOutput, _RunExit)]

    async def run(self) -> RunRecord:
        found: RunRecord = await self.ns.call(ops.RUN, r.RunRef, run_id=self.run_id)
        return found


class _RunFile(File):
    grows = True

    def __init__(self, run: _Run, path: str) -> None:
        super().__init__(path)
        self.run = run


class _RunStatus(_RunFile):
    """The state word first, then ``key value`` lines."""

    entry = "status"

    grows = False

    async def content(self) -> bytes:
        run = await self.run.run()
        times = {"slot": run.slot, "created": run.created_at, "started": run.started_at, "ended": run.finished_at}
        lines = [run.state, f"id {run.id}", f"worker {run.worker}", f"schedule {run.schedule}"]
        lines += [f"trigger {run.trigger}", f"attempt {run.attempt}"]
        lines += [f"{key} {value.isoformat()}" for key, value in times.items() if value is not None]
        lines += [f"reason {run.reason}"] if run.reason else []
        return "\n".join(lines).encode() + b"\n"


class _RunOutput(_RunFile):
    """Every line the run wrote, stdout and stderr as they came."""

    entry = "output"

    async def content(self) -> bytes:
        lines = await self.run.ns.output(self.run.run_id)
        return b"".join(line_bytes(line) + (b"" if line.continues else b"\n") for line in lines)


class _RunExit(_RunFile):
    """``<code>`` or ``signal <n>`` once the run has ended; empty before."""

    entry = "exit"

    async def content(self) -> bytes:
        run = await self.run.run()
        if run.exit_code is not None:
            return f"{run.exit_code}\n".encode()
        return f"signal {run.signal}\n".encode() if run.signal is not None else b""
