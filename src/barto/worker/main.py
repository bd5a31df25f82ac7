"""``bartoc``, the barto worker: connects to bartos, runs what it dispatches, streams output back.

Its command line is barto's common flags and ``-r`` (barto.flags, read with argparse: bartoc
starts often, on every machine of a fleet, and Typer's parsing costs a fifth of its start-up).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from barto import __version__, flags, logs, runner
from barto.config import ConfigError, WorkerConfig, data_home, load_worker, source
from barto.config._load import Source
from barto.worker import daemon
from barto.worker.agent import Agent, GaveUpError
from barto.worker.outbox import Outbox, OutboxError

log = logging.getLogger("barto.worker")

OUTBOX = flags.Flag("-r", "--redb-absolute-path", "Local outbox file (barto's redb path).", "path")
CHECK = flags.Flag("", "--check", "Validate the config (and the files it names) and exit.", "switch")
DESCRIPTION = (
    "bartoc: the barto worker. It connects to bartos, runs the commands bartos dispatches to it in "
    "their own process groups, and streams every output line and exit status back."
)


def run(args: argparse.Namespace) -> int:
    """bartoc with parsed flags; its exit status (2: bad config, 1: cannot run or gave up)."""
    settings = {
        **flags.logging_keys(args.verbose, args.quiet, args.enable_std_output),
        "redb_path": str(args.redb_absolute_path) if args.redb_absolute_path else None,
    }
    src = source("bartoc", args.config_absolute_path, settings)
    try:
        config = load_worker(src, running=True)
    except ConfigError as error:
        sys.stderr.write(f"bartoc: error: {error}\n")
        return 2
    if args.check:
        sys.stdout.write(f"{src.path}: ok ({len(config.programs)} programs)\n")
        return 0
    own = config.taskmasterd.logfile
    default_log = src.path.parent / own if own else data_home(os.environ) / "bartoc" / "logs" / "bartoc.log"
    logs.start(config, src.path, args.tracing_absolute_path or default_log)
    try:
        with daemon.prepared(config.taskmasterd, src.path.parent):
            return _run(config, src)
    except (daemon.StartError, OutboxError) as error:
        sys.stderr.write(f"bartoc: error: {error}\n")
        return 1


def _run(config: WorkerConfig, src: Source) -> int:
    outbox = Outbox.open(config.outbox_path(os.environ))
    status = 0
    try:
        runner.run(lambda register: _serve(config, outbox, register, src))
    except* GaveUpError as group:
        sys.stderr.write(f"bartoc: error: {group.exceptions[0]}\n")
        status = 1
    finally:
        outbox.close()
    return status


async def _serve(config: WorkerConfig, outbox: Outbox, register: Callable[[runner.Stop], None], src: Source) -> None:
    log.info("bartoc %s starting as %r", __version__, config.name)
    env = {**os.environ, **config.taskmasterd.environment()}
    agent = Agent(config, env, outbox, src.path.parent, reload=lambda: load_worker(src, running=True))
    register(agent.stop)
    await agent.run()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(flags.parser("bartoc", DESCRIPTION, OUTBOX, CHECK).parse_args(argv)))
