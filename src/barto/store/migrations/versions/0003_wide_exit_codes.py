"""Exit codes need 64 bits: a Windows NTSTATUS (0xC0000005 = 3221225477) does not fit in 32.

SQLite's INTEGER is 64-bit already. PostgreSQL refuses to change a column a view reads, so
barto's ``exit_status`` view is dropped and created again around the change.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The view as 0001 created it (a migration keeps its own copy: later changes must not alter history).
EXIT_STATUS_VIEW = (
    "SELECT r.id AS id, r.finished_at AS timestamp, r.uuid AS cmd_uuid, r.exit_code AS exit_code, "
    "CASE WHEN r.state = 'succeeded' THEN 1 ELSE 0 END AS success "
    "FROM runs r WHERE r.finished_at IS NOT NULL"
)


def upgrade() -> None:
    _retype(sa.BigInteger())


def downgrade() -> None:
    _retype(sa.Integer())


def _retype(kind: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP VIEW exit_status")
    op.alter_column("runs", "exit_code", type_=kind, existing_nullable=True)
    op.execute(f"CREATE VIEW exit_status AS {EXIT_STATUS_VIEW}")
