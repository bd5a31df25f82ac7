"""``/openapi.json``: the API description, with schemas generated from the records it returns."""

from __future__ import annotations

from typing import Any

import msgspec

import barto
from barto.config.server import ScheduleDef
from barto.model import OutputLine, ProgramEvent, RunRecord, ScheduleRecord, WorkerRecord
from barto.server.api import BackfillRequest, CleanupRequest, QueryRequest, RunNowRequest
from barto.server.fleet import TailLine
from barto.server.program_api import CtlRequest

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

# path -> method -> (summary, response type or None, request body type or None)
_OPERATIONS: dict[str, dict[str, tuple[str, Any, Any]]] = {
    "/healthz": {"get": ("Liveness probe", None, None)},
    "/v1/info": {"get": ("Server version, uptime, store and counters", None, None)},
    "/v1/clients": {"get": ("Workers seen, and whether connected", list[WorkerRecord], None)},
    "/v1/schedules": {"get": ("Live schedules with next fire times", list[ScheduleRecord], None)},
    "/v1/schedules/{worker}/{name}/run": {"post": ("Run a schedule now (force)", RunRecord, RunNowRequest)},
    "/v1/schedules/{worker}": {"post": ("Add or replace an API schedule", ScheduleRecord, ScheduleDef)},
    "/v1/schedules/{worker}/{name}": {"delete": ("Remove an API schedule", None, None)},
    "/v1/schedules/{worker}/{name}/enable": {"post": ("Let an API schedule fire", ScheduleRecord, None)},
    "/v1/schedules/{worker}/{name}/disable": {"post": ("Stop an API schedule firing", ScheduleRecord, None)},
    "/v1/schedules/{worker}/{name}/pause": {"post": ("Stop firing a schedule", ScheduleRecord, None)},
    "/v1/schedules/{worker}/{name}/resume": {"post": ("Fire a paused schedule again", ScheduleRecord, None)},
    "/v1/schedules/{worker}/{name}/backfill": {
        "post": ("Runs for past slots that did not succeed", list[RunRecord], BackfillRequest)
    },
    "/v1/runs": {"get": ("Runs, newest first (schedule, worker, state, limit)", list[RunRecord], None)},
    "/v1/runs/{run_id}": {"get": ("One run", RunRecord, None)},
    "/v1/runs/{run_id}/output": {"get": ("Output lines (after, follow)", list[OutputLine], None)},
    "/v1/runs/{run_id}/cancel": {"post": ("Stop a run (stop signal, wait, KILL)", RunRecord, None)},
    "/v1/failed": {"get": ("Failed, timed-out and lost runs", list[RunRecord], None)},
    "/v1/workers/{worker}/schedules": {"get": ("Schedules that ran on a worker", list[str], None)},
    "/v1/workers/{worker}/updates": {"get": ("Package updates from the newest successful run (kind)", None, None)},
    "/v1/cleanup": {"post": ("Delete old runs and output", None, CleanupRequest)},
    "/v1/query": {"post": ("One read-only SELECT", None, QueryRequest)},
    "/v1/programs": {"get": ("Supervised processes of every worker (worker)", None, None)},
    "/v1/programs/events": {"get": ("Program state changes (worker, name, limit)", list[ProgramEvent], None)},
    "/v1/workers/{worker}/programs/{name}/tail": {
        "get": ("Recent output of a process (after, limit, follow)", list[TailLine], None)
    },
    "/v1/workers/{worker}/ctl/{command}": {"post": ("A control request relayed to the worker", None, CtlRequest)},
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    types = [t for ops in _OPERATIONS.values() for (_, r, b) in ops.values() for t in (r, b) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    components["Error"] = {"type": "object", "properties": {"error": {"type": "object"}}}
    lookup = dict(zip(types, schemas, strict=True))
    paths = {
        path: {
            method: _operation(path, summary, lookup.get(resp), lookup.get(body))
            for method, (summary, resp, body) in ops.items()
        }
        for path, ops in _OPERATIONS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "bartos", "version": barto.__version__},
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation(path: str, summary: str, response: Any, body: Any) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "success"}
    if response is not None:
        ok["content"] = {"application/json": {"schema": response}}
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok, "4XX": _ERROR}}
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        operation["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
        ]
    if body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return operation
