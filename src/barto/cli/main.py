"""``barto-cli``: query and control barto. Commands that need no server live here too."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from barto.calendar import DIALECTS, CalendarError, parse
from barto.calendar.preview import Preview, preview, render
from barto.cli import commands, ctl, keys, options, programs
from barto.cli.client import Client, CliError
from barto.config import ConfigError, load_cli, source
from barto.config._load import Source
from barto.flags import logging_keys
from barto.typer_flags import ConfigPath, Quiet, StdOut, TracingPath, Verbose, Version
from barto.typer_flags import app as typer_app

app = typer_app(
    help="barto command-line client: query and control schedules, runs and workers.",
    no_args_is_help=True,
)


@app.callback(invoke_without_command=True)
def _root(  # noqa: PLR0913  # the root takes every common flag
    ctx: typer.Context,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
    enable_std_output: StdOut = False,
    config_absolute_path: ConfigPath = None,
    tracing_absolute_path: TracingPath = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the config (and the files it names) and exit.")
    ] = False,
    version: Version = False,
) -> None:
    """barto command-line client: query and control schedules, runs and workers."""
    flags = logging_keys(verbose, quiet, enable_std_output)
    if check or ctx.invoked_subcommand is None:
        _check_or_help(ctx, source("barto-cli", config_absolute_path, flags) if check else None)

    def client() -> Client:
        # Loaded on first use, so that `calendar` works without any config.
        src = source("barto-cli", config_absolute_path, flags)
        config = load_cli(src, using=True)
        # A one-shot command logs warnings only, unless asked (-v, -e, -t).
        quieter = 0 if config.enable_std_output or tracing_absolute_path else 1
        from barto import logs  # a command that needs no server needs no logging set up

        logs.start(config, src.path, tracing_absolute_path, quieter=quieter)
        return Client(config)

    ctx.obj = client


def _check_or_help(ctx: typer.Context, src: Source | None) -> None:
    """``--check``: load the config and say so (exit 2 naming file:line:key if it does not
    load); without it and without a command: the help."""
    if src is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    try:
        load_cli(src, using=True)
    except ConfigError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{src.path}: ok")
    raise typer.Exit(0)


@app.command()
def calendar(
    expressions: Annotated[list[str], typer.Argument(help="Calendar expressions to preview.")],
    iterations: Annotated[int, typer.Option(min=1, max=10_000, help="Elapses to show.")] = 1,
    base_time: Annotated[str | None, typer.Option(help="Start after this ISO 8601 time instead of now.")] = None,
    tz: Annotated[str | None, typer.Option(help="Zone for expressions that name none.")] = None,
    dialect: Annotated[str, typer.Option(help=f"One of: {', '.join(DIALECTS)}.")] = "auto",
    seed: Annotated[
        str | None, typer.Option(help="Fixes R and H fields; WORKER/SCHEDULE shows what the server uses.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Show the normalized form and next elapses of calendar expressions (no server needed).

    The output follows `systemd-analyze calendar`. Exits 1 if any expression is invalid.
    """
    now = datetime.now(UTC)
    base = _base_time(base_time, tz) if base_time else now
    views: list[Preview] = []
    failed = False
    for text in expressions:
        try:
            spec = parse(text, dialect=dialect, tz=tz, seed=seed)
        except CalendarError as error:
            typer.echo(f"Failed to parse calendar specification: {error}", err=True)
            failed = True
            continue
        views.append(preview(text, spec, base, iterations))
    if as_json:
        typer.echo(json.dumps([v.as_json() for v in views], indent=2))
    else:
        typer.echo("\n\n".join(render(v, _display_zone(v, tz), now) for v in views))
    raise typer.Exit(1 if failed else 0)


def _base_time(text: str, tz: str | None) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--base-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz) if tz else UTC)
    return moment


def _display_zone(view: Preview, tz: str | None) -> ZoneInfo:
    """Show times in the zone the expression names, else in --tz, else UTC."""
    return ZoneInfo(view.timezone or tz or "UTC")


class Shell(StrEnum):
    """The shells completion is made for."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


@app.command()
def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell.")],
) -> None:
    """Print the shell completion script for SHELL: commands, options, and the worker, schedule
    and program names the server knows. `eval "$(barto-cli completion bash)"` in ~/.bashrc;
    `barto-cli completion fish > ~/.config/fish/completions/barto-cli.fish`."""
    from typer._completion_shared import get_completion_script  # what --show-completion prints

    typer.echo(get_completion_script(prog_name="barto-cli", complete_var="_BARTO_CLI_COMPLETE", shell=shell.value))


commands.register(app)
keys.register(app)
app.command("ctl")(ctl.ctl)
app.add_typer(programs.app, name="programs")


def mount_command(
    ctx: typer.Context,
    directory: Annotated[str, typer.Argument(help="An empty directory to mount on.")],
    worker: Annotated[
        str | None, typer.Option("--worker", "-w", help="The worker whose jobs /clone and /jobs hold (as jobd's).")
    ] = None,
) -> None:
    """Mount jobd's file system (every worker's jobs, programs and runs) on DIRECTORY with FUSE,
    until `fusermount3 -u DIRECTORY` or Ctrl-C (docs/jobd.md)."""
    from barto.cli.mount import mount  # libfuse is loaded only by this command

    config = options.client(ctx).config
    try:
        mount(config, directory, worker=worker)
    except (OSError, RuntimeError) as error:
        raise CliError(f"cannot mount {directory}: {error}") from None


app.command("mount")(mount_command)


def main() -> None:
    """Console-script entry point: errors become one line on stderr and a non-zero status."""
    try:
        app()
    except ConfigError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        sys.exit(2)
    except CliError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        sys.exit(1)
