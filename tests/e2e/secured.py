"""Tokens for end-to-end tests of a server that needs them: a role per name, and the TOML."""

from __future__ import annotations

TOKENS = {"boss": ("admin", "b" * 24), "ops": ("operate", "o" * 24), "viewer": ("read", "v" * 24),
          "w1": ("worker", "w" * 24)}  # fmt: skip


def settings(tokens: dict[str, tuple[str, str]] = TOKENS) -> str:
    """``[tokens.<name>]`` tables for ``tokens``."""
    return "".join(f"[tokens.{name}]\nrole = '{role}'\ntoken = '{token}'\n" for name, (role, token) in tokens.items())
