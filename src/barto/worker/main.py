"""``bartoc``, the barto worker. Only its help exists so far."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    """bartoc: the barto worker. It connects to bartos, runs commands and streams their
    output back (not implemented yet)."""
    typer.echo(ctx.get_help())


def main() -> None:
    """Console-script entry point."""
    app()
