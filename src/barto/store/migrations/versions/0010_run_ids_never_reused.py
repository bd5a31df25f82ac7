"""SQLite: a run id is never given twice. Without AUTOINCREMENT SQLite takes the largest id
plus one, so after the newest runs were deleted (``clients forget --with-runs``) the next run
got an id that a worker's outbox, a log or a user's notes may still mean the old run by.
PostgreSQL's and MariaDB's sequences never go back; nothing changes there.

SQLite cannot add AUTOINCREMENT to a table, so ``runs`` is built again and its rows copied, ids
kept. The views that read it are dropped around the change (SQLite refuses to rename a table
under a view that names a missing one). Foreign keys are off while this runs (store.migrate),
so dropping the old table cascades into nothing.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from barto.store.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The views as 0001 created them (a migration keeps its own copy).
VIEWS = {
    "output": (
        "SELECT o.id AS id, o.ts AS timestamp, r.session AS bartoc_uuid, r.worker AS bartoc_name, "
        "r.uuid AS cmd_uuid, r.schedule AS cmd_name, o.stream AS kind, o.data AS data "
        "FROM run_output o JOIN runs r ON r.id = o.run_id"
    ),
    "exit_status": (
        "SELECT r.id AS id, r.finished_at AS timestamp, r.uuid AS cmd_uuid, r.exit_code AS exit_code, "
        "CASE WHEN r.state = 'succeeded' THEN 1 ELSE 0 END AS success "
        "FROM runs r WHERE r.finished_at IS NOT NULL"
    ),
}
INDEXES = {
    "ix_runs_worker_schedule_slot": ["worker", "schedule", "slot"],
    "ix_runs_state_finished_at": ["state", "finished_at"],
    "ix_runs_created_at": ["created_at"],
    "ix_runs_slot": ["slot"],
    "ix_runs_state_slot": ["state", "slot"],
}


def _runs(name: str, *, autoincrement: bool) -> sa.Table:
    """``runs`` as of this revision."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("schedule", sa.String(255), nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("slot", UtcDateTime, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("signal", sa.Integer, nullable=True),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("session", sa.String(36), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("dispatched_at", UtcDateTime, nullable=True),
        sa.Column("started_at", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("uuid", name="uq_runs_uuid"),
        sa.UniqueConstraint("schedule", "worker", "slot", "attempt", name="uq_runs_schedule_worker_slot_attempt"),
        sqlite_autoincrement=autoincrement,
    )


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
    new = _runs("runs_new", autoincrement=autoincrement)
    new.create(bind)
    columns = ", ".join(f'"{c.name}"' for c in new.columns)
    op.execute(f"INSERT INTO runs_new ({columns}) SELECT {columns} FROM runs")
    op.drop_table("runs")
    op.rename_table("runs_new", "runs")
    for index, on in INDEXES.items():
        op.create_index(index, "runs", on)
    for view, body in VIEWS.items():
        op.execute(f"CREATE VIEW {view} AS {body}")
