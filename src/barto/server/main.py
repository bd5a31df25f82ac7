"""``bartos``, the barto server: owns schedules, dispatches runs to workers, stores their output."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from barto import logs, runner
from barto.config import ConfigError, ServerConfig, data_home, load_server, source
from barto.config.server import Calendars
from barto.flags import logging_keys
from barto.server import listeners
from barto.server.app import create_app
from barto.store import StoreError, migrate, open_store
from barto.store.instance import hold_sqlite
from barto.typer_flags import ConfigPath, Quiet, StdOut, TracingPath, Verbose, Version
from barto.typer_flags import app as typer_app

app = typer_app(add_completion=False)
log = logging.getLogger("barto.server")

Check = Annotated[bool, typer.Option("--check", help="Validate the config (every calendar) and exit.")]
BehindCheck = Annotated[bool, typer.Option("--check", help="Only say whether the schema is behind (exit 1 if so).")]


@app.callback(invoke_without_command=True)
def _main(  # noqa: PLR0913  # the root takes every common flag
    ctx: typer.Context,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
    enable_std_output: StdOut = False,
    config_absolute_path: ConfigPath = None,
    tracing_absolute_path: TracingPath = None,
    check: Check = False,
    version: Version = False,
) -> None:
    """bartos: the barto server. It owns the schedules, dispatches each run to its worker over
    WebSocket, and stores every output line and exit status; barto-cli talks to its REST API.
    Without a command it serves (migrating the database first)."""
    src = source("bartos", config_absolute_path, logging_keys(verbose, quiet, enable_std_output))
    try:
        calendars: Calendars = {}  # parsed once, by validation, then handed to the scheduler
        config = load_server(src, serving=ctx.invoked_subcommand is None, calendars=calendars)
    except ConfigError as error:
        typer.echo(f"bartos: error: {error}", err=True)
        raise typer.Exit(2) from None
    if ctx.invoked_subcommand is not None:
        ctx.obj = config
        return
    if check:
        count = sum(len(g.schedules) for g in config.schedules.values())
        typer.echo(f"{src.path}: ok ({count} schedules for {len(config.schedules)} workers)")
        return
    log_file = tracing_absolute_path or data_home(os.environ) / "bartos" / "logs" / "bartos.log"
    logs.start(config, src.path, log_file)
    try:  # before serving, so that a schema newer than ours is refused with a message, not a log line
        hold_sqlite(config.database_url(os.environ))  # held until the process exits
        asyncio.run(_migration(config.database_url(os.environ), check=False))
    except StoreError as error:
        typer.echo(f"bartos: error: {error}", err=True)
        raise typer.Exit(1) from None
    asgi = create_app(
        config, config_path=src.path, loader=lambda: load_server(src), env=os.environ, calendars=calendars
    )
    try:
        runner.run(lambda register: listeners.serve(asgi, listeners.listeners(config), config.limits, register))
    except* (StoreError, OSError) as group:
        typer.echo(f"bartos: error: {group.exceptions[0]}", err=True)
        raise typer.Exit(1) from None


@app.command("migrate")
def _migrate(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the schema is behind (exit 1 if so).")
    ] = False,
) -> None:
    """Bring the database schema up to this version of barto (or, with --check, report)."""
    config: ServerConfig = ctx.obj
    try:
        current, head, changed = asyncio.run(_migration(config.database_url(os.environ), check=check))
    except StoreError as error:
        typer.echo(f"bartos: error: {error}", err=True)
        raise typer.Exit(1) from None
    if check and current != head:
        typer.echo(f"schema is behind: at {current or 'nothing (empty database)'}, this barto needs {head}")
        raise typer.Exit(1)
    typer.echo(f"schema migrated from {current or 'nothing'} to {head}" if changed else f"schema is at {head}")


async def _migration(url: str, *, check: bool) -> tuple[str | None, str, bool]:
    """(revision before, head, whether anything was migrated)."""
    async with open_store(url, upgrade=False) as store:
        current = await migrate.current(store.engine)
        if check or current == migrate.head():
            return current, migrate.head(), False
        await migrate.upgrade(store.engine)
        return current, migrate.head(), True


def main() -> None:
    """Console-script entry point."""
    app()
