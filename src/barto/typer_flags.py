"""The common flags (barto.flags) as Typer options, for bartos and barto-cli."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from barto.flags import CONFIG, QUIET, STD_OUTPUT, TRACING, VERBOSE

Verbose = Annotated[int, typer.Option(VERBOSE.short, VERBOSE.long, count=True, help=VERBOSE.help)]
Quiet = Annotated[int, typer.Option(QUIET.short, QUIET.long, count=True, help=QUIET.help)]
StdOut = Annotated[bool, typer.Option(STD_OUTPUT.short, STD_OUTPUT.long, help=STD_OUTPUT.help)]
ConfigPath = Annotated[Path | None, typer.Option(CONFIG.short, CONFIG.long, help=CONFIG.help)]
TracingPath = Annotated[Path | None, typer.Option(TRACING.short, TRACING.long, help=TRACING.help)]
