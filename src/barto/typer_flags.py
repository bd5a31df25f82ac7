"""The common flags (barto.flags) as Typer options, for bartos and barto-cli, and how every
Typer app of theirs is made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from barto import __version__
from barto.flags import CONFIG, QUIET, STD_OUTPUT, TRACING, VERBOSE

Verbose = Annotated[int, typer.Option(VERBOSE.short, VERBOSE.long, count=True, help=VERBOSE.help)]
Quiet = Annotated[int, typer.Option(QUIET.short, QUIET.long, count=True, help=QUIET.help)]
StdOut = Annotated[bool, typer.Option(STD_OUTPUT.short, STD_OUTPUT.long, help=STD_OUTPUT.help)]
ConfigPath = Annotated[Path | None, typer.Option(CONFIG.short, CONFIG.long, help=CONFIG.help)]
TracingPath = Annotated[Path | None, typer.Option(TRACING.short, TRACING.long, help=TRACING.help)]


def _print_version(ctx: typer.Context, wanted: bool) -> None:
    if wanted:
        typer.echo(f"{ctx.find_root().info_name} {__version__}")
        raise typer.Exit(0)


Version = Annotated[
    bool,
    typer.Option(
        "--version", is_eager=True, expose_value=True, callback=_print_version, help="Print the version and exit."
    ),
]


def app(**settings: Any) -> typer.Typer:
    """A Typer app as all of barto's are: help texts as written (no Rich markup, which took
    ``[actix.tls]`` for a style and printed nothing; plain help is also faster), ``-h`` as well
    as ``--help``, errors without Rich's tracebacks."""
    context = {"help_option_names": ["-h", "--help"], **settings.pop("context_settings", {})}
    return typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, context_settings=context, **settings)
