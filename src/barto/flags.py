"""barto's command-line flags, shared by bartos, bartoc and barto-cli (``-v -q -e -c -t``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Verbose = Annotated[int, typer.Option("-v", "--verbose", count=True, help="More log detail (repeatable).")]
Quiet = Annotated[int, typer.Option("-q", "--quiet", count=True, help="Less log detail (repeatable).")]
StdOut = Annotated[bool, typer.Option("-e", "--enable-std-output", help="Also log to stderr.")]
ConfigPath = Annotated[Path | None, typer.Option("-c", "--config-absolute-path", help="Config file.")]
TracingPath = Annotated[Path | None, typer.Option("-t", "--tracing-absolute-path", help="Log file.")]


def logging_keys(verbose: int, quiet: int, enable_std_output: bool) -> dict[str, object]:
    """The config keys ``-v/-q/-e`` set; None leaves a key to the environment and the file."""
    return {"verbose": verbose or None, "quiet": quiet or None, "enable_std_output": enable_std_output or None}
