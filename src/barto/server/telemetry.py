"""What the server measures as it works, for ``/metrics``: how long runs ran, how late they were
sent after their slot, how long ingest batches and store statements take. One registry per
server process (never prometheus-client's global one, so that two apps in one process, as in
the tests, do not mix). The counts that the store keeps (runs by state) and the gauges read at
scrape time are the metrics operation's (barto.server.operations.maintenance)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Runs last from milliseconds to hours; lateness is milliseconds unless something is wrong.
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)
_LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Telemetry:
    """The histograms of one server process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.run_duration = self._histogram(
            "barto_run_duration_seconds", "How long runs ran (start to end), by the worker's clock", _DURATION_BUCKETS
        )
        self.dispatch_lateness = self._histogram(
            "barto_dispatch_lateness_seconds", "From a run's slot to its dispatch to the worker", _LATENESS_BUCKETS
        )
        self.ingest_batch = self._histogram(
            "barto_ingest_batch_seconds", "Storing one batch of worker events (one transaction)", _FAST_BUCKETS
        )
        self.store_statement = self._histogram(
            "barto_store_statement_seconds", "One statement on the store's database", _FAST_BUCKETS
        )

    def _histogram(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, documentation, buckets=buckets, registry=self.registry)

    def watch(self, engine: AsyncEngine) -> None:
        """Time every statement ``engine`` runs (SQLAlchemy's cursor events: no query is changed)."""
        sync = engine.sync_engine

        def before(conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
            context._barto_started = time.perf_counter()

        def after(conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
            started = getattr(context, "_barto_started", None)
            if started is not None:
                self.store_statement.observe(time.perf_counter() - started)

        event.listen(sync, "before_cursor_execute", before)
        event.listen(sync, "after_cursor_execute", after)
