"""``barto-cli alerts``: what was sent, what failed and why; ``alerts test NAME`` sends a test
event through an alert's channels now (docs/alerts.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from barto.api.answers import Delivery
from barto.cli import options, render
from barto.cli.client import CliError, segment
from barto.cli.options import Json
from barto.typer_flags import app as typer_app

app = typer_app(help="Recent alert deliveries and failures; 'alerts test NAME' sends a test event.")
COLUMNS = ("id", "alert", "channel", "event", "subject", "state", "attempts", "created", "error")


def _rows(data: list[Delivery]) -> list[list[object]]:
    return [
        [d.id, d.alert, d.channel, d.event, d.subject, d.state + (f" (+{d.suppressed})" if d.suppressed else ""),
         d.attempts, render.when(d.created_at), d.error or ""]
        for d in data
    ]  # fmt: skip


@app.callback(invoke_without_command=True)
def listing(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Deliveries to show.")] = 50,
    as_json: Json = False,
) -> None:
    """List recent alert deliveries, newest first: sent, pending (with the next attempt), throttled, failed."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get(f"/v1/alerts?limit={limit}", list[Delivery])
    if as_json:
        render.emit_json(data)
        return
    render.show(render.table(None, COLUMNS, _rows(data)), f"Total deliveries: {len(data)}")


@app.command("test")
def send_test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An [alerts.<name>] of bartos.toml.")],
    as_json: Json = False,
) -> None:
    """Send a test event through every channel of an alert now (admin); exit 1 if one failed."""
    data = options.client(ctx).post(f"/v1/alerts/{segment(name)}/test", list[Delivery], timeout=120)
    if as_json:
        render.emit_json(data)
    else:
        render.show(render.table(None, COLUMNS, _rows(data)))
    if any(d.state != "sent" for d in data):
        raise CliError("not every channel took the test event (see error)")
