"""The schema, as SQLAlchemy Core tables on one MetaData. Migrations must produce exactly this.

barto's `output` and `exit_status` tables exist as views over these (created by the migrations),
so that barto users' `query` strings keep working.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import MEDIUMTEXT

from barto.store.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
Id = BigInteger().with_variant(Integer(), "sqlite")
Name = String(255)

workers = Table(
    "workers",
    metadata,
    Column("name", Name, primary_key=True),
    Column("version", String(64), nullable=False),
    Column("host", JSON, nullable=False),
    Column("session", String(36), nullable=True),
    Column("connected", Boolean, nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("worker", Name, nullable=False),
    Column("name", Name, nullable=False),
    Column("calendar", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("cmds", JSON, nullable=False),
    Column("env", JSON, nullable=False),
    Column("cwd", Text, nullable=True),
    Column("timeout_seconds", Float, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("source", String(16), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("definition", JSON, nullable=True),  # the whole schedule as given (API schedules)
    UniqueConstraint("worker", "name"),
)

# What an operator set on a schedule (pause/resume); survives restarts and config reloads.
schedule_state = Table(
    "schedule_state",
    metadata,
    Column("worker", Name, primary_key=True),
    Column("name", Name, primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("schedule", Name, nullable=False),
    Column("worker", Name, nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("exit_code", BigInteger().with_variant(Integer(), "sqlite"), nullable=True),  # NTSTATUS needs 64 bits
    Column("signal", Integer, nullable=True),
    Column("lines", Integer, nullable=False),
    Column("session", String(36), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("dispatched_at", UtcDateTime, nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    # Invariant 1: one run per (schedule, worker, slot, attempt), decided by the database.
    UniqueConstraint("schedule", "worker", "slot", "attempt"),
    Index(None, "worker", "schedule", "slot"),
    Index(None, "state", "finished_at"),
    Index(None, "created_at"),
    Index(None, "slot"),  # newest first, without sorting them all (runs)
    Index(None, "state", "slot"),  # newest of one state first (failed, runs --state)
    sqlite_autoincrement=True,  # an id is never given twice, even after the newest runs are deleted
)

# A line is at most 64 KiB of output, and up to four times that once escaped: MariaDB's TEXT
# holds 65,535 bytes (and cuts the rest without strict mode), MEDIUMTEXT 16 MiB.
LineText = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")

run_output = Table(
    "run_output",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("stream", String(6), nullable=False),
    Column("ts", UtcDateTime, nullable=False),
    Column("data", LineText, nullable=False),
    # barto.model.CONTINUES | ESCAPED: a piece of a longer line; escaped bytes (NUL, not UTF-8).
    Column("flags", SmallInteger, nullable=False, server_default="0"),
    # Ingest is idempotent on (run, seq): a resent line is ignored.
    UniqueConstraint("run_id", "seq"),
    Index(None, "ts"),
)

# State changes of the programs workers supervise (barto-cli programs events); kept as long as
# the longest-kept runs (retention).
program_events = Table(
    "program_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("worker", Name, nullable=False),
    Column("name", Name, nullable=False),  # the process
    Column("program", Name, nullable=False),
    Column("state", String(16), nullable=False),
    Column("previous", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("pid", Integer, nullable=True),
    Column("description", Text, nullable=False),
    Column("exit_status", Integer, nullable=True),
    Column("suppressed", Integer, nullable=False),
    Index(None, "worker", "at"),
    Index(None, "at"),
)

# High availability: who leads. One row per lease ("scheduler"); the holder bumps ``version`` on
# every renewal, and a standby takes over only after seeing the same version for a whole lease
# (measured on its own monotonic clock, so clocks of different machines never meet).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(36), nullable=True),  # an instance id; NULL when released
    Column("version", BigInteger, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("renewed_at", UtcDateTime, nullable=False),
)

# Every bartos sharing the database, refreshed while it runs (barto-cli info).
instances = Table(
    "instances",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Name, nullable=False),
    Column("url", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)

# Alerts (docs/alerts.md): one row per event, alert and channel, written before it is sent and
# kept while it is retried, so a restart or a failover delivers it (at least once). The unique
# key makes an event found twice (by a new leader looking back) one row.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert", Name, nullable=False),  # [alerts.<name>]
    Column("channel", String(16), nullable=False),  # webhook, email, command
    Column("key", String(255), nullable=False),  # the event, e.g. failed:run:42
    Column("event", String(32), nullable=False),
    Column("subject", Text, nullable=False),  # worker/schedule, worker, or worker/program
    Column("payload", Text, nullable=False),  # the event as JSON, as sent
    Column("state", String(16), nullable=False),  # pending, sent, throttled, failed
    Column("attempts", Integer, nullable=False),
    Column("suppressed", Integer, nullable=False),  # throttled events this one also reports
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("alert", "channel", "key"),
    Index(None, "state", "next_at"),
    Index(None, "alert", "channel", "created_at"),
    Index(None, "created_at"),
    sqlite_autoincrement=True,
)

# barto's own table names, as views over ours (made by the migrations), for barto's queries.
VIEWS = ("output", "exit_status")
