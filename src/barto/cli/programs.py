"""``barto-cli programs``: the supervised programs of the whole fleet, their history and output,
through the server (docs/programs.md). ``barto-cli ctl --worker`` acts on them."""

from __future__ import annotations

from typing import Annotated

import typer

from barto.api.answers import ProgramRow, TailLine
from barto.cli import complete, options, render
from barto.cli.client import segment
from barto.cli.options import Json
from barto.model import ProgramEvent
from barto.typer_flags import app as typer_app

app = typer_app(no_args_is_help=False, invoke_without_command=True, help="Supervised programs on every worker.")

Worker = Annotated[str | None, options.worker_option("Only this worker's.")]


@app.callback()
def listing(ctx: typer.Context, worker: Worker = None, as_json: Json = False) -> None:
    """List every supervised process of every worker: state, pid, uptime, restarts."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get("/v1/programs", list[ProgramRow], worker=worker)
    if as_json:
        render.emit_json(data)
        return
    rows = [
        [p.worker + ("" if p.connected else " (offline)"), *cells]
        for p, cells in zip(data, render.process_rows(data), strict=True)
    ]
    render.show(render.table(None, ("worker", *render.PROCESS_COLUMNS), rows), f"Total processes: {len(data)}")


@app.command()
def events(
    ctx: typer.Context,
    worker: Worker = None,
    name: Annotated[str | None, typer.Option("--name", help="Only this program or process.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many of the newest.")] = 100,
    as_json: Json = False,
) -> None:
    """Show the state changes of supervised processes, oldest first."""
    data = options.client(ctx).get("/v1/programs/events", list[ProgramEvent], worker=worker, name=name, limit=limit)
    if as_json:
        render.emit_json(data)
        return
    columns = ("at", "worker", "name", "previous", "state", "pid", "description", "suppressed")
    rows = [[getattr(e, c) if c != "suppressed" or e.suppressed else None for c in columns] for e in data]
    render.show(render.table(None, columns, rows))


@app.command()
def tail(
    ctx: typer.Context,
    worker: Annotated[str, typer.Argument(help="The worker.", autocompletion=complete.workers)],
    name: Annotated[str, typer.Argument(help="A program or process.", autocompletion=complete.programs)],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C ends).")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, max=10_000, help="How many of the last.")] = 20,
) -> None:
    """Print the last lines a program wrote (forwarded by its worker); -f follows them."""
    client = options.client(ctx)
    path = f"/v1/workers/{segment(worker)}/programs/{segment(name)}/tail"
    records = client.get(path, list[TailLine], limit=lines)
    for record in records:
        print(record.text, flush=True)
    if follow:
        after = records[-1].seq if records else 0
        for record in client.stream(path, TailLine, follow=1, after=after, limit=10_000):
            print(record.text, flush=True)
