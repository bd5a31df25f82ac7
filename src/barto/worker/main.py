"""``bartoc``, the barto worker: connects to bartos, runs what it dispatches, streams output back."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from barto import __version__, logs, runner
from barto.config import ConfigError, WorkerConfig, data_home, load_worker, source
from barto.config._load import Source
from barto.flags import ConfigPath, Quiet, StdOut, TracingPath, Verbose, logging_keys
from barto.worker.agent import Agent, GaveUpError
from barto.worker.outbox import Outbox, OutboxError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
log = logging.getLogger("barto.worker")

OutboxPath = Annotated[
    Path | None, typer.Option("-r", "--redb-absolute-path", help="Local outbox file (barto's redb path).")
]


@app.command()
def _main(
    verbose: Verbose = 0,
    quiet: Quiet = 0,
    enable_std_output: StdOut = False,
    config_absolute_path: ConfigPath = None,
    tracing_absolute_path: TracingPath = None,
    redb_absolute_path: OutboxPath = None,
) -> None:
    """bartoc: the barto worker. It connects to bartos, runs the commands bartos dispatches to it in
    their own process groups, and streams every output line and exit status back."""
    flags = {
        **logging_keys(verbose, quiet, enable_std_output),
        "redb_path": str(redb_absolute_path) if redb_absolute_path else None,
    }
    src = source("bartoc", config_absolute_path, flags)
    try:
        config = load_worker(src, running=True)
    except ConfigError as error:
        typer.echo(f"bartoc: error: {error}", err=True)
        raise typer.Exit(2) from None
    log_file = tracing_absolute_path or data_home(os.environ) / "bartoc" / "logs" / "bartoc.log"
    logs.start(config, src.path, log_file)
    try:
        outbox = Outbox.open(config.outbox_path(os.environ))
    except OutboxError as error:
        typer.echo(f"bartoc: error: {error}", err=True)
        raise typer.Exit(1) from None
    try:
        runner.run(lambda register: _serve(config, outbox, register, src))
    except* GaveUpError as group:
        typer.echo(f"bartoc: error: {group.exceptions[0]}", err=True)
        raise typer.Exit(1) from None
    finally:
        outbox.close()


async def _serve(config: WorkerConfig, outbox: Outbox, register: Callable[[runner.Stop], None], src: Source) -> None:
    log.info("bartoc %s starting as %r", __version__, config.name)
    agent = Agent(config, dict(os.environ), outbox, src.path.parent, reload=lambda: load_worker(src, running=True))
    register(agent.stop)
    await agent.run()


def main() -> None:
    """Console-script entry point."""
    app()
