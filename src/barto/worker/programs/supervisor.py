"""Runs the programs of ``[programs]``: spawns their processes, notices each death at once (a
pidfd per process via process.exit_future: no thread per child), and drives each
process's supervisord state machine (``machine.py``), ticking only at deadlines.

Processes are made by barto.worker.process (``subprocess.Popen``; in C after the fork: its own
process group, the program's user and umask), which uvloop's subprocess API cannot do. A
program is spawned on the event loop, not in a thread: its process group is recorded (for a
bartoc that restarts after a kill -9) before the loop runs anything else.

Their output comes through pipes bartoc reads (``logs.py``): into log files rotated by size,
and line by line to whoever listens (the feed to the server).

Each process leads its own process group, so a stop can reach its children (``stopasgroup``)
and, when bartoc itself stops, whatever a program left behind in its group is killed: no child
outlives bartoc.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from barto.config.common import parse_signal
from barto.config.programs import ProgramDef, start_order, start_waves
from barto.protocol import ProgramStatus
from barto.worker.executor import public_env
from barto.worker.process import exit_future, program_popen
from barto.worker.programs.logs import Capture, RotatingFile
from barto.worker.programs.machine import Action, Process, Rules, State

log = logging.getLogger("barto.worker.programs")

_SETTLED = frozenset({State.STOPPED, State.EXITED, State.FATAL})
_MAX_SLEEP = 60.0
_WATCHER_GRACE = 5.0  # seconds shutdown waits for the watchers of processes it stopped


@dataclass
class Child:
    """One process of a program, and its machine."""

    program: str
    name: str
    num: int
    definition: ProgramDef
    machine: Process
    proc: subprocess.Popen[bytes] | None = None
    since: float | None = None  # wall time of the last spawn (uptime)
    spawns: int = 0
    waiter: asyncio.Task[None] | None = field(default=None, repr=False)

    def status(self, now: float) -> dict[str, Any]:
        """What ``status`` shows for it."""
        up = self.machine.state == State.RUNNING and self.since is not None
        pid = self.proc.pid if self.proc and self.machine.alive else None
        uptime = round(now - self.since, 3) if up and self.since else None
        description = self.machine.description
        if uptime is not None and not description:  # supervisorctl's words for a running process
            hours, rest = divmod(int(uptime), 3600)
            description = f"pid {pid}, uptime {hours}:{rest // 60:02d}:{rest % 60:02d}"
        return {
            "name": self.name,
            "program": self.program,
            "state": self.machine.state.value,
            "pid": pid,
            "uptime_seconds": uptime,
            "restarts": max(0, self.spawns - 1),
            "description": description,
            "exit_status": self.machine.exit_status,
        }

    def snapshot(self, now: float) -> ProgramStatus:
        """:meth:`status` as the protocol carries it."""
        return ProgramStatus(**self.status(now))


def _children(program: str, definition: ProgramDef) -> list[Child]:
    return [
        Child(program, name, num, definition, Process(_rules(definition)))
        for name, num in definition.process_names(program)
    ]


def _names(children: list[Child]) -> dict[str, list[Child]]:
    """The processes each name stands for: a program's name for all of its, a process's for it
    (looked up for every start and every dependency check: hundreds of programs)."""
    named: dict[str, list[Child]] = {}
    for child in children:
        named.setdefault(child.program, []).append(child)
        if child.name != child.program:
            named[child.name] = [child]
    return named


def _rules(definition: ProgramDef) -> Rules:
    return Rules(
        startsecs=definition.startsecs,
        startretries=definition.startretries,
        autorestart=definition.restart,
        exitcodes=frozenset(definition.exitcodes),
        stopwaitsecs=definition.stopwaitsecs,
    )


Stream = Literal["stdout", "stderr"]


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """Who hears what happens: ``spawned``/``reaped`` (a process group's leader pid: the outbox
    remembers live groups), ``changed`` (a process went from one state to another), ``output``
    (lines a process wrote, by process name and stream)."""

    spawned: Callable[[int], None] = lambda _: None
    reaped: Callable[[int], None] = lambda _: None
    changed: Callable[[Child, State, State], None] = lambda _child, _previous, _state: None
    output: Callable[[str, Stream, list[str]], None] = lambda _name, _stream, _lines: None
    updated: Callable[[], None] = lambda: None  # the set of programs changed
    saved: Callable[[], Awaitable[None]] = _nothing  # what spawned() recorded is on disk once awaited


class Supervisor:
    """Owns the program processes. :meth:`run` until :meth:`shutdown`; control by name."""

    def __init__(
        self,
        programs: Mapping[str, ProgramDef],
        *,
        log_dir: Path,
        env: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        hooks: Hooks = Hooks(),
        here: Path = Path(),
    ) -> None:
        self.hooks = hooks
        self._here = here  # the config file's directory: supervisord's %(here)s
        self._files: dict[Path, RotatingFile] = {}  # shared by every process writing that path
        self._captures: list[Capture] = []
        self._watchers: set[asyncio.Task[None]] = set()
        self._programs = dict(programs)
        self._order = start_order(programs)
        self._log_dir = log_dir
        self._env = public_env(env)
        self._clock = clock
        self._children = [child for program in self._order for child in _children(program, programs[program])]
        self._named = _names(self._children)
        self._waiting = {p for p in self._order if programs[p].autostart}  # autostart, deps not up yet
        self._changed = asyncio.Event()
        self._stopping = False

    # -- control ---------------------------------------------------------------------------

    def children(self, name: str | None = None) -> list[Child]:
        """The processes of program (or process) ``name``; all of them (maybe none) for None.

        Raises:
            KeyError: when nothing has that name.
        """
        if name is None:
            return self._children  # none at all is a fine answer: a worker without programs
        found = self._named.get(name, [])
        if not found:
            raise KeyError(name)
        return found

    def programs(self) -> list[str]:
        """Program names in start order."""
        return list(self._order)

    def stdout_of(self, child: Child) -> Path:
        """The file a process's standard output goes to."""
        return child.definition.log_paths(child.program, (child.name, child.num), self._log_dir)[0]

    def snapshot(self) -> list[ProgramStatus]:
        """Every process now (none without programs)."""
        now = time.time()
        return [child.snapshot(now) for child in self._children]

    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every process of ``name`` (or all), as supervisorctl's status lists them."""
        now = time.time()
        return [child.status(now) for child in self.children(name)]

    async def start(self, name: str) -> None:
        """Start the processes of ``name`` (those already running are left alone)."""
        for child in self.children(name):
            await self._apply(child, child.machine.start(self._clock()))
        self._changed.set()

    async def stop(self, *names: str) -> None:
        """Stop the processes of ``names``, together, and wait until they are down (each KILLed
        after its stopwaitsecs)."""
        targets = [child for name in names for child in self.children(name)]
        self._waiting.difference_update(child.program for child in targets)  # stopped: not autostarted later
        for child in targets:
            await self._apply(child, child.machine.stop(self._clock()))
        self._changed.set()
        await self._until_down(targets)

    async def update(self, programs: Mapping[str, ProgramDef]) -> dict[str, list[str]]:
        """Apply a new set of definitions, touching only what changed: removed programs stop,
        changed ones stop and start again under their new definition, new ones start (when
        ``autostart``); the others keep running untouched."""
        old = self._programs
        removed = [p for p in self._order if p not in programs]
        changed = [p for p in programs if p in old and programs[p] != old[p]]
        added = [p for p in programs if p not in old]
        for program in reversed(self._order):
            if program in removed or program in changed:
                await self.stop(program)
        kept = {c.name: c for c in self._children if c.program in programs and c.program not in changed}
        self._programs, self._order = dict(programs), start_order(programs)
        self._children = [kept.get(child.name, child) for p in self._order for child in _children(p, programs[p])]
        self._named = _names(self._children)
        self._waiting |= {p for p in changed + added if programs[p].autostart}
        self._changed.set()
        log.info("programs updated: added %s, changed %s, removed %s", added, changed, removed)
        self.hooks.updated()
        return {"added": added, "changed": changed, "removed": removed}

    async def signal(self, name: str, signum: int) -> None:
        """Send ``signum`` to the live processes of ``name``."""
        for child in self.children(name):
            if child.proc is not None and child.machine.alive:
                _send(child.proc.pid, signum, group=False)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the autostart programs (each after its dependencies run), then keep every
        process's machine moving until cancelled."""
        while True:
            self._changed.clear()
            now = self._clock()
            for child in self._children:
                await self._apply(child, child.machine.tick(now))
            await self._autostart(now)
            wakes = [w for c in self._children if (w := c.machine.wake_at()) is not None]
            delay = min([_MAX_SLEEP, *(max(0.0, w - now) for w in wakes)])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._changed.wait()

    async def shutdown(self) -> None:
        """Stop every program, dependents before what they depend on (reverse start order), each
        with its stop settings; then kill whatever the programs left in their process groups."""
        self._stopping = True
        self._waiting.clear()
        await self.stop_all()
        if self._watchers:  # each ends at its process's exit, which stop_all has seen
            _, late = await asyncio.wait(set(self._watchers), timeout=_WATCHER_GRACE)
            for task in late:
                task.cancel()
        for capture in self._captures:  # their processes are gone (a group is killed at reap)
            capture.close()
        for file in self._files.values():
            file.close()
        self._captures, self._files = [], {}

    async def stop_all(self) -> None:
        """Stop every program: dependents before what they depend on and, among programs free
        to stop, the highest ``priority`` first, as supervisord does; each group of one
        priority stops together, and the next waits until it is down."""
        for wave in reversed(start_waves(self._programs)):
            for priority in sorted({self._programs[p].priority for p in wave}, reverse=True):
                await self.stop(*[p for p in wave if self._programs[p].priority == priority])

    def start_all(self) -> None:
        """Start every program, each once what it depends on runs (as at bartoc's start)."""
        self._waiting |= set(self._order)
        self._changed.set()

    async def _autostart(self, now: float) -> None:
        for program in [p for p in self._order if p in self._waiting]:
            if all(self._running(dep) for dep in self._programs[program].depends_on):
                self._waiting.discard(program)
                for child in self.children(program):
                    await self._apply(child, child.machine.start(now))

    def _running(self, program: str) -> bool:
        return all(c.machine.state == State.RUNNING for c in self.children(program))

    async def _until_down(self, targets: list[Child]) -> None:
        """Wait for ``targets`` to end, ticking them (their KILL deadline) even if :meth:`run`
        no longer does."""
        while any(c.machine.alive for c in targets):
            for child in targets:
                await self._apply(child, child.machine.tick(self._clock()))
            await asyncio.sleep(0.02)

    # -- actions ---------------------------------------------------------------------------

    async def _apply(self, child: Child, actions: list[Action]) -> None:
        """Carry out what a machine call asked for (and tell of every state it went through:
        the machine's list of changes is emptied here, so a crash loop does not grow it)."""
        changes, child.machine.changes = child.machine.changes, []
        for previous, state in changes:
            self.hooks.changed(child, previous, state)
        for action in actions:
            if action == Action.SPAWN and not self._stopping:
                await self._spawn(child)
            elif action == Action.STOP and child.proc is not None:
                _send(child.proc.pid, parse_signal(child.definition.stopsignal), group=child.definition.stopasgroup)
            elif action == Action.KILL and child.proc is not None:
                group = child.definition.killasgroup or child.definition.stopasgroup
                _send(child.proc.pid, signal.SIGKILL, group=group)

    async def _spawn(self, child: Child) -> None:
        definition = child.definition
        try:
            proc = self._exec(child)
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            log.warning("cannot spawn %s: %s", child.name, error)
            await self._apply(child, child.machine.spawn_failed(self._clock(), f"spawn error: {error}"))
            return
        child.proc, child.since = proc, time.time()
        child.spawns += 1
        self.hooks.spawned(proc.pid)
        await self.hooks.saved()  # on disk before anything else: a kill -9 now leaves no unknown orphan
        log.info("spawned %s (pid %d): %s", child.name, proc.pid, " ".join([definition.cmd, *definition.args]))
        child.waiter = asyncio.create_task(self._watch(child, proc))
        self._watchers.add(child.waiter)  # owned here: shutdown waits for every one
        child.waiter.add_done_callback(self._watchers.discard)
        await self._apply(child, child.machine.spawned(self._clock()))

    def _exec(self, child: Child) -> subprocess.Popen[bytes]:
        definition = child.definition
        out_path, err_path = definition.log_paths(child.program, (child.name, child.num), self._log_dir)
        files: dict[Stream, RotatingFile] = {"stdout": self._file(out_path, definition.rotation("stdout"))}
        if err_path is not None:
            files["stderr"] = self._file(err_path, definition.rotation("stderr"))
        argv, directory, env = definition.expanded(child.program, (child.name, child.num), str(self._here.resolve()))
        popen = program_popen(
            argv,
            env=self._child_env(child) | env,
            cwd=directory,
            user=definition.user,
            umask=definition.umask,
            stderr_apart=err_path is not None,
        )
        proc = popen()  # on the loop, as before: hooks.spawned records it before anything else runs
        self._captures = [c for c in self._captures if not c.closed]
        pipes: list[tuple[Stream, IO[bytes] | None]] = [("stdout", proc.stdout), ("stderr", proc.stderr)]
        for stream, pipe in pipes:
            if pipe is not None:
                self._captures.append(Capture(os.dup(pipe.fileno()), files[stream], self._lines(child.name, stream)))
                pipe.close()
        return proc

    def _file(self, path: Path, rotation: tuple[int, int]) -> RotatingFile:
        if path not in self._files:
            self._files[path] = RotatingFile(path, *rotation)
        return self._files[path]

    def _lines(self, name: str, stream: Stream) -> Callable[[list[str]], None]:
        return lambda lines: self.hooks.output(name, stream, lines)

    def _child_env(self, child: Child) -> dict[str, str]:
        env = dict(self._env)
        env.update(
            SUPERVISOR_ENABLED="1",  # supervisord's names, so that programs written for it work
            SUPERVISOR_PROCESS_NAME=child.name,
            SUPERVISOR_GROUP_NAME=child.program,
            TASKMASTER_ENABLED="1",
            TASKMASTER_PROCESS_NAME=child.name,
            BARTO_ENABLED="1",
            BARTO_GROUP_NAME=child.program,
            BARTO_PROGRAM_NAME=child.program,
            BARTO_PROCESS_NAME=child.name,
            BARTO_PROCESS_NUM=str(child.num),
        )
        return env

    async def _watch(self, child: Child, proc: subprocess.Popen[bytes]) -> None:
        """Await the process's end (its pidfd turns readable at once) and tell its machine."""
        await exit_future(proc)
        status = proc.wait()  # reaped already: returns at once
        if proc.stdin is not None:
            proc.stdin.close()  # held open while it ran, as supervisord does
        log.info("%s (pid %d) ended with status %d", child.name, proc.pid, status)
        if self._stopping or child.machine.state == State.STOPPING:
            # Stopped by us (ctl stop, a restart, bartoc's stop): what it left in its process
            # group goes too, now, before its pid can be reused; a stopped program leaves no child.
            _send(proc.pid, signal.SIGKILL, group=True)
        self.hooks.reaped(proc.pid)
        await self._apply(child, child.machine.exited(self._clock(), status))
        self._changed.set()


def _send(pid: int, signum: int, *, group: bool) -> None:
    """Signal a process, or its whole process group; one that is gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
