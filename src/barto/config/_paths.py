"""XDG base directories (the same places barto's ``dirs2`` picks on Linux)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _base(env: Mapping[str, str], variable: str, fallback: str) -> Path:
    value = env.get(variable, "")
    # The XDG spec says relative paths are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / fallback


def config_home(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME`` or ``~/.config``."""
    return _base(env, "XDG_CONFIG_HOME", ".config")


def data_home(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share``."""
    return _base(env, "XDG_DATA_HOME", ".local/share")


def state_home(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME`` or ``~/.local/state``."""
    return _base(env, "XDG_STATE_HOME", ".local/state")


def default_config_file(program: str, env: Mapping[str, str]) -> Path:
    """``<config home>/<program>/<program>.toml``."""
    return config_home(env) / program / f"{program}.toml"
