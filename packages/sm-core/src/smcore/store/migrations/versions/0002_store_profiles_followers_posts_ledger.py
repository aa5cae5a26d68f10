"""Store: profiles, followers and subscriptions, posts, media, comments, likes, metrics, ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:32:18.217269
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("full_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("avatar", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("is_private", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "raw_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followers")),
        sa.UniqueConstraint("platform", "ext_id", name=op.f("uq_followers_platform_ext_id")),
    )
    op.create_table(
        "metric_snapshots",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("subject_type", sa.Text(), server_default=sa.text("'profile'"), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "captured_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("follows", sa.BigInteger(), nullable=True),
        sa.Column("posts", sa.BigInteger(), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("engagement_rate", sa.Double(), nullable=True),
        sa.Column("job_call_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "subject_type IN ('profile', 'post')", name=op.f("ck_metric_snapshots_subject_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_snapshots")),
    )
    op.create_index(
        "ix_metric_snapshots_subject",
        "metric_snapshots",
        ["subject_type", "subject_id", "captured_at"],
        unique=False,
    )
    op.create_table(
        "social_profiles",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("full_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("bio", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("avatar", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("url", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("followers_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("follows_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("posts_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("engagement_rate", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_private", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "raw_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_profiles")),
        sa.UniqueConstraint("platform", "ext_id", name=op.f("uq_social_profiles_platform_ext_id")),
    )
    op.create_table(
        "sync_schedules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), server_default=sa.text("'all'"), nullable=False),
        sa.Column(
            "interval_seconds", sa.Integer(), server_default=sa.text("86400"), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_schedules")),
        sa.UniqueConstraint("platform", "target", name=op.f("uq_sync_schedules_platform_target")),
    )
    op.create_table(
        "job_calls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), server_default=sa.text("'sync'"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("platform", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "result_summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("workflow_id", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'partial', 'skipped')",
            name=op.f("ck_job_calls_status"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["social_profiles.id"],
            name=op.f("fk_job_calls_subject_id_social_profiles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_calls")),
    )
    op.create_index(op.f("ix_job_calls_subject_id"), "job_calls", ["subject_id"], unique=False)
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("social_profile_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("kind", sa.Text(), server_default=sa.text("'photo'"), nullable=False),
        sa.Column("title", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("caption", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("likes_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("comments_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("views_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "raw_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["social_profile_id"],
            ["social_profiles.id"],
            name=op.f("fk_posts_social_profile_id_social_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        sa.UniqueConstraint("platform", "ext_id", name=op.f("uq_posts_platform_ext_id")),
    )
    op.create_index(
        "ix_posts_profile_taken", "posts", ["social_profile_id", "taken_at"], unique=False
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("social_profile_id", sa.BigInteger(), nullable=False),
        sa.Column("follower_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.Text(), server_default=sa.text("'follower'"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "followed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("unfollowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_job_call_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "direction IN ('follower', 'following')", name=op.f("ck_subscriptions_direction")
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["followers.id"],
            name=op.f("fk_subscriptions_follower_id_followers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["social_profile_id"],
            ["social_profiles.id"],
            name=op.f("fk_subscriptions_social_profile_id_social_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "social_profile_id",
            "follower_id",
            "direction",
            name=op.f("uq_subscriptions_social_profile_id_follower_id_direction"),
        ),
    )
    op.create_index(
        op.f("ix_subscriptions_follower_id"), "subscriptions", ["follower_id"], unique=False
    )
    op.create_index(
        "ix_subscriptions_pass",
        "subscriptions",
        ["social_profile_id", "direction", "last_seen_job_call_id"],
        unique=False,
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("author_ext_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("author_username", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("author_name", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("text", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("likes_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("replies_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "raw_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_comments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        sa.UniqueConstraint("platform", "ext_id", name=op.f("uq_comments_platform_ext_id")),
    )
    op.create_index("ix_comments_post", "comments", ["post_id"], unique=False)
    op.create_table(
        "likes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("liker_ext_id", sa.Text(), nullable=False),
        sa.Column("liker_username", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_likes_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_likes")),
        sa.UniqueConstraint("post_id", "liker_ext_id", name=op.f("uq_likes_post_id_liker_ext_id")),
    )
    op.create_table(
        "media",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("media_type", sa.Text(), server_default=sa.text("'photo'"), nullable=False),
        sa.Column("url", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("video_url", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("width", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("height", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_media_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("post_id", "ext_id", name=op.f("uq_media_post_id_ext_id")),
    )
    op.create_table(
        "service_calls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job_call_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_service_call_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("stream", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "cursor",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "result_summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'partial', 'skipped')",
            name=op.f("ck_service_calls_status"),
        ),
        sa.ForeignKeyConstraint(
            ["job_call_id"],
            ["job_calls.id"],
            name=op.f("fk_service_calls_job_call_id_job_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_service_call_id"],
            ["service_calls.id"],
            name=op.f("fk_service_calls_parent_service_call_id_service_calls"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_calls")),
    )
    op.create_index(
        "ix_service_calls_stream",
        "service_calls",
        ["job_call_id", "stream", "subject_id", "id"],
        unique=False,
    )
    op.create_table(
        "raw_payloads",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("service_call_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("method", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "request",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["service_call_id"],
            ["service_calls.id"],
            name=op.f("fk_raw_payloads_service_call_id_service_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_payloads")),
    )
    op.create_index(
        op.f("ix_raw_payloads_service_call_id"), "raw_payloads", ["service_call_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_raw_payloads_service_call_id"), table_name="raw_payloads")
    op.drop_table("raw_payloads")
    op.drop_index("ix_service_calls_stream", table_name="service_calls")
    op.drop_table("service_calls")
    op.drop_table("media")
    op.drop_table("likes")
    op.drop_index("ix_comments_post", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_subscriptions_pass", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_follower_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_posts_profile_taken", table_name="posts")
    op.drop_table("posts")
    op.drop_index(op.f("ix_job_calls_subject_id"), table_name="job_calls")
    op.drop_table("job_calls")
    op.drop_table("sync_schedules")
    op.drop_table("social_profiles")
    op.drop_index("ix_metric_snapshots_subject", table_name="metric_snapshots")
    op.drop_table("metric_snapshots")
    op.drop_table("followers")
