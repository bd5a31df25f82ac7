"""Protocol v1 messages: JSON objects tagged by ``type``, sent in WebSocket text frames.

Two unions, one per direction: :data:`ToServer` (worker -> server) and :data:`ToWorker`
(server -> worker). A frame holds one message, or a JSON array of several (see the codec).
Unknown fields are ignored so that a newer peer can add optional fields without a version
bump; removing or changing a field needs a new :data:`PROTOCOL_VERSION`.
See docs/protocol.md for the conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from barto.model import StopReason, Stream

PROTOCOL_VERSION = 1

# Every time on the wire is RFC 3339 with an offset (we send UTC, "Z"); naive times are refused.
Time = Annotated[datetime, msgspec.Meta(tz=True)]
# Numbers are bounded where they are decoded, so that nothing a peer sends reaches SQL, a timer
# or a system call out of range: ids fit a signed 64-bit column, times are finite and sane.
_INT64 = 2**63 - 1
Id = Annotated[int, msgspec.Meta(ge=1, le=_INT64)]  # run ids
Count = Annotated[int, msgspec.Meta(ge=0, le=_INT64)]  # event ids, line numbers, counters
Int64 = Annotated[int, msgspec.Meta(ge=-_INT64 - 1, le=_INT64)]  # exit codes, request ids
Signal = Annotated[int, msgspec.Meta(ge=1, le=64)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=366 * 86_400)]
Wait = Annotated[float, msgspec.Meta(ge=0, le=86_400)]


class _Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every frame; the class name in snake_case is the ``type`` tag."""


class HostInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker tells about its machine (shown by ``barto-cli clients``)."""

    hostname: str
    os_name: str
    os_version: str
    kernel: str
    python: str


class Hello(_Message, tag="hello", frozen=True, kw_only=True):
    """First frame from a worker: who it is and which protocol it speaks."""

    protocol: int
    name: str
    version: str
    host: HostInfo
    runs: list[Id] = []  # runs it still knows: executing, or with events not yet acknowledged
    owed: Count = 0  # the highest eid it will (re)send that the server has not acknowledged; 0: none


class Welcome(_Message, tag="welcome", frozen=True, kw_only=True):
    """The server accepts the worker; liveness timers apply from now on."""

    protocol: int
    server_version: str
    session: str
    heartbeat_seconds: Seconds
    timeout_seconds: Seconds
    programs: dict[str, Any] = {}  # the server's [programs.<this worker>.<name>] definitions


class Programs(_Message, tag="programs", frozen=True, kw_only=True):
    """The server's program definitions for this worker changed (its config was reloaded)."""

    programs: dict[str, Any]


class Refused(_Message, tag="refused", frozen=True, kw_only=True):
    """The server refuses the hello; it closes the connection right after this frame."""

    code: str
    reason: str


class Heartbeat(_Message, tag="heartbeat", frozen=True, kw_only=True):
    """Sent both ways every ``heartbeat_seconds``; any frame counts as a sign of life. A
    worker's says how many of its events the server has not acknowledged yet (its outbox
    backlog; None from the server, and from workers before it was added)."""

    ts: Time
    backlog: Count | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One run to execute: the commands of one schedule for one slot, run in order."""

    run_id: Id
    schedule: str
    slot: Time
    attempt: Count
    cmds: list[str]
    env: dict[str, str] = {}
    cwd: str | None = None
    timeout_seconds: Seconds | None = None
    stop_signal: Signal = 15  # sent to the run's process group on timeout, cancel or shutdown
    stop_wait_seconds: Wait = 10.0  # then KILL
    max_output_bytes: Annotated[int, msgspec.Meta(ge=0, le=2**40)] | None = None  # None: keep everything


class Dispatch(_Message, tag="dispatch", frozen=True, kw_only=True):
    """Runs for this worker; every run due at one instant travels in one frame."""

    jobs: list[Job]


class Cancel(_Message, tag="cancel", frozen=True, kw_only=True):
    """Stop a run as its timeout would (stop signal, wait, KILL); it ends ``cancelled``."""

    run_id: Id


class _Event(_Message, frozen=True, kw_only=True):
    """A run event, kept in the worker's outbox until the server acknowledges its ``eid``.

    ``eid`` numbers the worker's events; it only grows, across restarts of the worker.
    """

    eid: Count = 0


class Accepted(_Event, tag="accepted", frozen=True, kw_only=True):
    """The worker has taken these runs (it answers every Dispatch at once)."""

    run_ids: list[Id]


class Started(_Event, tag="started", frozen=True, kw_only=True):
    """The first command of a run has been spawned."""

    run_id: Id
    ts: Time


class Output(_Event, tag="output", frozen=True, kw_only=True):
    """Consecutive lines of one run from one stream, read at ``ts``; the first has number ``seq``.

    Line numbers count from 1 per run across all its commands and both streams, so line ``i``
    of ``lines`` is number ``seq + i``. Lines read together share their stream and timestamp,
    which is why those are stated once per message rather than per line.
    """

    run_id: Id
    seq: Count
    stream: Stream
    ts: Time
    lines: list[str]
    # Per line, when any is set: 1 the next line continues this one, 2 the line is escaped
    # (barto.model.CONTINUES, ESCAPED). Empty: every line is whole and as written.
    flags: list[Annotated[int, msgspec.Meta(ge=0, le=3)]] = []

    @property
    def last(self) -> int:
        """The number of the last line (``seq - 1`` when ``lines`` is empty)."""
        return self.seq + len(self.lines) - 1


class Finished(_Event, tag="finished", frozen=True, kw_only=True):
    """A run is over. ``lines`` is the last ``seq`` sent, so the server can tell it has them all
    (None when the worker cannot know: it restarted and found the run interrupted).

    ``exit_code`` is the first non-zero exit code of the run's commands (0 if all succeeded);
    ``signal`` is set instead when that command was killed by a signal. ``stopped`` says why the
    worker stopped the run, ``error`` why a command could not be started.
    """

    run_id: Id
    started_at: Time
    finished_at: Time
    lines: Count | None
    exit_code: Int64 | None
    signal: Signal | None = None
    stopped: StopReason | None = None
    error: str | None = None


class Ack(_Message, tag="ack", frozen=True, kw_only=True):
    """The server has committed every event of this session up to and including ``eid``."""

    eid: Count


class Rejection(_Message, tag="rejected", frozen=True, kw_only=True):
    """The worker dropped a frame from the server without acting on it (a bad signature, stale,
    replayed): the server logs it, since it means a forger, a replay or a key mismatch."""

    reason: str


class ProgramStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One supervised process as ``status`` shows it (docs/programs.md)."""

    name: str
    program: str
    state: str
    pid: Count | None
    uptime_seconds: float | None
    restarts: Count
    description: str
    exit_status: Int64 | None


class ProgramTransition(msgspec.Struct, frozen=True, kw_only=True):
    """A process changed state at ``at``. ``suppressed``: transitions of this process left out
    before this one (each process may report about one a second, in bursts of 20)."""

    name: str
    program: str
    state: str
    previous: str
    at: Time
    pid: Count | None
    description: str
    exit_status: Int64 | None
    suppressed: Count = 0


class ProgramStates(_Message, tag="program_states", frozen=True, kw_only=True):
    """The processes that changed since the last such message (``snapshot``: every process,
    and only these: sent at the start of each session and after the program set changed)."""

    snapshot: bool
    programs: list[ProgramStatus]


class ProgramEvents(_Message, tag="program_events", frozen=True, kw_only=True):
    """Transitions for the server's history (``barto-cli programs events``)."""

    events: list[ProgramTransition]


class ProgramOutput(_Message, tag="program_output", frozen=True, kw_only=True):
    """Lines a process wrote (forwarded best effort and bounded; its files are the record).
    ``dropped``: bytes of this process's output left out before these lines."""

    name: str
    stream: Stream
    ts: Time
    lines: list[str]
    dropped: Count = 0


class Control(_Message, tag="control", frozen=True, kw_only=True):
    """A control request for the worker's programs, as its local socket takes them."""

    id: Int64
    request: dict[str, Any]


class ControlReply(_Message, tag="control_reply", frozen=True, kw_only=True):
    """The worker's answer to :class:`Control` ``id``, as its local socket gives it."""

    id: Int64
    response: dict[str, Any]


RunEvent = Accepted | Started | Output | Finished
ProgramMessage = ProgramStates | ProgramEvents | ProgramOutput | ControlReply
ToServer = Hello | Heartbeat | Accepted | Started | Output | Finished | Rejection | ProgramMessage
ToWorker = Welcome | Refused | Heartbeat | Dispatch | Cancel | Ack | Programs | Control
