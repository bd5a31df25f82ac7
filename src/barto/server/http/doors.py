"""The REST door's derived tables: the paths open without a token, and the role table of
docs/security.md. The routes themselves are shared data, in barto.api.doors.
"""

from __future__ import annotations

from barto.api import operations as ops
from barto.api.doors import DOORS, Door

__all__ = ["DOORS", "OPEN_PATHS", "Door", "role_table"]

OPEN_PATHS = frozenset({"/openapi.json", *(d.path for d in DOORS if d.operation.role is ops.Role.OPEN)})


def role_table() -> str:
    """The role table of docs/security.md, as Markdown (a test keeps the document equal to it)."""
    lines = ["| operation | role | REST | what it does |", "|---|---|---|---|"]
    for door in DOORS:
        for operation, suffix in ((door.operation, ""), (door.stream, f"?{door.flag}=1")):
            if operation is not None:
                route = f"`{door.method} {door.path.replace(':path', '')}{suffix}`"
                lines.append(f"| `{operation.name}` | {operation.role.value} | {route} | {operation.summary} |")
    return "\n".join(lines) + "\n"
