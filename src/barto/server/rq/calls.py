"""What the RQ bridge asks of a Redis, through RQ's own API (docs/rq.md). redis-py and RQ are
synchronous: the bridge runs these in a thread of its own.

A slot's job id is derived from (schedule, slot, attempt), and it is enqueued with RQ's
``unique=True`` (an atomic check in Redis): a second leader, a restarted one, or a repeated
dispatch of the same run finds the job there and follows it instead of enqueuing it again.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis
from rq import Queue
from rq import scripts as rq_scripts
from rq import utils as rq_utils
from rq.command import send_stop_job_command
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import resolve_serializer

from barto.config.server import Redis, RqCall

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
FINAL = {JobStatus.FINISHED: "finished", JobStatus.FAILED: "failed", JobStatus.STOPPED: "stopped",
         JobStatus.CANCELED: "canceled"}  # fmt: skip
BATCH = 1000  # jobs enqueued a round trip
TEXT_BYTES = 64 * 1024  # of a result's repr or an exception's text, kept as the run's output
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_PIPELINED = all(hasattr(rq_scripts, n) for n in ("get_unique_enqueue_script", "_build_hset_args")) and hasattr(
    Queue, "_prepare_for_queue"
)


def connect(target: Redis) -> redis.Redis:
    """A client of ``target`` (connections are made on first use)."""
    extra: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5}
    if target.password is not None:
        extra["password"] = target.password
    if target.ssl_ca_certs is not None:
        extra["ssl_ca_certs"] = target.ssl_ca_certs
    return redis.Redis.from_url(target.url, **extra)


def job_id(schedule: str, slot: datetime, attempt: int) -> str:
    """The RQ job id of one attempt of one slot: readable (``barto-report-20261201T090000000000-1-…``)
    and the same on every server; RQ allows only ``[A-Za-z0-9_-]``, so the name's other
    characters become ``_`` and a digest of the exact name keeps two names apart."""
    name, digest = _name_parts(schedule)
    return f"barto-{name}-{_stamp(slot)}-{attempt}-{digest}"


@functools.lru_cache(maxsize=100_000)
def _name_parts(schedule: str) -> tuple[str, str]:
    return safe(schedule), hashlib.sha256(schedule.encode()).hexdigest()[:8]


@functools.lru_cache(maxsize=1024)
def _stamp(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


def safe(name: str) -> str:
    """``name`` as part of a job id: RQ allows only ``[A-Za-z0-9_-]``, and at most 64 of it here."""
    return _UNSAFE.sub("_", name)[:64]


@dataclass(frozen=True)
class Enqueue:
    """One run to enqueue: its RQ call and job id."""

    run_id: int
    job_id: str
    call: RqCall
    description: str


def enqueue_many(conn: redis.Redis, items: list[Enqueue]) -> list[bool]:
    """Enqueue ``items``, :data:`BATCH` a round trip, each unless a job of its id is there
    already; whether each was enqueued now.

    Each job is made and saved as RQ's ``enqueue_call(..., unique=True)`` makes and saves it
    (RQ's ``Queue.create_job``, its preparation for the queue and its own atomic Lua script:
    check the id, save the hash, push the id), only sent in pipelines instead of one round
    trip each. An RQ without those parts (older than the locked one) gets :func:`enqueue`
    once per item.

    Raises:
        REDIS_ERRORS: Redis cannot be reached (then none or some were enqueued; a retry of
            the same items enqueues only the rest: the ids are unique).
    """
    if not _PIPELINED:
        return [enqueue(conn, item) for item in items]
    script = rq_scripts.get_unique_enqueue_script(conn)  # type: ignore[no-untyped-call]
    queues = {name: Queue(name, connection=conn) for name in dict.fromkeys(item.call.queue for item in items)}
    stamp = rq_utils.utcformat(rq_utils.now())
    fresh: list[bool] = []
    for start in range(0, len(items), BATCH):
        pipe = conn.pipeline(transaction=False)
        registered = list(queues.values()) if start == 0 else []  # RQ's set of queues, with the first batch
        for queue in registered:
            pipe.sadd(queue.redis_queues_keys, queue.key)
        for item in items[start : start + BATCH]:
            queue = queues[item.call.queue]
            ttl, fields = _shape(queue, item).fields(item, stamp) if item.run_id else _fields(queue, item)
            script(keys=[Job.key_for(item.job_id), queue.key], args=[item.job_id, "R", ttl, *fields], client=pipe)
        fresh += [bool(reply) for reply in pipe.execute()[len(registered) :]]
    return fresh


def _fields(queue: Queue, item: Enqueue) -> tuple[int, list[Any]]:
    """The TTL and the hash of ``item``'s job, made as ``enqueue_call`` makes it."""
    job = queue.create_job(status=JobStatus.QUEUED, **_job_fields(item))
    queue._prepare_for_queue(job)  # what enqueue_job does before saving, without a round trip
    fields: list[Any] = rq_scripts._build_hset_args(job)  # type: ignore[no-untyped-call]
    return (job.ttl if job.ttl is not None else -1), fields


class _Shape:
    """The hash of every job of one call: RQ makes one of them, and the jobs of the call differ
    only in the fields of :data:`_PER_JOB` (the id is the hash's key, not one of its fields).
    Making each job anew costs four times as much (tests/integration/test_rq_calls.py checks
    that both give the same hash)."""

    def __init__(self, queue: Queue, item: Enqueue) -> None:
        self.ttl, self.template = _fields(queue, item)
        keys = self.template[::2]
        self.at = {key: 2 * keys.index(key) + 1 for key in _PER_JOB}
        self.serializer = resolve_serializer(queue.serializer)

    def fields(self, item: Enqueue, stamp: str) -> tuple[int, list[Any]]:
        values = list(self.template)
        at = self.at
        values[at["created_at"]] = values[at["enqueued_at"]] = stamp
        values[at["description"]] = item.call.description or item.description
        values[at["meta"]] = self.serializer.dumps({**item.call.meta, "barto_run_id": item.run_id})
        return self.ttl, values


_PER_JOB = ("created_at", "enqueued_at", "description", "meta")
_SHAPES: dict[bytes, _Shape] = {}


def _shape(queue: Queue, item: Enqueue) -> _Shape:
    key = msgspec.json.encode(item.call)
    found = _SHAPES.get(key)
    if found is None:
        if len(_SHAPES) >= 10_000:  # schedules come and go: forget them all now and then
            _SHAPES.clear()
        found = _SHAPES[key] = _Shape(queue, item)
    return found


def _job_fields(item: Enqueue) -> dict[str, Any]:
    call = item.call
    return {
        "func": call.func, "args": call.args, "kwargs": call.kwargs, "timeout": call.timeout,
        "result_ttl": call.result_ttl, "failure_ttl": call.failure_ttl,
        "description": call.description or item.description, "job_id": item.job_id,
        "meta": {**call.meta, "barto_run_id": item.run_id} if item.run_id else call.meta,
    }  # fmt: skip


def enqueue(conn: redis.Redis, item: Enqueue) -> bool:
    """Enqueue ``item`` unless a job of its id is there already; whether it was enqueued now.

    Raises:
        REDIS_ERRORS: Redis cannot be reached.
    """
    try:
        Queue(item.call.queue, connection=conn).enqueue_call(**_job_fields(item), unique=True)
    except DuplicateJobError:
        return False
    return True


@dataclass(frozen=True)
class Seen:
    """A job as Redis has it now: ``status`` None when there is no such job (never enqueued,
    or its TTL passed); ``text`` is its result's repr or its exception, once it has ended."""

    job_id: str
    status: str | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    text: str = ""
    error: str | None = None  # the exception's last line, for a failed job


def look(conn: redis.Redis, job_ids: list[str]) -> list[Seen]:
    """Where each job is: three fields of each in one round trip (no job is decoded), then one
    round trip for each that has ended, for its result or its exception."""
    pipe = conn.pipeline(transaction=False)
    for wanted in job_ids:
        pipe.hmget(Job.key_for(wanted), "status", "started_at", "ended_at")
    found = []
    for wanted, (status, started, ended) in zip(job_ids, pipe.execute(), strict=True):
        if status is None:
            found.append(Seen(wanted, None))
            continue
        seen = Seen(wanted, status.decode(), _when(started), _when(ended))
        if seen.status in FINAL.values():
            try:
                job = Job.fetch(wanted, connection=conn)
            except NoSuchJobError:  # its TTL ended since
                seen = Seen(wanted, None)
            else:
                seen = _ending(job, job.get_status(refresh=False), seen)
        found.append(seen)
    return found


def _when(raw: bytes | None) -> datetime | None:
    """One of RQ's stored times (UTC, ``...Z``; empty when not yet)."""
    return _aware(datetime.fromisoformat(raw.decode())) if raw else None


def _ending(job: Job, status: JobStatus, seen: Seen) -> Seen:
    result = job.latest_result()
    if status == JobStatus.FINISHED:
        value = result.return_value if result is not None else None
        return Seen(seen.job_id, seen.status, seen.started_at, seen.ended_at, _bounded(repr(value)))
    text = (result.exc_string if result is not None else None) or ""
    error = text.strip().splitlines()[-1] if text.strip() else FINAL[status]
    return Seen(seen.job_id, seen.status, seen.started_at, seen.ended_at, _bounded(text), error[:500])


def queues(conn: redis.Redis) -> list[dict[str, Any]]:
    """Every queue RQ knows in this Redis, with its jobs waiting and in each registry."""
    found = []
    for queue in sorted(Queue.all(connection=conn), key=lambda q: q.name):
        registries = {
            "started": queue.started_job_registry,
            "finished": queue.finished_job_registry,
            "failed": queue.failed_job_registry,
            "deferred": queue.deferred_job_registry,
            "scheduled": queue.scheduled_job_registry,
            "canceled": queue.canceled_job_registry,
        }
        found.append({"queue": queue.name, "queued": queue.count, **{k: r.count for k, r in registries.items()}})
    return found


def cancel(conn: redis.Redis, wanted: str) -> None:
    """Cancel a job that waits, stop one that runs (RQ's stop command); one that has ended or
    is gone is left as it is."""
    try:
        job = Job.fetch(wanted, connection=conn)
    except NoSuchJobError:
        return
    status = job.get_status()
    try:
        if status == JobStatus.STARTED:
            send_stop_job_command(conn, wanted)
        elif status not in FINAL:
            job.cancel()
    except InvalidJobOperation:  # it ended meanwhile
        return


def _bounded(text: str) -> str:
    raw = text.encode()
    return text if len(raw) <= TEXT_BYTES else raw[:TEXT_BYTES].decode(errors="ignore") + "\n[barto: cut]"


def _aware(at: datetime | None) -> datetime | None:
    """RQ's times are UTC, naive in some versions."""
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


STATES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")


def jobs(conn: redis.Redis, queue: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` jobs of ``queue`` (every queue when None) in ``state`` (every state),
    as its queue or registry lists them: one round trip per list, one per batch of jobs."""
    found: list[dict[str, Any]] = []
    chosen = [Queue(queue, connection=conn)] if queue else sorted(Queue.all(connection=conn), key=lambda q: q.name)
    for each in chosen:
        for wanted in (state,) if state else STATES:
            room = limit - len(found)
            if room <= 0:
                return found
            ids = each.get_job_ids(0, room) if wanted == "queued" else _registry(each, wanted).get_job_ids(0, room - 1)
            fetched = Job.fetch_many(ids[:room], connection=conn)
            found += [_job_row(job, each.name, wanted) for job in fetched if job is not None]
    return found


def _registry(queue: Queue, state: str) -> Any:
    return getattr(queue, f"{state}_job_registry")


def _job_row(job: Job, queue: str, state: str) -> dict[str, Any]:
    try:
        func: str | None = job.func_name
    except Exception:  # data another program pickled (BTU's Frappe wrappers): shown without it
        func = None
    return {
        "queue": queue, "id": job.id, "state": state, "func": func, "description": job.description,
        "created_at": _aware(job.created_at), "enqueued_at": _aware(job.enqueued_at),
        "started_at": _aware(job.started_at), "ended_at": _aware(job.ended_at),
    }  # fmt: skip
