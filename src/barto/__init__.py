"""barto: a distributed job scheduler and process supervisor."""

from __future__ import annotations

__version__ = "0.1.0"  # the one place it is written (pyproject.toml reads it from here)
