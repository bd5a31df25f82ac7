"""The ``/metrics`` door: the metrics operation's answer in Prometheus's text format, rendered
by prometheus-client itself. Who may read it is the operation's role (``read``), unless
``[metrics] open = true`` lets a scraper without a token in (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from barto.api import operations as ops
from barto.api import requests as r
from barto.api.answers import Metrics
from barto.errors import BartoError
from barto.server.auth import SCOPE_KEY, Principal
from barto.server.http.adapter import error_response
from barto.server.operations import Core

PATH = "/metrics"
SCRAPER = Principal("metrics", "read")  # who an open /metrics reads as


def routes(core: Core, *, open_to_all: bool) -> list[BaseRoute]:
    """The ``/metrics`` route."""

    async def serve(request: Request) -> Response:
        who: Principal | None = request.scope.get(SCOPE_KEY) or (SCRAPER if open_to_all else None)
        try:
            answer = await core.call(who, ops.METRICS, r.Nothing())
        except BartoError as error:
            return error_response(error)
        return Response(text(answer), headers={"content-type": CONTENT_TYPE_PLAIN_0_0_4})  # every Prometheus reads it

    return [Route(PATH, serve, methods=["GET"])]


def text(answer: Metrics) -> bytes:
    """``answer`` in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(answer))
    return generate_latest(registry)


class _Snapshot(Collector):
    """The families of one answer, as prometheus-client's collector protocol wants them."""

    def __init__(self, answer: Metrics) -> None:
        self._answer = answer

    def collect(self) -> Iterator[Metric]:
        for family in self._answer.families:
            metric = Metric(family.name, family.help, family.kind)
            for sample in family.samples:
                metric.add_sample(sample.name, sample.labels, sample.value)
            yield metric
