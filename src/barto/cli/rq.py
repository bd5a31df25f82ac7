"""``barto-cli rq``: the RQ queues the schedules of ``@rq`` enqueue into, with their jobs by
state; ``rq runs`` the recent runs of those schedules; ``rq jobs`` RQ's jobs (docs/rq.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from barto.api.answers import RqJob, RqQueue
from barto.cli import options, render
from barto.cli.options import Json
from barto.model import RunRecord
from barto.rules import RQ_WORKER
from barto.typer_flags import app as typer_app

app = typer_app(help="RQ queues and the runs of RQ schedules.")
STATES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")
COLUMNS = ("redis", "queue", "queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")


@app.callback(invoke_without_command=True)
def queues(ctx: typer.Context, as_json: Json = False) -> None:
    """List the queues of every [redis.<name>] with their jobs: waiting, and in each RQ registry."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get("/v1/rq/queues", list[RqQueue])
    if as_json:
        render.emit_json(data)
        return
    rows = [[getattr(q, column) for column in COLUMNS] for q in data]
    render.show(render.table(None, COLUMNS, rows), f"Total queues: {len(data)}")


@app.command()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="Runs to show.")] = 50,
    as_json: Json = False,
) -> None:
    """The newest runs of the RQ schedules (those of @rq), as `barto-cli runs -w @rq`."""
    data = options.client(ctx).get("/v1/runs", list[RunRecord], worker=RQ_WORKER, limit=limit)
    if as_json:
        render.emit_json(data)
        return
    columns = ("id", "schedule", "slot", "state", "reason", "exit_code")
    render.show(render.table(None, columns, [[getattr(run, c) for c in columns] for run in data]))


@app.command()
def jobs(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option("--state", "-s", help="queued, started, finished, failed, deferred, scheduled or canceled."),
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue.")] = None,
    redis: Annotated[str | None, typer.Option("--redis", help="Only this [redis.<name>].")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="Jobs to show.")] = 100,
    as_json: Json = False,
) -> None:
    """RQ's jobs by queue and state, every job barto enqueued or not (BTU's `list-jobs`)."""
    params = {"state": state, "queue": queue, "redis": redis, "limit": limit}
    data = options.client(ctx).get("/v1/rq/jobs", list[RqJob], **params)
    if as_json:
        render.emit_json(data)
        return
    columns = ("redis", "queue", "state", "id", "func", "enqueued_at", "ended_at")
    render.show(render.table(None, columns, [[getattr(job, c) for c in columns] for job in data]))
