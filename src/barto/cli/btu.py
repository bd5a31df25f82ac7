"""``barto-cli btu``: BTU's table of schedules as the server read it, read it again, stop one
schedule, enqueue a task now (BTU's ``queue-task-now``); docs/btu.md."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from barto.api.answers import BtuQueued, BtuReport, BtuStatus, Removed
from barto.cli import options, render, rq
from barto.cli.options import Json
from barto.typer_flags import app as typer_app

app = typer_app(help="BTU Scheduler's table of schedules and its tasks.")
app.command("list-jobs", help="RQ's jobs by queue and state (the same as `barto-cli rq jobs`).")(rq.jobs)
Name = Annotated[str, typer.Argument(help="A Task Schedule (TS-000001).")]


@app.callback(invoke_without_command=True)
def status(ctx: typer.Context, as_json: Json = False) -> None:
    """Where [btu] reads, the schedules its table gave, and what its last full refresh did."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get("/v1/btu", BtuStatus)
    if as_json:
        render.emit_json(data)
        return
    rows = [
        ["database", data.database or "(none)"],
        ["socket", data.socket_path],
        ["refresh every", f"{data.refresh_seconds:g} s"],
        ["schedules", " ".join(data.schedules) or "(none)"],
    ]
    render.show(render.table(None, ("", ""), rows))
    if data.last is not None:
        _report(data.last)


@app.command()
def refresh(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this Task Schedule.")] = None,
    as_json: Json = False,
) -> None:
    """Read BTU's table now and apply what changed (exit 1 if a row was skipped)."""
    data = options.client(ctx).post("/v1/btu/refresh", BtuReport, {"schedule": name} if name else {})
    if as_json:
        render.emit_json(data)
    else:
        _report(data)
    if data.skipped:
        raise typer.Exit(1)


@app.command()
def cancel(ctx: typer.Context, name: Name, as_json: Json = False) -> None:
    """Stop one schedule of the table (exactly that name) until the table is read again."""
    data = options.client(ctx).post(f"/v1/btu/schedules/{quote(name, safe='')}/cancel", Removed)
    if as_json:
        render.emit_json(data)
        return
    render.show(f"Cancelled {data.removed}")


@app.command("queue-task-now")
def queue_task_now(
    ctx: typer.Context, task: Annotated[str, typer.Argument(help="A BTU Task (BTU-00001).")], as_json: Json = False
) -> None:
    """Enqueue a BTU Task now into RQ, outside its schedules (BTU's queue-task-now)."""
    data = options.client(ctx).post(f"/v1/btu/tasks/{quote(task, safe='')}/queue", BtuQueued)
    if as_json:
        render.emit_json(data)
        return
    render.show(f"Enqueued {data.task} as RQ job {data.job_id} on queue {data.queue} of [redis.{data.redis}]")


def _report(report: BtuReport) -> None:
    if report.error:
        render.show(f"Refresh of {report.scope} failed: {report.error}")
        return
    words = ", ".join(f"{k} {' '.join(v) or 'none'}" for k, v in
                      (("added", report.added), ("changed", report.changed), ("removed", report.removed)))  # fmt: skip
    render.show(f"Refresh of {report.scope} at {report.at.isoformat()}: {words}, {report.unchanged} unchanged")
    for name, why in report.skipped.items():
        render.show(f"  skipped {name}: {why}")
