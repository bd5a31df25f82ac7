"""The store: every SQL statement barto runs, on SQLite, PostgreSQL or MariaDB."""

from __future__ import annotations

import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import count, repeat
from typing import Any, TypeVar

import msgspec
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from barto.errors import Unavailable
from barto.model import (
    CONTINUES,
    ESCAPED,
    FAILED_STATES,
    FINAL_STATES,
    OutputLine,
    ProgramEvent,
    Reason,
    RunRecord,
    RunState,
    WorkerRecord,
)
from barto.store._dialect import DriverInsert, insert_ignoring_duplicates
from barto.store.alerts import AlertBook
from barto.store.cluster import Cluster
from barto.store.query import Queries, QueryRows
from barto.store.records import Batch, Claim, LineChunk, ScheduleRow
from barto.store.retention import Retention, expired
from barto.store.tables import program_events, run_output, runs, schedule_state, schedules, workers
from barto.store.types import UtcDateTime

_NO_LONGER_HAS = "the worker no longer has this run"
_NOT_RECEIVED = "dispatch not received"
_RESULTS_KEPT = 100_000  # results remembered to tell a resent one from a new one
_RECENT_AT_ONCE = 100  # schedules per UNION ALL (SQLite allows 500 compound terms)
T = TypeVar("T")
PARAMETERS_MAX = 1_000  # values of one list in one statement (_batches)
_CLEANUP_BATCH = 1_000  # runs per delete transaction: ~0.1 s with 10 lines each (bench/store.py)
LINE_COLUMNS = ("run_id", "seq", "stream", "ts", "data", "flags")


class StoreError(Unavailable):
    """A store operation failed; the message says which and why."""

    code = "store_unavailable"


def _run(row: Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        uuid=row.uuid,
        schedule=row.schedule,
        worker=row.worker,
        slot=row.slot,
        attempt=row.attempt,
        trigger=row.trigger,
        state=RunState(row.state),
        reason=row.reason,
        exit_code=row.exit_code,
        signal=row.signal,
        lines=row.lines,
        created_at=row.created_at,
        dispatched_at=row.dispatched_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class Store:
    """Reads and writes of the server. Writes are short transactions; reads never lock writers."""

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine, lease: AsyncEngine, queries: Queries) -> None:
        self._queries = queries
        self._engine = engine
        self._reader = reader
        self._dialect = engine.dialect.name
        self.cluster = Cluster(lease)
        self.alerts = AlertBook(engine, reader)
        self._insert_lines = DriverInsert(
            insert_ignoring_duplicates(run_output, self._dialect), LINE_COLUMNS, engine.dialect
        )
        # Runs this process gave a final state, by (state, reason): barto_runs_total. Counted
        # where each is written, so it agrees with the store; a late result that replaces
        # ``lost`` counts under both. A resent result (same state and end) counts once.
        self.ended: Counter[tuple[str, str]] = Counter()
        self._results: OrderedDict[int, tuple[str, datetime]] = OrderedDict()  # recent, for that

    @property
    def engine(self) -> AsyncEngine:
        """The writing engine (for migrations and schema checks; queries go through methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql``."""
        return self._dialect

    # -- schedules -------------------------------------------------------------------------

    async def replace_schedules(self, rows: Sequence[ScheduleRow]) -> None:
        """Make the stored config schedules exactly ``rows``. The file wins: an API schedule of a
        name the config now defines is removed."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(delete(schedules).where(schedules.c.source == "config"))
            names = {(row.worker, row.name) for row in rows}
            api = select(schedules.c.id, schedules.c.worker, schedules.c.name).where(schedules.c.source == "api")
            shadowed = [i for i, worker, name in await conn.execute(api) if (worker, name) in names]
            for batch in _batches(shadowed):
                await conn.execute(delete(schedules).where(schedules.c.id.in_(batch)))
            if rows:
                values = [{**_schedule_values(row), "updated_at": now} for row in rows]
                await conn.execute(schedules.insert(), values)

    async def api_schedules(self) -> list[tuple[str, dict[str, Any]]]:
        """The schedules added through the API: (worker, definition as given)."""
        query = select(schedules.c.worker, schedules.c.definition).where(schedules.c.source == "api")
        async with self._reader.connect() as conn:
            return [(worker, definition) for worker, definition in await conn.execute(query.order_by(schedules.c.id))]

    async def put_api_schedule(self, row: ScheduleRow, definition: dict[str, Any]) -> None:
        """Add or replace the API schedule ``row.name`` of ``row.worker``."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(schedules).where(_api_schedule(row.worker, row.name)))
            values = {**_schedule_values(row), "source": "api", "definition": definition}
            await conn.execute(schedules.insert().values(**values, updated_at=datetime.now(UTC)))

    async def delete_api_schedule(self, worker: str, name: str) -> bool:
        """Remove an API schedule; False if there was none of that name."""
        async with self._engine.begin() as conn:
            return bool((await conn.execute(delete(schedules).where(_api_schedule(worker, name)))).rowcount)

    # -- workers ---------------------------------------------------------------------------

    async def worker_connected(self, name: str, version: str, host: dict[str, str], session: str) -> None:
        """Record a worker's hello."""
        now = datetime.now(UTC)
        values = {"version": version, "host": host, "session": session, "connected": True, "last_seen": now}
        async with self._engine.begin() as conn:
            result = await conn.execute(update(workers).where(workers.c.name == name).values(**values))
            if result.rowcount == 0:
                await conn.execute(workers.insert().values(name=name, first_seen=now, **values))

    async def worker_disconnected(self, name: str, session: str) -> None:
        """Record that a worker's session ended (unless a newer session of that name exists)."""
        async with self._engine.begin() as conn:
            where = and_(workers.c.name == name, workers.c.session == session)
            await conn.execute(update(workers).where(where).values(connected=False, last_seen=datetime.now(UTC)))

    async def forget_worker(self, name: str, *, with_runs: bool) -> tuple[int | None, int]:
        """Delete a worker's record (and with ``with_runs`` its runs and their output, in
        batches): (runs deleted, output lines deleted), or (None, 0) when there was no worker."""
        async with self._engine.begin() as conn:
            if not (await conn.execute(delete(workers).where(workers.c.name == name))).rowcount:
                return None, 0
        if not with_runs:
            return 0, 0
        async with self._reader.connect() as conn:
            ids = list((await conn.execute(select(runs.c.id).where(runs.c.worker == name))).scalars())
        deleted, lines = 0, 0
        async for batch_runs, batch_lines in self.delete_runs(ids):
            deleted, lines = deleted + batch_runs, lines + batch_lines
        return deleted, lines

    async def mark_all_disconnected(self, now: datetime) -> None:
        """When a server starts leading, no worker is connected to it; the ones connected to the
        previous leader were seen until ``now`` (their lost-after time counts from here)."""
        async with self._engine.begin() as conn:
            connected = workers.c.connected.is_(True)
            await conn.execute(update(workers).where(connected).values(connected=False, last_seen=now))

    async def workers(self) -> list[WorkerRecord]:
        """Every worker ever seen, by name."""
        async with self._reader.connect() as conn:
            rows = await conn.execute(select(workers).order_by(workers.c.name))
            return [
                WorkerRecord(
                    name=r.name,
                    connected=r.connected,
                    version=r.version,
                    host=r.host,
                    first_seen=r.first_seen,
                    last_seen=r.last_seen,
                )
                for r in rows
            ]

    # -- runs ------------------------------------------------------------------------------

    async def claim(self, claims: Sequence[Claim]) -> list[RunRecord]:
        """Insert run rows for slots; returns the ones inserted (a claimed slot is skipped).

        The UNIQUE (schedule, worker, slot, attempt) constraint makes this the point where a
        slot is decided: whoever inserts the row dispatches it, nobody else can.
        """
        if not claims:
            return []
        now = datetime.now(UTC)
        values = [_claim_values(claim, now) for claim in claims]
        statement = insert_ignoring_duplicates(runs, self._dialect)
        rows: list[Any] = []
        async with self._engine.begin() as conn:
            if self._dialect == "mysql":
                await conn.execute(statement, values)
                for uuids in _batches([v["uuid"] for v in values]):
                    rows += (await conn.execute(select(runs).where(runs.c.uuid.in_(uuids)))).all()
            else:
                rows += (await conn.execute(statement.returning(*runs.c), values)).all()
        claimed = sorted((_run(row) for row in rows), key=lambda r: r.id)
        self.ended.update((run.state.value, run.reason or "") for run in claimed if run.state in FINAL_STATES)
        return claimed

    async def release(self, run_ids: Sequence[int]) -> None:
        """Delete claimed runs that were never dispatched (their schedule changed before the slot)."""
        async with self._engine.begin() as conn:
            for batch in _batches(run_ids):
                await conn.execute(delete(runs).where(_pending(batch)))

    async def unretried(self, states: Sequence[RunState], since: datetime) -> list[RunRecord]:
        """Runs in ``states`` that ended after ``since`` and have no later attempt of their slot:
        the retries a leader that stopped still owed (the next leader plans them again)."""
        later = runs.alias("later")
        newer = exists().where(
            later.c.schedule == runs.c.schedule,
            later.c.worker == runs.c.worker,
            later.c.slot == runs.c.slot,
            later.c.attempt > runs.c.attempt,
        )
        query = select(runs).where(runs.c.state.in_([s.value for s in states]), runs.c.finished_at >= since, ~newer)
        async with self._reader.connect() as conn:
            return [_run(row) for row in await conn.execute(query)]

    async def unsent(self, claims: Sequence[Claim]) -> list[RunRecord]:
        """The runs of ``claims`` that exist but were never sent (still pending): claimed by a
        leader (or an earlier process) that stopped before their slot; the caller adopts them."""
        if not claims:
            return []
        keys = [
            and_(
                runs.c.schedule == c.schedule,
                runs.c.worker == c.worker,
                runs.c.slot == c.slot,
                runs.c.attempt == c.attempt,
            )
            for c in claims
        ]
        query = select(runs).where(or_(*keys), runs.c.state == RunState.PENDING.value, runs.c.trigger == "schedule")
        async with self._engine.connect() as conn:
            return [_run(row) for row in await conn.execute(query)]

    async def reconcile(self, worker: str, known: Sequence[int], unaccepted: set[int]) -> tuple[int, int]:
        """Settle ``worker``'s runs at its hello, given the runs it still ``known``s.

        A dispatched or running run it does not know is ``lost`` (its outbox is gone, or the
        run was never its own); a run sent to it that it never accepted is ``missed``.
        Returns (lost, missed).
        """
        active = (RunState.DISPATCHED.value, RunState.RUNNING.value)
        query = select(runs.c.id, runs.c.worker).where(runs.c.state.in_(active))  # state index only: see going()
        async with self._engine.begin() as conn:
            gone = {run_id for run_id, owner in await conn.execute(query) if owner == worker}.difference(known)
            lost = await _settle(conn, gone, active, RunState.LOST, _NO_LONGER_HAS)
            never = unaccepted.difference(known)
            missed = await _settle(conn, never, (RunState.PENDING.value,), RunState.MISSED, _NOT_RECEIVED)
        self.ended.update({(RunState.LOST.value, _NO_LONGER_HAS): lost, (RunState.MISSED.value, _NOT_RECEIVED): missed})
        return lost, missed

    async def lose_absent(self, cutoff: datetime) -> int:
        """Settle the runs of workers not seen since ``cutoff``: running ones become ``lost``,
        ones still waiting for their worker's accept ``missed``. Returns how many."""
        absent = select(workers.c.name).where(workers.c.connected.is_(False), workers.c.last_seen < cutoff)
        now = datetime.now(UTC)
        active = (RunState.DISPATCHED.value, RunState.RUNNING.value)
        async with self._engine.begin() as conn:
            lost = await conn.execute(
                update(runs)
                .where(runs.c.worker.in_(absent), runs.c.state.in_(active))
                .values(state=RunState.LOST.value, reason=Reason.WORKER_GONE.value, finished_at=now)
            )
            missed = await conn.execute(
                update(runs)
                .where(runs.c.worker.in_(absent), runs.c.state == RunState.PENDING.value, runs.c.slot < cutoff)
                .values(state=RunState.MISSED.value, reason=Reason.WORKER_OFFLINE.value, finished_at=now)
            )
        self.ended[(RunState.LOST.value, Reason.WORKER_GONE.value)] += int(lost.rowcount)
        self.ended[(RunState.MISSED.value, Reason.WORKER_OFFLINE.value)] += int(missed.rowcount)
        return int(lost.rowcount) + int(missed.rowcount)

    async def server_down(self, now: datetime, *, spare: Sequence[str] = ()) -> int:
        """At start-up: claimed runs whose slot passed while no server ran become ``missed``
        (but those of the workers in ``spare``, which settle their own: the RQ bridge).

        A worker that did receive one reports it later, and its result replaces this.
        """
        values = {"state": RunState.MISSED.value, "reason": Reason.SERVER_DOWN.value, "finished_at": now}
        where = and_(runs.c.state == RunState.PENDING.value, runs.c.slot <= now, runs.c.worker.not_in(spare))
        async with self._engine.begin() as conn:
            missed = int((await conn.execute(update(runs).where(where).values(**values))).rowcount)
        self.ended[(RunState.MISSED.value, Reason.SERVER_DOWN.value)] += missed
        return missed

    async def last_slots(self) -> dict[tuple[str, str], datetime]:
        """Per (worker, schedule), the time up to which its slots are handled: the latest slot
        with a scheduled run, or its resume if later (the paused stretch is not caught up)."""
        query = (
            select(runs.c.worker, runs.c.schedule, func.max(runs.c.slot))
            .where(runs.c.trigger == "schedule")
            .group_by(runs.c.worker, runs.c.schedule)
        )
        async with self._reader.connect() as conn:
            last = {(w, name): slot for w, name, slot in await conn.execute(query)}
            states = select(schedule_state).where(schedule_state.c.paused.is_(False))
            for row in await conn.execute(states):
                if (row.worker, row.name) in last:
                    last[(row.worker, row.name)] = max(last[(row.worker, row.name)], row.changed_at)
        return last

    async def set_paused(self, worker: str, name: str, paused: bool) -> None:
        """Record that an operator paused (or resumed) a schedule, now."""
        where = and_(schedule_state.c.worker == worker, schedule_state.c.name == name)
        async with self._engine.begin() as conn:
            await conn.execute(delete(schedule_state).where(where))
            await conn.execute(
                schedule_state.insert().values(worker=worker, name=name, paused=paused, changed_at=datetime.now(UTC))
            )

    async def paused(self) -> set[tuple[str, str]]:
        """The (worker, schedule) pairs an operator has paused."""
        query = select(schedule_state.c.worker, schedule_state.c.name).where(schedule_state.c.paused.is_(True))
        async with self._reader.connect() as conn:
            return {(w, name) for w, name in await conn.execute(query)}

    async def miss(self, run_ids: Sequence[int], reason: Reason) -> None:
        """Record claimed runs that could not be dispatched as ``missed`` with ``reason``."""
        await self.settle_pending(run_ids, RunState.MISSED, reason)

    async def settle_pending(self, run_ids: Sequence[int], state: RunState, reason: Reason) -> None:
        """Give claimed runs that were never sent their final ``state`` and ``reason``."""
        if run_ids:
            async with self._engine.begin() as conn:
                settled = await _settle(conn, set(run_ids), (RunState.PENDING.value,), state, reason)
            self.ended[(state.value, reason.value)] += settled

    async def going(self, workers: Sequence[str], exclude: set[int]) -> dict[tuple[str, str], list[int]]:
        """Runs of ``workers`` sent and not ended, by (worker, schedule), leaving out ``exclude``.

        Pending runs whose slot has come count: they were sent (or are being recorded as missed).
        """
        now = datetime.now(UTC)
        states = [RunState.PENDING.value, RunState.DISPATCHED.value, RunState.RUNNING.value]
        # Only a plain IN on state, so that the (state, finished_at) index is used and only the few
        # unfinished rows are read (a worker filter made SQLite walk the worker's whole history).
        # The slot is compared in SQL: reading it back would convert every row's time (a burst of
        # thousands of claims is thousands of rows here).
        query = select(runs.c.id, runs.c.worker, runs.c.schedule).where(
            runs.c.state.in_(states), or_(runs.c.state != RunState.PENDING.value, runs.c.slot <= now)
        )
        wanted = set(workers)
        found: dict[tuple[str, str], list[int]] = {}
        async with self._reader.connect() as conn:
            for run_id, worker, schedule in await conn.execute(query):
                if worker in wanted and run_id not in exclude:
                    found.setdefault((worker, schedule), []).append(run_id)
        return found

    async def apply(self, batch: Batch) -> None:
        """Apply worker events in one transaction. Idempotent: resent events change nothing."""
        async with self._engine.begin() as conn:
            if batch.accepted:
                await conn.execute(
                    _ACCEPT, [{"b_id": a["run_id"], "b_at": a["at"], "b_s": a["session"]} for a in batch.accepted]
                )
            if batch.started:
                await conn.execute(_START, [{"b_id": s["run_id"], "b_at": s["at"]} for s in batch.started])
            if batch.lines:
                await conn.exec_driver_sql(self._insert_lines.sql, self._line_rows(batch.lines))
            if batch.finished:
                await conn.execute(_FINISH, [{f"b_{k}": v for k, v in f.items()} for f in batch.finished])
            if batch.program_events:
                await conn.execute(insert(program_events), [_event_row(event) for event in batch.program_events])
        self._count_results(batch)

    def _count_results(self, batch: Batch) -> None:
        for result in batch.finished:
            seen = (result["state"], result["finished_at"])
            if self._results.get(result["run_id"]) == seen:
                continue  # resent
            self._results[result["run_id"]] = seen
            self.ended[(result["state"], result["reason"] or "")] += 1
        while len(self._results) > _RESULTS_KEPT:
            self._results.popitem(last=False)

    def _line_rows(self, chunks: Sequence[LineChunk]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for run_id, seq, stream, ts, texts, flags in chunks:
            stamp = self._insert_lines.bind("ts", ts)
            rows.extend(zip(repeat(run_id), count(seq), repeat(stream), repeat(stamp), texts, flags or repeat(0)))
        return rows

    async def attempts(self, worker: str, schedule: str, slots: Sequence[datetime]) -> dict[datetime, int]:
        """The highest attempt of each of ``slots`` that has runs; -1 for a slot that needs no
        more: one of its runs succeeded or is still going."""
        if not slots:
            return {}
        settled = (RunState.SUCCEEDED.value, RunState.PENDING.value, RunState.DISPATCHED.value, RunState.RUNNING.value)
        query = select(runs.c.slot, runs.c.attempt, runs.c.state).where(
            runs.c.worker == worker, runs.c.schedule == schedule, runs.c.slot.between(min(slots), max(slots))
        )
        found: dict[datetime, int] = {}
        async with self._reader.connect() as conn:
            for slot, attempt, state in await conn.execute(query):
                done = state in settled or found.get(slot) == -1
                found[slot] = -1 if done else max(found.get(slot, 0), attempt)
        return found

    async def run_workers(self, run_ids: Iterable[int]) -> dict[int, str]:
        """The worker each of ``run_ids`` belongs to (unknown ids are left out)."""
        found: dict[int, str] = {}
        async with self._reader.connect() as conn:
            for batch in _batches(list(run_ids)):
                found.update((await conn.execute(select(runs.c.id, runs.c.worker).where(runs.c.id.in_(batch)))).all())
        return found

    async def runs_by_id(self, run_ids: Sequence[int]) -> list[RunRecord]:
        """The runs with these ids, by id."""
        found: list[RunRecord] = []
        async with self._reader.connect() as conn:
            for batch in _batches(sorted(run_ids)):
                found += [_run(row) for row in await conn.execute(select(runs).where(runs.c.id.in_(batch)))]
        return sorted(found, key=lambda run: run.id)

    async def run(self, run_id: int) -> RunRecord | None:
        """One run by id."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(select(runs).where(runs.c.id == run_id))).first()
            return None if row is None else _run(row)

    async def runs(
        self,
        *,
        schedule: str | None = None,
        worker: str | None = None,
        states: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """The newest runs first (by slot, then id), filtered; ``before``: only runs after that
        one in this order (the next page), or none if there is no such run.

        With ``states``, one query per state, merged: each walks the (state, slot) index from
        the newest and stops at ``limit`` (an IN over the states made SQLite sort them all).
        """
        query = select(runs).order_by(runs.c.slot.desc(), runs.c.id.desc()).limit(limit)
        if schedule is not None:
            query = query.where(runs.c.schedule == schedule)
        if worker is not None:
            query = query.where(runs.c.worker == worker)
        if since is not None:
            query = query.where(runs.c.slot >= since)
        if until is not None:
            query = query.where(runs.c.slot <= until)
        found: list[RunRecord] = []
        async with self._reader.connect() as conn:
            if before is not None:
                cursor = (await conn.execute(select(runs.c.slot).where(runs.c.id == before))).scalar()
                if cursor is None:
                    return []
                query = query.where(runs.c.slot <= cursor, or_(runs.c.slot < cursor, runs.c.id < before))
            for each in [query.where(runs.c.state == state) for state in states] or [query]:
                found.extend(_run(row) for row in await conn.execute(each))
        found.sort(key=lambda r: (r.slot, r.id), reverse=True)
        return found[:limit]

    async def unfinished(self) -> dict[str, int]:
        """How many runs are pending, dispatched and running (the state index: they are few)."""
        states = [RunState.PENDING.value, RunState.DISPATCHED.value, RunState.RUNNING.value]
        query = select(runs.c.state, func.count()).where(runs.c.state.in_(states)).group_by(runs.c.state)
        async with self._reader.connect() as conn:
            found = {state: int(n) for state, n in await conn.execute(query)}
        return {state: found.get(state, 0) for state in states}

    async def ended_since(self, states: Sequence[str], since: datetime, limit: int) -> list[RunRecord]:
        """Runs in ``states`` that ended after ``since``, oldest end first (the (state,
        finished_at) index, one query per state)."""
        found: list[RunRecord] = []
        async with self._reader.connect() as conn:
            for state in states:
                query = (
                    select(runs)
                    .where(runs.c.state == state, runs.c.finished_at > since)
                    .order_by(runs.c.finished_at)
                    .limit(limit)
                )
                found.extend(_run(row) for row in await conn.execute(query))
        return sorted(found, key=lambda r: (r.finished_at or since, r.id))[:limit]

    async def unfinished_runs(self) -> list[RunRecord]:
        """The runs pending, dispatched or running (few: the state index)."""
        states = [RunState.PENDING.value, RunState.DISPATCHED.value, RunState.RUNNING.value]
        async with self._reader.connect() as conn:
            return [_run(row) for row in await conn.execute(select(runs).where(runs.c.state.in_(states)))]

    async def program_events_after(self, after: int, states: Sequence[str], limit: int) -> list[ProgramEvent]:
        """Program events with an id past ``after`` into one of ``states``, oldest first."""
        query = (
            select(program_events)
            .where(program_events.c.id > after, program_events.c.state.in_(list(states)))
            .order_by(program_events.c.id)
            .limit(limit)
        )
        async with self._reader.connect() as conn:
            return [ProgramEvent(**row._asdict()) for row in await conn.execute(query)]

    async def last_program_event(self) -> int:
        """The newest program event's id (0: none)."""
        async with self._reader.connect() as conn:
            return int((await conn.execute(select(func.max(program_events.c.id)))).scalar() or 0)

    async def recent_runs(self, schedules: Sequence[tuple[str, str]], per: int) -> list[list[RunRecord]]:
        """The newest ``per`` runs of each (worker, schedule), newest first."""
        found = await self._newest(schedules, per, (runs,))
        return [[_run(row) for row in found[pair]] for pair in schedules]

    async def recent_slots(
        self, schedules: Sequence[tuple[str, str]], per: int
    ) -> list[list[tuple[int, datetime, str, str | None, float | None]]]:
        """As :meth:`recent_runs`, only (id, slot, state, reason, seconds run) of each: what a
        page of schedules shows, without the rest of 3,000 runs to read and build."""
        wanted = (runs.c.id, runs.c.worker, runs.c.schedule, runs.c.slot, runs.c.state, runs.c.reason,
                  runs.c.started_at, runs.c.finished_at)  # fmt: skip
        found = await self._newest(schedules, per, wanted)
        return [[(r.id, r.slot, r.state, r.reason, _lasted(r.started_at, r.finished_at)) for r in found[pair]]
                for pair in schedules]  # fmt: skip

    async def _newest(
        self, schedules: Sequence[tuple[str, str]], per: int, columns: Sequence[Any]
    ) -> dict[tuple[str, str], list[Row[Any]]]:
        """``columns`` of the newest ``per`` runs of each (worker, schedule), newest first: one
        indexed LIMIT query each, sent to the database as one UNION ALL per hundred (one round
        trip; a window function over all runs would read them all)."""
        found: dict[tuple[str, str], list[Row[Any]]] = {pair: [] for pair in schedules}
        pairs = list(found)
        async with self._reader.connect() as conn:
            for start in range(0, len(pairs), _RECENT_AT_ONCE):
                parts = [
                    select(*columns)
                    .where(runs.c.worker == worker, runs.c.schedule == schedule)
                    .order_by(runs.c.slot.desc(), runs.c.id.desc())
                    .limit(per)
                    .subquery()
                    .select()
                    for worker, schedule in pairs[start : start + _RECENT_AT_ONCE]
                ]
                for row in await conn.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
                    found[(row.worker, row.schedule)].append(row)
        for listed in found.values():
            listed.sort(key=lambda r: (r.slot, r.id), reverse=True)
        return found

    async def slot_counts(self, since: datetime, until: datetime) -> list[tuple[str, int, str, int]]:
        """(worker, minute, state, runs) of the runs whose slot is in [since, until), ``minute``
        counted from ``since``: counted by the database along the slot index, so a timeline
        costs one grouped scan of its window, never the rows themselves."""
        minute = _minutes_from(self._dialect, since).label("minute")
        query = (
            select(runs.c.worker, minute, runs.c.state, func.count())
            .where(runs.c.slot >= since, runs.c.slot < until)
            .group_by(runs.c.worker, minute, runs.c.state)
        )
        async with self._reader.connect() as conn:
            return [(w, int(m), state, int(n)) for w, m, state, n in await conn.execute(query)]

    async def failed(self, limit: int = 1000, before: int | None = None) -> list[RunRecord]:
        """Runs that failed, timed out or were lost, newest first."""
        return await self.runs(states=sorted(FAILED_STATES), limit=limit, before=before)

    async def output(self, run_id: int, *, after: int = 0, limit: int = 100_000) -> list[OutputLine]:
        """A run's lines with ``seq > after``, in seq order."""
        query = (
            select(run_output.c.seq, run_output.c.stream, run_output.c.ts, run_output.c.data, run_output.c.flags)
            .where(run_output.c.run_id == run_id, run_output.c.seq > after)
            .order_by(run_output.c.seq)
            .limit(limit)
        )
        async with self._reader.connect() as conn:
            return [
                OutputLine(
                    seq=r.seq,
                    stream=r.stream,
                    ts=r.ts,
                    data=r.data,
                    continues=bool(r.flags & CONTINUES),
                    escaped=bool(r.flags & ESCAPED),
                )
                for r in await conn.execute(query)
            ]

    async def latest_successes(self, worker: str) -> list[RunRecord]:
        """The newest succeeded run of each schedule of ``worker``, newest first."""
        newest = (
            select(func.max(runs.c.id).label("id"))
            .where(runs.c.worker == worker, runs.c.state == RunState.SUCCEEDED.value)
            .group_by(runs.c.schedule)
            .subquery()
        )
        query = select(runs).join(newest, runs.c.id == newest.c.id).order_by(runs.c.finished_at.desc())
        async with self._reader.connect() as conn:
            return [_run(row) for row in await conn.execute(query)]

    async def schedule_names(self, worker: str) -> list[str]:
        """Names of the schedules that have runs on ``worker`` (barto's ``list -n``)."""
        query = select(runs.c.schedule).where(runs.c.worker == worker).distinct().order_by(runs.c.schedule)
        async with self._reader.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def expired(self, policy: Retention, now: datetime) -> list[int]:
        """Ids of the runs the retention ``policy`` says to delete (see :mod:`barto.store.retention`)."""
        async with self._reader.connect() as conn:
            return await expired(conn, policy, now)

    async def delete_runs(self, run_ids: Sequence[int]) -> AsyncIterator[tuple[int, int]]:
        """Delete runs and their output in batches, yielding (runs, output lines) after each.

        Batches keep each write transaction short, so ingest is never locked out for long.
        """
        for start in range(0, len(run_ids), _CLEANUP_BATCH):
            ids = list(run_ids[start : start + _CLEANUP_BATCH])
            async with self._engine.begin() as conn:
                lines = (await conn.execute(delete(run_output).where(run_output.c.run_id.in_(ids)))).rowcount
                deleted = (await conn.execute(delete(runs).where(runs.c.id.in_(ids)))).rowcount
            yield int(deleted), int(lines)

    async def program_events(self, worker: str | None, name: str | None, limit: int) -> list[ProgramEvent]:
        """The newest ``limit`` state changes of supervised processes (of ``worker``, of program
        or process ``name``), oldest first."""
        query = select(program_events).order_by(program_events.c.at.desc(), program_events.c.id.desc()).limit(limit)
        if worker is not None:
            query = query.where(program_events.c.worker == worker)
        if name is not None:
            query = query.where(or_(program_events.c.name == name, program_events.c.program == name))
        async with self._reader.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [ProgramEvent(**row) for row in reversed(rows)]

    async def forget_program_events(self, before: datetime) -> int:
        """Delete program state changes older than ``before``; how many went."""
        async with self._engine.begin() as conn:
            return int((await conn.execute(delete(program_events).where(program_events.c.at < before))).rowcount)

    async def query(self, sql: str, *, limit: int = 10_000, seconds: float = 10.0) -> QueryRows:
        """Run one statement read-only, as barto.store.query says, within ``seconds`` and
        ``limit`` rows.

        Raises:
            BartoError: Invalid (refused or failed), TimedOut, Unavailable.
        """
        return await self._queries.query(sql, max_rows=limit, seconds=seconds)


_ACCEPT = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.state == RunState.PENDING.value)
    .values(state=RunState.DISPATCHED.value, dispatched_at=bindparam("b_at"), session=bindparam("b_s"))
)
_START = (
    update(runs)
    # IN (...) cannot be used with executemany, hence the OR.
    .where(
        runs.c.id == bindparam("b_id"),
        or_(runs.c.state == RunState.PENDING.value, runs.c.state == RunState.DISPATCHED.value),
    )
    .values(state=RunState.RUNNING.value, started_at=bindparam("b_at"))
)
_STORED_LINES = select(func.max(run_output.c.seq)).where(run_output.c.run_id == runs.c.id).scalar_subquery()
_FINISH = (
    update(runs)
    .where(runs.c.id == bindparam("b_run_id"))
    .values(
        state=bindparam("b_state"),
        reason=bindparam("b_reason"),
        exit_code=bindparam("b_exit_code"),
        signal=bindparam("b_signal"),
        lines=func.coalesce(bindparam("b_lines", type_=runs.c.lines.type), _STORED_LINES, 0),
        started_at=func.coalesce(runs.c.started_at, bindparam("b_started_at", type_=runs.c.started_at.type)),
        finished_at=bindparam("b_finished_at"),
    )
)


async def _settle(conn: AsyncConnection, ids: set[int], states: Sequence[str], state: RunState, reason: str) -> int:
    """Give runs ``ids`` still in one of ``states`` their final ``state``; returns how many."""
    count = 0
    values = {"state": state.value, "reason": reason, "finished_at": datetime.now(UTC)}
    for chunk in _batches(sorted(ids)):
        where = and_(runs.c.id.in_(chunk), runs.c.state.in_(list(states)))
        count += int((await conn.execute(update(runs).where(where).values(**values))).rowcount)
    return count


def _minutes_from(dialect: str, since: datetime) -> ColumnElement[Any]:
    """Whole minutes from ``since`` to a run's slot, in the database's own words."""
    start = literal(since, UtcDateTime())
    if dialect == "sqlite":  # times are ISO text there; %s gives whole seconds
        return cast((cast(func.strftime("%s", runs.c.slot), Integer) - cast(func.strftime("%s", start), Integer)) / 60,
                    Integer)  # fmt: skip
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", runs.c.slot - start) / 60), Integer)
    return func.timestampdiff(text("MINUTE"), start, runs.c.slot)


def _event_row(event: ProgramEvent) -> dict[str, Any]:
    """A program event's columns (its id is the database's to give)."""
    row = msgspec.structs.asdict(event)
    del row["id"]
    return row


def _api_schedule(worker: str, name: str) -> ColumnElement[bool]:
    return and_(schedules.c.worker == worker, schedules.c.name == name, schedules.c.source == "api")


def _batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """``items`` in slices of :data:`PARAMETERS_MAX`: no statement carries an unbounded list
    (SQLite refuses more than 32,766 variables, PostgreSQL 65,535, and the time a statement
    holds its locks grows with it)."""
    for start in range(0, len(items), PARAMETERS_MAX):
        yield items[start : start + PARAMETERS_MAX]


def _pending(run_ids: Sequence[int]) -> ColumnElement[bool]:
    """Those of ``run_ids`` still pending: claimed, never accepted by a worker."""
    return and_(runs.c.id.in_(list(run_ids)), runs.c.state == RunState.PENDING.value)


def _claim_values(claim: Claim, now: datetime) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "schedule": claim.schedule,
        "worker": claim.worker,
        "slot": claim.slot,
        "attempt": claim.attempt,
        "trigger": claim.trigger,
        "state": claim.state.value,
        "reason": claim.reason,
        "lines": 0,
        "created_at": now,
        "finished_at": now if claim.state in (RunState.MISSED, RunState.SKIPPED) else None,
    }


def _schedule_values(row: ScheduleRow) -> dict[str, Any]:
    return {
        "worker": row.worker,
        "name": row.name,
        "calendar": row.calendar,
        "timezone": row.timezone,
        "cmds": row.cmds,
        "env": row.env,
        "cwd": row.cwd,
        "timeout_seconds": row.timeout_seconds,
        "enabled": row.enabled,
        "source": row.source,
    }


def _lasted(started: datetime | None, finished: datetime | None) -> float | None:
    """Seconds from start to end (None: it has not both started and ended)."""
    return (finished - started).total_seconds() if started and finished else None
