"""Which configuration values are secret, so that they stay out of logs and are not left lying
in files everyone can read.

Secret keys, in any table: ``api_key``, ``signing_key``, ``hmac_key``, ``password``, ``token``,
``secret`` (a webhook's), and the password inside a database ``url``. Each can also be given as ``<key>_file`` (read at
load, see ``_load``) or through the environment.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

SECRET_KEYS = frozenset({"api_key", "signing_key", "hmac_key", "password", "token", "url", "secret"})


def values(config: Any) -> list[str]:
    """Every secret value in a loaded configuration (to be masked in logs)."""
    return sorted({value for _, value in _walk(msgspec.to_builtins(config), ())}, key=len, reverse=True)


def in_file(path: Path) -> list[str]:
    """The dotted secret keys written in the file itself (not in ``*_file`` keys or the env)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    return sorted({key for key, _ in _walk(data, ())})


def readable_by_all(path: Path) -> bool:
    """Whether every user of the machine can read ``path``."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def _walk(node: Any, at: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(dotted key, secret value) pairs under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*at, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, at)
    elif isinstance(node, str) and at and at[-1] in SECRET_KEYS and node:
        secret = urlsplit(node).password if at[-1] == "url" else node
        if secret:
            yield ".".join(at), secret


def exposure(path: Path) -> str | None:
    """What to warn about when ``path`` holds secrets and every user of the machine can read it."""
    keys = in_file(path) if readable_by_all(path) else []
    if not keys:
        return None
    return (
        f"{path} can be read by every user of this machine and holds {', '.join(keys)}: "
        "chmod 600 it, or move them to <key>_file keys (docs/security.md)"
    )
