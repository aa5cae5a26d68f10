"""The Transform stage: media files, analyses, mentions, parser versions.

- ``media``: the file behind a CDN link once downloaded (``object_key``, content addressed,
  ``content_type``, ``bytes``), where the download stands (``fetch_status`` pending | stored |
  expired | failed, ``fetch_attempts``, ``fetch_error``, ``fetched_at``), and when the link
  expires (``url_expires_at``, from the link itself). Existing rows start ``pending``.
- ``analyses``: one per analysed subject (a media file, a caption, a comment) and kind (image,
  video, text), with the analysis service's job id, status, error, result and versions.
- ``mentions``: ``@handles`` in captions, comments or on screen, resolved to stored profiles.
- ``parser_version`` on profiles, posts and comments: which parser normalized the row from its
  raw payload (``sm-core reprocess`` rebuilds rows an older parser wrote).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = "status IN ('unsubmitted', 'pending', 'processing')"


def _now(name: str) -> sa.Column[datetime]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _text(name: str, default: str = "") -> sa.Column[str]:
    return sa.Column(name, sa.Text(), server_default=sa.text(f"'{default}'"), nullable=False)


def upgrade() -> None:
    op.add_column("media", sa.Column("url_expires_at", sa.DateTime(timezone=True)))
    op.add_column("media", _text("fetch_status", "pending"))
    op.add_column(
        "media",
        sa.Column("fetch_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("media", sa.Column("fetch_error", sa.Text()))
    op.add_column("media", sa.Column("fetched_at", sa.DateTime(timezone=True)))
    op.add_column("media", sa.Column("object_key", sa.Text()))
    op.add_column("media", _text("content_type"))
    op.add_column("media", sa.Column("bytes", sa.BigInteger()))
    op.create_check_constraint(
        "fetch_status", "media", "fetch_status IN ('pending', 'stored', 'expired', 'failed')"
    )
    op.create_index(
        "ix_media_fetch_pending",
        "media",
        ["post_id"],
        postgresql_where=sa.text("fetch_status = 'pending'"),
    )
    for table in ("social_profiles", "posts", "comments"):
        op.add_column(table, _text("parser_version"))

    op.create_table(
        "analyses",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        _text("status", "unsubmitted"),
        sa.Column("remote_job_id", sa.Text()),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _now("next_check_at"),
        sa.Column("error_code", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("retryable", sa.Boolean()),
        sa.Column("result", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("versions", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("job_call_id", sa.BigInteger()),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        _now("created_at"),
        _now("updated_at"),
        sa.UniqueConstraint("subject_type", "subject_id", "kind"),
        sa.CheckConstraint(
            "status IN ('unsubmitted', 'pending', 'processing', 'done', 'failed')", name="status"
        ),
    )
    op.create_index(
        "ix_analyses_open", "analyses", ["next_check_at"], postgresql_where=sa.text(OPEN)
    )
    op.create_index("ix_analyses_remote", "analyses", ["remote_job_id"])

    op.create_table(
        "mentions",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "post_id",
            sa.BigInteger(),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("comment_id", sa.BigInteger(), sa.ForeignKey("comments.id", ondelete="CASCADE")),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("handle", sa.Text(), nullable=False),
        sa.Column(
            "mentioned_profile_id",
            sa.BigInteger(),
            sa.ForeignKey("social_profiles.id", ondelete="SET NULL"),
        ),
        _now("created_at"),
        sa.UniqueConstraint(
            "post_id", "comment_id", "source", "handle", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_index("ix_mentions_profile", "mentions", ["mentioned_profile_id"])


def downgrade() -> None:
    op.drop_table("mentions")
    op.drop_table("analyses")
    for table in ("social_profiles", "posts", "comments"):
        op.drop_column(table, "parser_version")
    op.drop_index("ix_media_fetch_pending", table_name="media")
    op.drop_constraint("ck_media_fetch_status", "media", type_="check")
    for column in (
        "bytes",
        "content_type",
        "object_key",
        "fetched_at",
        "fetch_error",
        "fetch_attempts",
        "fetch_status",
        "url_expires_at",
    ):
        op.drop_column("media", column)
