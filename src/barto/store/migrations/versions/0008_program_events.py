"""Supervised programs: their state changes, as workers report them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from barto.store.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "program_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("program", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("exit_status", sa.Integer, nullable=True),
        sa.Column("suppressed", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_program_events"),
    )
    op.create_index("ix_program_events_worker_at", "program_events", ["worker", "at"])
    op.create_index("ix_program_events_at", "program_events", ["at"])


def downgrade() -> None:
    op.drop_table("program_events")
