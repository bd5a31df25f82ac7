"""What a name, a command, an environment and a number may be: the rules every door checks once.

Names of workers, schedules and programs are what a file name and a URL path segment can carry
unescaped, so that the same name works in a config file, a REST path, a 9P path and a shell:
1 to 128 of ``A-Z a-z 0-9 _ . @ -``, not starting with a dot (``.`` and ``..`` are path
verbs, and a leading dot hides a file). Names that look like verbs (``run``, ``resume``) are
just names: no door decides anything from a name.

Commands, environment keys and values never hold NUL (``execve`` cannot carry it), and an
environment key never holds ``=`` (it would split differently on the other side).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from barto.errors import Invalid

NAME_MAX = 128
NAME_RULE = "1-128 characters of A-Z a-z 0-9 _ . @ -, not starting with a dot"
_NAME = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,127}")

RQ_WORKER = "@rq"  # the server's own worker, which enqueues RQ jobs: no bartoc may take the name
ID_MAX = 2**63 - 1  # the largest id a BIGINT holds, in every store
COMMAND_MAX = 128 * 1024  # execve's limit for one argument on Linux (MAX_ARG_STRLEN)


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a name (None: it can)."""
    if _NAME.fullmatch(value):
        return None
    if not value:
        return "a name cannot be empty"
    if len(value) > NAME_MAX:
        return f"a name has at most {NAME_MAX} characters, not {len(value)}"
    return f"{value[:40]!r} is not a valid name ({NAME_RULE})"


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a valid name of a ``kind`` (worker, schedule, program).

    Raises:
        Invalid: ``bad_name``, with the rule.
    """
    if (problem := name_problem(value)) is not None:
        raise Invalid("bad_name", f"{kind} name: {problem}")
    return value


def command_problem(command: str) -> str | None:
    """Why ``command`` cannot be run (None: it can)."""
    if "\0" in command:
        return "a command cannot hold a NUL byte"
    if not command.strip():
        return "a command cannot be empty"
    if len(command.encode()) > COMMAND_MAX:
        return f"a command has at most {COMMAND_MAX} bytes"
    return None


def env_problem(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(the offending key, why) when ``env`` cannot be given to a process (None: it can)."""
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            return key, f"an environment variable name cannot be empty or hold '=' or NUL: {key[:40]!r}"
        if "\0" in value:
            return key, f"the value of {key[:40]!r} holds a NUL byte"
    return None
