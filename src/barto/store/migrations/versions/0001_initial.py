"""Workers, schedules, runs and their output, plus barto's `output` and `exit_status` as views.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from barto.store.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Name = sa.String(255)

OUTPUT_VIEW = (
    "SELECT o.id AS id, o.ts AS timestamp, r.session AS bartoc_uuid, r.worker AS bartoc_name, "
    "r.uuid AS cmd_uuid, r.schedule AS cmd_name, o.stream AS kind, o.data AS data "
    "FROM run_output o JOIN runs r ON r.id = o.run_id"
)
EXIT_STATUS_VIEW = (
    "SELECT r.id AS id, r.finished_at AS timestamp, r.uuid AS cmd_uuid, r.exit_code AS exit_code, "
    "CASE WHEN r.state = 'succeeded' THEN 1 ELSE 0 END AS success "
    "FROM runs r WHERE r.finished_at IS NOT NULL"
)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", Name, primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("host", sa.JSON, nullable=False),
        sa.Column("session", sa.String(36), nullable=True),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("first_seen", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_workers"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("worker", Name, nullable=False),
        sa.Column("name", Name, nullable=False),
        sa.Column("calendar", sa.Text, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("cmds", sa.JSON, nullable=False),
        sa.Column("env", sa.JSON, nullable=False),
        sa.Column("cwd", sa.Text, nullable=True),
        sa.Column("timeout_seconds", sa.Float, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("worker", "name", name="uq_schedules_worker_name"),
    )
    _create_runs()
    _create_run_output()
    op.execute(f"CREATE VIEW output AS {OUTPUT_VIEW}")
    op.execute(f"CREATE VIEW exit_status AS {EXIT_STATUS_VIEW}")


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("schedule", Name, nullable=False),
        sa.Column("worker", Name, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("uuid", name="uq_runs_uuid"),
        sa.UniqueConstraint("schedule", "worker", "slot", "attempt", name="uq_runs_schedule_worker_slot_attempt"),
    )
    op.create_index("ix_runs_worker_schedule_slot", "runs", ["worker", "schedule", "slot"])
    op.create_index("ix_runs_state_finished_at", "runs", ["state", "finished_at"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])


def _create_run_output() -> None:
    op.create_table(
        "run_output",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("stream", sa.String(6), nullable=False),
        sa.Column("ts", UtcDateTime, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_output"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_output_run_id_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "seq", name="uq_run_output_run_id_seq"),
    )
    op.create_index("ix_run_output_ts", "run_output", ["ts"])


def downgrade() -> None:
    op.execute("DROP VIEW exit_status")
    op.execute("DROP VIEW output")
    op.drop_table("run_output")
    op.drop_table("runs")
    op.drop_table("schedules")
    op.drop_table("workers")
