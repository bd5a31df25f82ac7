"""barto's command-line flags, shared by bartos, bartoc and barto-cli (``-v -q -e -c -t``).

One table says what they are. bartos and barto-cli read them through Typer (``typer_flags``);
bartoc, a daemon with nothing but these flags and ``-r``, through argparse: Typer's parsing
loads pydantic, a fifth of bartoc's start-up (issue 7 measures it with 200 programs).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

from barto import __version__


class Flag(NamedTuple):
    """One flag: its short and long names, its help, and what it takes."""

    short: str
    long: str
    help: str
    kind: str  # "count", "switch" or "path"


VERBOSE = Flag("-v", "--verbose", "More log detail (repeatable).", "count")
QUIET = Flag("-q", "--quiet", "Less log detail (repeatable).", "count")
STD_OUTPUT = Flag("-e", "--enable-std-output", "Also log to stderr.", "switch")
CONFIG = Flag("-c", "--config-absolute-path", "Config file.", "path")
TRACING = Flag("-t", "--tracing-absolute-path", "Log file.", "path")
COMMON = (VERBOSE, QUIET, STD_OUTPUT, CONFIG, TRACING)


def parser(prog: str, description: str, *extra: Flag) -> argparse.ArgumentParser:
    """An argparse parser with the common flags and ``extra`` ones (a daemon's command line)."""
    found = argparse.ArgumentParser(prog=prog, description=description, usage="%(prog)s [OPTIONS]")
    found.add_argument(
        "--version", action="version", version=f"{prog} {__version__}", help="Print the version and exit."
    )
    for flag in (*COMMON, *extra):
        dest = flag.long.removeprefix("--").replace("-", "_")
        names = [name for name in (flag.short, flag.long) if name]  # a flag may have no short form
        if flag.kind == "count":
            found.add_argument(*names, dest=dest, action="count", default=0, help=flag.help)
        elif flag.kind == "switch":
            found.add_argument(*names, dest=dest, action="store_true", help=flag.help)
        else:
            found.add_argument(*names, dest=dest, type=Path, metavar="PATH", help=flag.help)
    return found


def logging_keys(verbose: int, quiet: int, enable_std_output: bool) -> dict[str, object]:
    """The config keys ``-v/-q/-e`` set; None leaves a key to the environment and the file."""
    return {"verbose": verbose or None, "quiet": quiet or None, "enable_std_output": enable_std_output or None}
