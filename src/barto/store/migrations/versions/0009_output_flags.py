"""Output lines carry flags: a piece of a longer line (continued by the next), escaped bytes.
On MariaDB a line's text becomes MEDIUMTEXT: TEXT holds 65,535 bytes, less than one 64 KiB
piece, and cut the rest of it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("run_output", sa.Column("flags", sa.SmallInteger, nullable=False, server_default="0"))
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column("run_output", "data", existing_nullable=False, type_=MEDIUMTEXT(), existing_type=sa.Text())


def downgrade() -> None:
    with op.batch_alter_table("run_output") as batch:
        batch.drop_column("flags")
