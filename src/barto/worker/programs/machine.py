"""One supervised process's states and transitions, exactly as supervisord's (a pure machine).

No clocks and no processes here: every event carries ``now`` (monotonic seconds), and the
answer is what the supervisor must do (spawn, send the stop signal, kill). The supervisor calls
:meth:`Process.tick` at :meth:`Process.wake_at`, and feeds back what happened (spawned, could
not spawn, exited). This is supervisord's ``process.py`` rule for rule:

- ``start``: STOPPED/EXITED/FATAL/BACKOFF -> STARTING (a spawn); the retry count starts over.
- STARTING -> RUNNING once the process has stayed up ``startsecs`` (0: at once).
- A process that exits before ``startsecs``, or that cannot be spawned, goes to BACKOFF,
  whatever its exit code; after the n-th such failure the next try comes n seconds later;
  when failures exceed ``startretries`` it is FATAL (given up).
- RUNNING -> EXITED when it exits; then ``autorestart``: ``true`` restarts at once, ``false``
  never, ``unexpected`` only when the exit code is not in ``exitcodes``. A process that lived
  past ``startsecs`` resets the retry count: one that crashes after a while restarts forever.
- ``stop``: STARTING/RUNNING -> STOPPING (the stop signal), then STOPPED when it exits; KILL
  once ``stopwaitsecs`` pass. BACKOFF -> STOPPED at once (nothing runs).
- UNKNOWN: a state nothing legitimately reaches (supervisord's catch-all); it never appears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class State(StrEnum):
    """supervisord's process states."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"
    UNKNOWN = "UNKNOWN"


class Action(StrEnum):
    """What the supervisor must do for the process."""

    SPAWN = "spawn"
    STOP = "stop"  # send the stop signal (to the group with stopasgroup)
    KILL = "kill"  # SIGKILL (to the group with killasgroup)


ALIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})  # a process exists
ALLOWED = frozenset(
    {
        (State.STOPPED, State.STARTING),
        (State.STARTING, State.RUNNING),
        (State.STARTING, State.BACKOFF),
        (State.STARTING, State.STOPPING),
        (State.RUNNING, State.EXITED),
        (State.RUNNING, State.STOPPING),
        (State.BACKOFF, State.STARTING),
        (State.BACKOFF, State.FATAL),
        (State.BACKOFF, State.STOPPED),
        (State.STOPPING, State.STOPPED),
        (State.EXITED, State.STARTING),
        (State.FATAL, State.STARTING),
    }
)


@dataclass(frozen=True)
class Rules:
    """The settings of ``[programs.<name>]`` that decide transitions (supervisord defaults)."""

    startsecs: float = 1.0
    startretries: int = 3
    autorestart: Literal["true", "false", "unexpected"] = "unexpected"
    exitcodes: frozenset[int] = frozenset({0})
    stopwaitsecs: float = 10.0


@dataclass
class Process:
    """The state of one process and the bookkeeping its transitions need."""

    rules: Rules
    state: State = State.STOPPED
    backoff: int = 0  # failed starts in a row
    laststart: float = 0.0
    delay: float = 0.0  # BACKOFF: when to try again; STOPPING: when to KILL
    exit_status: int | None = None
    description: str = ""  # why it is where it is ("Exited too quickly", "Bad exit code 3")
    alive: bool = False  # a process exists (spawned and not yet exited)
    changes: list[tuple[State, State]] = field(default_factory=list)  # every transition, in order

    def start(self, now: float) -> list[Action]:
        """An operator's start (or autostart). Refused (no action) while it already runs."""
        if self.state in (State.STARTING, State.RUNNING, State.STOPPING):
            return []
        self.backoff = 0
        return self._spawn(now)

    def stop(self, now: float) -> list[Action]:
        """An operator's stop: the stop signal now, KILL after ``stopwaitsecs``."""
        if self.state == State.BACKOFF:
            self._become(State.STOPPED)
            return []
        if self.state not in (State.STARTING, State.RUNNING):
            return []
        self.delay = now + self.rules.stopwaitsecs
        self._become(State.STOPPING)
        return [Action.STOP]

    def spawned(self, now: float) -> list[Action]:
        """The spawn produced a process (it now counts toward ``startsecs``)."""
        self.alive = True
        return self.tick(now)

    def spawn_failed(self, now: float, error: str) -> list[Action]:
        """The spawn did not produce a process (no such command, bad user, ...)."""
        self.description = error
        self._back_off(now)
        return self.tick(now)

    def exited(self, now: float, status: int) -> list[Action]:
        """The process ended with ``status`` (its exit code, or -N for death by signal N)."""
        self.alive = False
        self.exit_status = status
        if self.state == State.STOPPING:
            self.delay = 0.0
            self._become(State.STOPPED)
        elif now - self.laststart < self.rules.startsecs:
            self.description = "Exited too quickly (process log may have details)"
            self._back_off(now)
        else:
            self.backoff = 0
            if self.state == State.STARTING:  # it lived long enough; we had not looked yet
                self._become(State.RUNNING)
            expected = status in self.rules.exitcodes
            self.description = "" if expected else f"Bad exit code {status}"
            self._become(State.EXITED)
        return self.tick(now)

    def tick(self, now: float) -> list[Action]:
        """supervisord's ``transition()``: what time alone decides."""
        if self.state == State.EXITED and self._restarts():
            return self._spawn(now)
        if self.state == State.BACKOFF and self.backoff > self.rules.startretries:
            self.delay = 0.0
            self.backoff = 0
            self.description = "Exited too quickly (process log may have details)"
            self._become(State.FATAL)
        elif self.state == State.BACKOFF and now >= self.delay:
            return self._spawn(now)
        elif self.state == State.STARTING and self.alive and now - self.laststart >= self.rules.startsecs:
            self.backoff = 0
            self._become(State.RUNNING)
        elif self.state == State.STOPPING and now >= self.delay:
            self.delay = float("inf")  # one KILL; a process that survives it stays STOPPING
            return [Action.KILL]
        return []

    def wake_at(self) -> float | None:
        """When :meth:`tick` next has something to decide (None: only an event can change it)."""
        if self.state == State.STARTING and self.alive:
            return self.laststart + self.rules.startsecs
        if self.state in (State.BACKOFF, State.STOPPING) and self.delay != float("inf"):
            return self.delay
        return None

    def _restarts(self) -> bool:
        if self.rules.autorestart == "true":
            return True
        return self.rules.autorestart == "unexpected" and self.exit_status not in self.rules.exitcodes

    def _spawn(self, now: float) -> list[Action]:
        """Ask for a process; the supervisor answers with :meth:`spawned` or :meth:`spawn_failed`."""
        self.laststart = now
        self._become(State.STARTING)
        return [Action.SPAWN]

    def _back_off(self, now: float) -> None:
        self.backoff += 1
        self.delay = now + self.backoff
        self._become(State.BACKOFF)

    def _become(self, state: State) -> None:
        if (self.state, state) not in ALLOWED:  # a bug in the rules above, never the user's doing
            state = State.UNKNOWN
        self.changes.append((self.state, state))
        self.state = state
