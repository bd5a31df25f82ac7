"""The server's metrics, for ``/metrics`` (docs/metrics.md): the store's counts of ended runs,
gauges read now (workers, schedules, unfinished runs, leadership, programs) and the histograms
the server keeps as it works (barto.server.telemetry)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from prometheus_client.metrics_core import Metric

import barto
from barto.api import answers as a
from barto.api import operations as ops
from barto.api import requests as r
from barto.server.operations._impl import implements
from barto.server.operations._parts import Parts


@implements(ops.METRICS)
async def metrics(parts: Parts, _: r.Nothing) -> a.Metrics:
    """Every metric of this server, now."""
    families = [
        _counter("barto_runs", "Runs that reached a final state in this process, by state and reason",
                 [({"state": s, "reason": why}, n) for (s, why), n in sorted(parts.store.ended.items()) if n]),
        *await _gauges(parts),
        *_histograms(parts),
    ]  # fmt: skip
    return a.Metrics(families=families)


async def _gauges(parts: Parts) -> list[a.Family]:
    scheduler = parts.term().scheduler
    schedules = Counter((s.source, str(s.paused).lower()) for s in scheduler.records())
    programs = Counter((p["worker"], p["state"]) for p in parts.fleet.listing(None))
    lease = parts.leadership.seen
    now = datetime.now(UTC)
    lease_age = (now - lease.acquired_at).total_seconds() if lease and lease.holder else 0.0
    unfinished = await parts.store.unfinished()
    return [
        _gauge("barto_build_info", "This bartos's version (always 1)", [({"version": barto.__version__}, 1)]),
        _gauge("barto_leader", "1 while this instance leads the scheduler", [({}, int(parts.leading()))]),
        _gauge("barto_lease_age_seconds", "How long the current leader has held the lease", [({}, lease_age)]),
        _gauge("barto_workers_connected", "Workers connected to this instance", [({}, len(parts.hub.sessions()))]),
        _gauge("barto_schedules", "Live schedules, by source and whether paused",
               [({"source": src, "paused": paused}, n) for (src, paused), n in sorted(schedules.items())]),
        _gauge("barto_runs_unfinished", "Runs pending, dispatched or running, in the store",
               [({"state": state}, n) for state, n in unfinished.items()]),
        _gauge("barto_runs_held", "Claimed runs held for a worker not connected yet", [({}, scheduler.held())]),
        _gauge("barto_outbox_backlog", "Events a worker has not had acknowledged, at its last heartbeat",
               [({"worker": s.name}, s.backlog) for s in parts.hub.sessions() if s.backlog is not None]),
        _gauge("barto_programs", "Supervised processes, by worker and state (as last reported)",
               [({"worker": w, "state": st}, n) for (w, st), n in sorted(programs.items())]),
    ]  # fmt: skip


def _histograms(parts: Parts) -> list[a.Family]:
    return [_family(metric) for metric in parts.telemetry.registry.collect()]


def _family(metric: Metric) -> a.Family:
    samples = [a.Sample(name=s.name, labels=dict(s.labels), value=s.value) for s in metric.samples
               if not s.name.endswith("_created")]  # fmt: skip
    return a.Family(name=metric.name, kind="histogram", help=metric.documentation, samples=samples)


def _counter(name: str, help_: str, values: list[tuple[dict[str, str], float]]) -> a.Family:
    samples = [a.Sample(name=f"{name}_total", labels=labels, value=value) for labels, value in values]
    return a.Family(name=name, kind="counter", help=help_, samples=samples)


def _gauge(name: str, help_: str, values: list[tuple[dict[str, str], float]]) -> a.Family:
    samples = [a.Sample(name=name, labels=labels, value=value) for labels, value in values]
    return a.Family(name=name, kind="gauge", help=help_, samples=samples)
