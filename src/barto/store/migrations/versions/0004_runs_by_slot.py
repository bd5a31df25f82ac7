"""Runs newest first without a sort: an index on the slot.

`barto-cli runs` and `failed` list runs by slot, newest first, with a LIMIT. With a million runs
sorting them all took 0.1 s (PostgreSQL) to 1.2 s (MariaDB) per call; walking this index
backwards stops after the rows shown.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_slot", "runs", ["slot"])


def downgrade() -> None:
    op.drop_index("ix_runs_slot", table_name="runs")
