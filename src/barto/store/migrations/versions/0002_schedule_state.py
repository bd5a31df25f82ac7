"""Paused schedules: the state an operator set, kept across restarts and reloads.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from barto.store.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_state",
        sa.Column("worker", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("worker", "name", name="pk_schedule_state"),
    )


def downgrade() -> None:
    op.drop_table("schedule_state")
