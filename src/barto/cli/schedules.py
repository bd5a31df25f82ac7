"""`barto-cli schedules`: list them; add, remove, enable and disable the ones kept by the API.

The config file's schedules are the file's: the server refuses to change them through the API
(edit the file instead). `pause`/`resume` work on every schedule.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from barto.api.answers import Removed
from barto.cli import complete, options, render
from barto.cli.client import segment
from barto.cli.options import Json
from barto.model import ScheduleRecord
from barto.typer_flags import app as typer_app

Worker = Annotated[str, typer.Argument(help="The worker the schedule runs on.")]
Name = Annotated[str, typer.Argument(help="Schedule name.", autocompletion=complete.schedules)]

app = typer_app(help="List schedules; add, remove, enable or disable API schedules.")


@app.callback(invoke_without_command=True)
def schedules(
    ctx: typer.Context,
    worker: Annotated[str | None, options.worker_option("Only this worker's.")] = None,
    as_json: Json = False,
) -> None:
    """List the live schedules with their next fire times and where they come from."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get("/v1/schedules", list[ScheduleRecord], worker=worker)
    if as_json:
        render.emit_json(data)
        return
    columns = ("worker", "name", "calendar", "normalized", "next_fire", "enabled", "paused", "source")
    render.show(render.table(None, columns, [[getattr(s, c) for c in columns] for s in data]))


@app.command()
def add(  # noqa: PLR0913 - one option per schedule setting a user commonly gives
    ctx: typer.Context,
    worker: Worker,
    name: Name,
    cmd: Annotated[list[str], typer.Option("--cmd", help="A command (repeat for several, run in order).")],
    on_calendar: Annotated[str | None, typer.Option("--on-calendar", help="systemd/barto calendar.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Cron expression (instead of --on-calendar).")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA zone.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds for the whole run.")] = None,
    overlap: Annotated[str | None, typer.Option("--overlap", help="skip, queue, allow or replace.")] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="More attempts of a failed slot.")] = None,
    as_json: Json = False,
) -> None:
    """Add (or replace) a schedule kept by the server (source `api`)."""
    body: dict[str, Any] = {"name": name, "cmds": cmd, "on_calendar": on_calendar, "cron": cron}
    optional = {"timezone": timezone, "timeout": timeout, "overlap": overlap, "retries": retries}
    body.update({k: v for k, v in optional.items() if v is not None})
    given = {k: v for k, v in body.items() if v is not None}
    _show(options.client(ctx).post(f"/v1/schedules/{segment(worker)}", ScheduleRecord, given), as_json)


@app.command()
def remove(ctx: typer.Context, worker: Worker, name: Name, as_json: Json = False) -> None:
    """Remove a schedule added through the API."""
    data = options.client(ctx).delete(f"/v1/schedules/{segment(worker)}/{segment(name)}", Removed)
    if as_json:
        render.emit_json(data)
    else:
        print(f"removed {name} of {worker}")


@app.command()
def enable(ctx: typer.Context, worker: Worker, name: Name, as_json: Json = False) -> None:
    """Let an API schedule fire."""
    _show(options.client(ctx).post(f"/v1/schedules/{segment(worker)}/{segment(name)}/enable", ScheduleRecord), as_json)


@app.command()
def disable(ctx: typer.Context, worker: Worker, name: Name, as_json: Json = False) -> None:
    """Keep an API schedule listed but never firing."""
    _show(options.client(ctx).post(f"/v1/schedules/{segment(worker)}/{segment(name)}/disable", ScheduleRecord), as_json)


def _show(record: ScheduleRecord, as_json: bool) -> None:
    if as_json:
        render.emit_json(record)
        return
    state = "enabled" if record.enabled else "disabled"
    where = f"{record.name} on {record.worker} ({record.source}, {state})"
    print(f"{where}: next slot {render.when(record.next_fire) if record.next_fire else 'never'}")
