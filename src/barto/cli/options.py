"""What every server command of barto-cli shares: the ``--json`` flag and the client of the
root command's config (made on first use, so that commands needing no server need no config)."""

from __future__ import annotations

from typing import Annotated

import typer

from barto.cli.client import Client

Json = Annotated[bool, typer.Option("--json", "-j", help="Print JSON.")]


def client(ctx: typer.Context) -> Client:
    """The server client the root command prepared (``ctx.obj`` makes it)."""
    made: Client = ctx.obj()
    return made
