"""The service's tables (SQLAlchemy Core), its engine and its migrations (Alembic, applied at
start-up by ``trendflow serve`` and ``trendflow worker``).

``jobs`` holds one row per analysis job. A job's terminal states (``done``, ``failed``) never
change: every status UPDATE says ``WHERE status IN ('pending', 'processing')``. The seed's
idempotency key is unique among the jobs that count, that is all but those that failed with a
retryable error (posting such a job again starts a new one). ``job_request_keys`` maps each
``Idempotency-Key`` header a client sent to its job and the hash of the body it came with.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack import migrations

MIGRATIONS = Path(__file__).parent / "migrations"
STATUSES = ("pending", "processing", "done", "failed")
LIVE = ("pending", "processing")
TERMINAL = ("done", "failed")
KINDS = ("image", "video", "text", "prediction")

metadata = sa.MetaData(naming_convention=migrations.NAMING)
_NOW = sa.text("now()")

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
    sa.Column("platform", sa.Text(), nullable=False),
    sa.Column("external_id", sa.Text(), nullable=False),
    sa.Column("idempotency_key", sa.Text(), nullable=False),
    sa.Column("config_hash", sa.Text(), nullable=False),
    sa.Column("versions", JSONB(), nullable=False),
    # What the worker needs: the media or texts, the resolved pipeline config, the brands. The
    # texts are dropped when the job ends (raw text is not kept).
    sa.Column("spec", JSONB(), nullable=False),
    sa.Column("webhook_url", sa.Text(), nullable=True),
    sa.Column("progress", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("error", JSONB(), nullable=True),
    # A failure a later retry may cure: such a job no longer holds its idempotency key.
    sa.Column("retryable_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("result", JSONB(), nullable=True),
    sa.Column("run_dir", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("webhook_delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("webhook_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(f"status IN {STATUSES}", name="status"),
    sa.CheckConstraint(f"kind IN {KINDS}", name="kind"),
    sa.CheckConstraint(
        "(status IN ('done', 'failed')) = (finished_at IS NOT NULL)", name="finished_when_terminal"
    ),
    sa.Index(
        "uq_jobs_idempotency_key_live",
        "idempotency_key",
        unique=True,
        postgresql_where=sa.text("NOT retryable_failure"),
    ),
    sa.Index("ix_jobs_finished_at", "finished_at"),
    sa.Index("ix_jobs_status", "status"),
)

job_request_keys = sa.Table(
    "job_request_keys",
    metadata,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("body_hash", sa.Text(), nullable=False),
    sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    sa.Index("ix_job_request_keys_job_id", "job_id"),
)


def async_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    return migrations.async_engine(url, pool_size=pool_size)


# pg_advisory_lock key of the migrations: "trendflow" in ASCII, as a bigint.
_MIGRATION_LOCK = int.from_bytes(b"trendflo", "big") >> 1


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (idempotent).

    ``serve`` and ``worker`` both migrate at start-up: an advisory lock makes processes that
    start together on a new database take turns instead of creating the tables twice.
    """
    with psycopg.connect(url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            migrations.upgrade(url, MIGRATIONS, revision)
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def downgrade(url: str, revision: str = "base") -> None:
    migrations.downgrade(url, MIGRATIONS, revision)


def database_name(url: str) -> str:
    """The database a URL names (the task queue is per database: tests share one Temporal)."""
    return sa.make_url(migrations.sqlalchemy_url(url)).database or "trendflow"
