"""A row of BTU's ``tabBTU Task Schedule`` (with its ``tabBTU Task``) as one of our schedules.

What BTU got wrong stays behind (../shared/reference/jobd-btu.md §4.3): Frappe's five-field
cron is read as Vixie cron (Sunday 0, BTU's Rust crate took 0 for invalid and 1 for Sunday);
the zone is applied properly (BTU reinterpreted UTC times as local ones, wrong across DST);
``queue_name`` is honoured (BTU always used ``default``); ``max_task_duration`` is the job's
timeout on every path (BTU used 3600 s for scheduled jobs).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from barto.config._load import KeyedError
from barto.config.server import RqCall, ScheduleDef, validate_schedule

MARK = "btu_task_schedule"  # in the RQ job's meta: the schedule came from BTU's table, and which
TEXT_MAX = 64 * 1024  # of an arguments field
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}


class BadRow(ValueError):
    """A row that cannot be a schedule; the message says why."""


@dataclass(frozen=True)
class Row:
    """The columns BTU's queries read, as the database gave them."""

    name: str
    task: str | None
    task_description: str | None
    enabled: Any
    queue_name: str | None
    argument_overrides: str | None
    cron_string: str | None
    cron_time_zone: str | None
    function_string: str | None
    arguments: str | None
    max_task_duration: Any


def schedule(row: Row, *, redis: str, default_tz: str, fallback_tz: str | None) -> ScheduleDef:
    """The schedule that enqueues ``row``'s task at each slot of its cron string.

    Raises:
        BadRow: naming the column and the problem.
    """
    if row.task is None or row.function_string is None:
        raise BadRow(f"task: no BTU Task named {row.task!r}" if row.task else "task: none set")
    cron = (row.cron_string or "").strip()
    fields = len(cron.split())
    if fields not in (5, 6, 7):
        raise BadRow(f"cron_string: {cron[:80]!r} has {fields} fields (5, as Frappe writes them, or 6 or 7)")
    call = task_call(row.task, row.function_string, row.arguments, row.max_task_duration, row.queue_name)
    call = msgspec.structs.replace(
        call,
        kwargs={**call.kwargs, **_literal_dict(row.argument_overrides, "argument_overrides")},
        description=row.task_description or None,
        meta={**call.meta, MARK: row.name},
    )
    definition = ScheduleDef(
        name=row.name,
        rq=call,
        redis=redis,
        cron=cron,
        cron_dialect="cron" if fields == 5 else "jobd",  # 6 and 7 fields: BTU padded them as cronexpr does
        timezone=(row.cron_time_zone or "").strip() or fallback_tz,
        overlap="allow",  # BTU enqueued every time, whatever the last job was doing
    )
    try:
        validate_schedule(definition, "@rq", default_tz)
    except KeyedError as error:
        key = {"name": "name", "cron": "cron_string", "timezone": "cron_time_zone"}.get(str(error.path[0]), "task")
        raise BadRow(f"{key}: {error}") from None
    return definition


def task_call(
    task: str, function_string: str, arguments: str | None, max_task_duration: Any, queue: str | None
) -> RqCall:
    """The RQ call of a BTU Task: its function with its arguments as keyword arguments.

    Raises:
        BadRow: naming the column and the problem.
    """
    return RqCall(
        func=function_string.strip(),
        queue=(queue or "default").strip() or "default",
        kwargs=_literal_dict(arguments, "arguments"),
        timeout=_duration(max_task_duration),
        meta={"btu_task": task},
    )


def _literal_dict(text: str | None, column: str) -> dict[str, Any]:
    """A Python-literal dict of keyword arguments (Frappe stores them so); empty is none."""
    if text is None or not text.strip():
        return {}
    if len(text) > TEXT_MAX:
        raise BadRow(f"{column}: {len(text)} characters, at most {TEXT_MAX}")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadRow(f"{column}: not a Python literal: {text.strip()[:80]!r}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise BadRow(f"{column}: a dict of keyword arguments by name, not {type(value).__name__}")
    return {key: _plain(item, column) for key, item in value.items()}


def _plain(value: Any, column: str) -> Any:
    """``value`` as JSON keeps it (tuples become lists); anything else is refused, not mangled."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, column) for item in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {key: _plain(item, column) for key, item in value.items()}
    raise BadRow(f"{column}: {type(value).__name__} values cannot be passed to a job (JSON types only)")


def _duration(value: Any) -> int | None:
    """``max_task_duration`` in seconds: a number, or digits with s, m or h; empty is RQ's default."""
    if value is None or value == "":
        return None
    text = str(value)
    match = _DURATION.fullmatch(text)
    seconds = float(match.group(1)) * _UNIT[match.group(2)] if match else 0.0
    if not 1 <= seconds <= 365 * 86400:
        raise BadRow(f"max_task_duration: {text[:40]!r} is not from 1 s to 365 days (600, '600s', '10m', '1h')")
    return math.ceil(seconds)
