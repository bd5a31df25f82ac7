"""Shell completion of what only the server knows: worker, schedule and program names. Each
Tab asks the server named in barto-cli's config (``-c`` if given before the word), within two
seconds; a server that cannot be reached, or a config that does not load, completes nothing."""

from __future__ import annotations

from typing import Any

import msgspec
import typer

from barto.cli.client import connection
from barto.config import ConfigError, load_cli, source

SECONDS = 2.0


def workers(ctx: typer.Context, incomplete: str) -> list[str]:
    """The workers the server knows."""
    return _matching([w.get("name") for w in _get(ctx, "/v1/clients")], incomplete)


def schedules(ctx: typer.Context, incomplete: str) -> list[str]:
    """The schedules of the ``--worker`` given before (of every worker without one)."""
    worker = ctx.params.get("worker")
    found = _get(ctx, "/v1/schedules", worker=worker) if worker else _get(ctx, "/v1/schedules")
    return _matching([s.get("name") for s in found], incomplete)


def programs(ctx: typer.Context, incomplete: str) -> list[str]:
    """The programs of the worker given before (of every worker without one)."""
    worker = ctx.params.get("worker")
    found = _get(ctx, "/v1/programs", worker=worker) if worker else _get(ctx, "/v1/programs")
    return _matching([p.get("name") for p in found], incomplete)


def _get(ctx: typer.Context, path: str, **params: str) -> list[dict[str, Any]]:
    import httpx  # at Tab only

    try:
        config = load_cli(source("barto-cli", ctx.find_root().params.get("config_absolute_path"), {}), using=True)
        settings = {**connection(config), "timeout": SECONDS}
        with httpx.Client(**settings) as http:
            answer = http.get(path, params=params)
        found = msgspec.json.decode(answer.content) if answer.status_code == 200 else []
    except (ConfigError, httpx.HTTPError, msgspec.DecodeError, OSError):
        return []
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _matching(names: list[Any], incomplete: str) -> list[str]:
    return sorted({n for n in names if isinstance(n, str) and n.startswith(incomplete)})
