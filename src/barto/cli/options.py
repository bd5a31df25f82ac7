"""What every server command of barto-cli shares: the ``--json`` flag and the client of the
root command's config (made on first use, so that commands needing no server need no config)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from barto.cli import complete
from barto.cli.client import Client

Json = Annotated[bool, typer.Option("--json", "-j", help="Print JSON.")]
ScheduleName = Annotated[str, typer.Argument(help="Schedule name.", autocompletion=complete.schedules)]


def worker_option(text: str) -> Any:
    """``--worker/-w``, completed with the server's workers."""
    return typer.Option("--worker", "-w", help=text, autocompletion=complete.workers)


def client(ctx: typer.Context) -> Client:
    """The server client the root command prepared (``ctx.obj`` makes it)."""
    made: Client = ctx.obj()
    return made
