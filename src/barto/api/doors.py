"""The REST API's routes, as data: which method and path serve which operation, and where its
fields come from. The server's REST door serves them (barto.server.http); barto-cli's mount
calls any operation by them, so that no client spells a path of its own.

Path fields come from the path, the others from the query string (GET, DELETE) or the JSON body
(POST); ``body`` names a field that takes the whole body instead. ``stream`` is the operation
served when the query string holds ``<flag>=1`` (the answer is then NDJSON, one item a line).
Nothing here decides who may call what: the operation declares its role.
"""

from __future__ import annotations

from dataclasses import dataclass

from barto.api import operations as ops
from barto.api.operations import Operation


@dataclass(frozen=True)
class Door:
    """One route of the REST API."""

    method: str
    path: str
    operation: Operation
    status: int = 200
    body: str | None = None
    stream: Operation | None = None
    flag: str = "follow"
    query: tuple[str, ...] = ()  # POST fields read from the query string instead of the body


_SCHEDULE = "/v1/schedules/{worker}/{name}"

DOORS = [
    Door("GET", "/healthz", ops.HEALTH),
    Door("GET", "/v1/info", ops.INFO),
    Door("GET", "/v1/clients", ops.CLIENTS),
    Door("DELETE", "/v1/clients/{worker}", ops.FORGET),
    Door("GET", "/v1/schedules", ops.SCHEDULES),
    Door("GET", "/v1/overview", ops.OVERVIEW),
    Door("GET", _SCHEDULE, ops.DETAIL),
    Door("GET", "/v1/timeline", ops.TIMELINE),
    Door("POST", "/v1/schedules/{worker}", ops.ADD, status=201, body="schedule", query=("replace",)),
    Door("DELETE", "/v1/schedules/{worker}/{name:path}", ops.REMOVE),  # a grandfathered name may hold "/"
    Door("POST", f"{_SCHEDULE}/enable", ops.ENABLE),
    Door("POST", f"{_SCHEDULE}/disable", ops.DISABLE),
    Door("POST", f"{_SCHEDULE}/cmds", ops.COMMANDS),
    Door("POST", f"{_SCHEDULE}/run", ops.RUN_NOW, status=201),
    Door("POST", f"{_SCHEDULE}/backfill", ops.BACKFILL, status=201),
    Door("POST", f"{_SCHEDULE}/pause", ops.PAUSE),
    Door("POST", f"{_SCHEDULE}/resume", ops.RESUME),
    Door("GET", "/v1/runs", ops.RUNS),
    Door("GET", "/v1/runs/{run_id}", ops.RUN),
    Door("GET", "/v1/runs/{run_id}/output", ops.OUTPUT, stream=ops.FOLLOW),
    Door("POST", "/v1/runs/{run_id}/cancel", ops.CANCEL, status=202),
    Door("GET", "/v1/failed", ops.FAILED),
    Door("GET", "/v1/workers/{worker}/schedules", ops.WORKER_SCHEDULES),
    Door("GET", "/v1/workers/{worker}/updates", ops.UPDATES),
    Door("POST", "/v1/cleanup", ops.CLEANUP, stream=ops.CLEANUP_PROGRESS, flag="progress"),
    Door("POST", "/v1/query", ops.QUERY),
    Door("GET", "/v1/metrics", ops.METRICS),
    Door("GET", "/v1/rq/queues", ops.RQ_QUEUES),
    Door("GET", "/v1/rq/jobs", ops.RQ_JOBS),
    Door("GET", "/v1/btu", ops.BTU_STATUS),
    Door("POST", "/v1/btu/refresh", ops.BTU_REFRESH),
    Door("POST", "/v1/btu/schedules/{name}/cancel", ops.BTU_CANCEL),
    Door("POST", "/v1/btu/tasks/{name}/queue", ops.BTU_QUEUE_TASK, status=201),
    Door("GET", "/v1/alerts", ops.ALERTS),
    Door("POST", "/v1/alerts/{name}/test", ops.ALERT_TEST),
    Door("GET", "/v1/programs", ops.PROGRAMS),
    Door("GET", "/v1/programs/events", ops.EVENTS),
    Door("GET", "/v1/workers/{worker}/programs/{name}/tail", ops.TAIL, stream=ops.TAIL_FOLLOW),
    *(Door("POST", f"/v1/workers/{{worker}}/ctl/{command}", op) for command, op in ops.CONTROL.items()),
]

BY_OPERATION = {door.operation.name: door for door in DOORS}
