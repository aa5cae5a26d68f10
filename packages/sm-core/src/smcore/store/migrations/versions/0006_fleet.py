"""The fleet: ``sync_schedules`` is the one list of monitored accounts, and the dispatcher's state.

- An account is keyed by platform + external id once known (a username can change); before its
  first sync an Instagram account may be known by its username only.
- ``target`` becomes ``username`` / ``ext_id``: YouTube targets were channel ids, Instagram
  targets were usernames.
- Dispatcher state: when the account is due, the sync in flight, the last result, how many
  syncs failed in a row (the backoff), how late the last one started.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLE = "sync_schedules"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column("username", sa.Text(), nullable=True))
    op.add_column(_TABLE, sa.Column("ext_id", sa.Text(), nullable=True))
    op.execute(
        "UPDATE sync_schedules SET ext_id = target WHERE platform = 'youtube';"
        "UPDATE sync_schedules SET username = target WHERE platform <> 'youtube'"
    )
    op.drop_constraint("uq_sync_schedules_platform_target", _TABLE, type_="unique")
    op.drop_column(_TABLE, "target")
    op.create_check_constraint(
        op.f("ck_sync_schedules_account"), _TABLE, "username IS NOT NULL OR ext_id IS NOT NULL"
    )
    op.create_index(
        "uq_sync_schedules_ext_id",
        _TABLE,
        ["platform", "ext_id"],
        unique=True,
        postgresql_where=sa.text("ext_id IS NOT NULL"),
    )
    op.create_index(
        "uq_sync_schedules_username",
        _TABLE,
        ["platform", "username"],
        unique=True,
        postgresql_where=sa.text("ext_id IS NULL"),
    )
    for column in (
        sa.Column(
            "next_due_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("running_job_call_id", sa.BigInteger(), nullable=True),
        sa.Column("last_job_call_id", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_lag_s", sa.Double(), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
    ):
        op.add_column(_TABLE, column)
    # The dispatcher's question, "which idle accounts are due first", read in index order.
    op.create_index(
        "ix_sync_schedules_due",
        _TABLE,
        ["platform", "next_due_at"],
        postgresql_where=sa.text("enabled AND running_job_call_id IS NULL"),
    )
    op.create_index(
        "ix_sync_schedules_running",
        _TABLE,
        ["running_job_call_id"],
        postgresql_where=sa.text("running_job_call_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_sync_schedules_running", _TABLE)
    op.drop_index("ix_sync_schedules_due", _TABLE)
    for name in (
        "failures",
        "last_lag_s",
        "last_finished_at",
        "last_started_at",
        "last_error",
        "last_status",
        "last_job_call_id",
        "running_job_call_id",
        "next_due_at",
    ):
        op.drop_column(_TABLE, name)
    op.drop_index("uq_sync_schedules_username", _TABLE)
    op.drop_index("uq_sync_schedules_ext_id", _TABLE)
    op.drop_constraint("ck_sync_schedules_account", _TABLE, type_="check")
    op.add_column(_TABLE, sa.Column("target", sa.Text(), nullable=True))
    op.execute("UPDATE sync_schedules SET target = coalesce(username, ext_id)")
    op.alter_column(_TABLE, "target", nullable=False)
    op.drop_column(_TABLE, "ext_id")
    op.drop_column(_TABLE, "username")
    op.create_unique_constraint("uq_sync_schedules_platform_target", _TABLE, ["platform", "target"])
