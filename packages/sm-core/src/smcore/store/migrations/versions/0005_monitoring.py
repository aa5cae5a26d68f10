"""Monitoring: follow history as events, pass coverage, history frontiers, quarantine, batches.

- ``follow_events``: every follow and unfollow observation, with the window it happened in.
- ``follow_passes``: one row per follower/following pass (expected, reached, complete).
- ``history_frontiers``: where a profile's history backfill stands (cursor, complete).
- ``quarantined_items``: items a provider sent malformed, with their raw payload and reason.
- ``subscriptions.last_seen_at``, ``posts.pinned`` / ``comments_synced_at``,
  ``sync_schedules.refresh_days``,
  ``social_profiles.views_count``, ``job_calls.parent_job_call_id`` (a batch's children).
- One metric snapshot per subject per job.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("social_profiles", sa.Column("views_count", sa.BigInteger(), nullable=True))
    op.add_column(
        "posts", sa.Column("pinned", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("posts", sa.Column("comments_synced_at", sa.DateTime(timezone=True)))
    op.add_column("subscriptions", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.add_column("sync_schedules", sa.Column("refresh_days", sa.Double()))
    op.add_column(
        "job_calls",
        sa.Column(
            "parent_job_call_id",
            sa.BigInteger(),
            sa.ForeignKey("job_calls.id", ondelete="CASCADE"),
            nullable=True,
        ),
    )
    op.create_index("ix_job_calls_parent", "job_calls", ["parent_job_call_id", "id"], unique=False)
    # Several snapshots of one subject by one job (an early prototype wrote two): keep the last.
    op.execute(
        "DELETE FROM metric_snapshots a USING metric_snapshots b WHERE a.subject_type = "
        "b.subject_type AND a.subject_id = b.subject_id AND a.job_call_id = b.job_call_id "
        "AND a.id < b.id"
    )
    op.create_index(
        "uq_metric_snapshots_subject_job",
        "metric_snapshots",
        ["subject_type", "subject_id", "job_call_id"],
        unique=True,
    )
    op.create_table(
        "follow_events",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.BigInteger(),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "social_profile_id",
            sa.BigInteger(),
            sa.ForeignKey("social_profiles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True)),
        sa.Column("job_call_id", sa.BigInteger()),
        sa.CheckConstraint("kind IN ('follow', 'unfollow')", name="ck_follow_events_kind"),
    )
    op.create_index(
        "ix_follow_events_profile",
        "follow_events",
        ["social_profile_id", "direction", "observed_at"],
    )
    op.create_index("ix_follow_events_subscription", "follow_events", ["subscription_id"])
    op.create_table(
        "follow_passes",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "social_profile_id",
            sa.BigInteger(),
            sa.ForeignKey("social_profiles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("job_call_id", sa.BigInteger(), nullable=False),
        sa.Column("expected", sa.BigInteger()),
        sa.Column("reached", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("unfollows", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.UniqueConstraint(
            "social_profile_id", "direction", "job_call_id", name="uq_follow_passes_job"
        ),
    )
    op.create_table(
        "history_frontiers",
        sa.Column(
            "social_profile_id",
            sa.BigInteger(),
            sa.ForeignKey("social_profiles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream", sa.Text(), primary_key=True),
        sa.Column("cursor", sa.Text()),
        sa.Column("provider", sa.Text()),
        sa.Column("complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("pages", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    op.create_table(
        "quarantined_items",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "job_call_id",
            sa.BigInteger(),
            sa.ForeignKey("job_calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "service_call_id",
            sa.BigInteger(),
            sa.ForeignKey("service_calls.id", ondelete="CASCADE"),
        ),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("ext_id", sa.Text()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    op.create_index("ix_quarantined_items_job", "quarantined_items", ["job_call_id"])


def downgrade() -> None:
    op.drop_table("quarantined_items")
    op.drop_table("history_frontiers")
    op.drop_table("follow_passes")
    op.drop_table("follow_events")
    op.drop_index("uq_metric_snapshots_subject_job", "metric_snapshots")
    op.drop_index("ix_job_calls_parent", "job_calls")
    op.drop_column("job_calls", "parent_job_call_id")
    op.drop_column("sync_schedules", "refresh_days")
    op.drop_column("subscriptions", "last_seen_at")
    op.drop_column("posts", "comments_synced_at")
    op.drop_column("posts", "pinned")
    op.drop_column("social_profiles", "views_count")
