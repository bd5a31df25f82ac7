"""``bartos``, the barto server. Only its help exists so far; the server comes with issue 3."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    """bartos: the barto server. It owns schedules, dispatches runs to workers and stores
    every line of output (not implemented yet; see `barto-cli calendar` to preview schedules)."""
    typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point."""
    app()
