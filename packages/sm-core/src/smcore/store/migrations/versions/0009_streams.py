"""Every stream the seeds name: reels, stories, highlights, likers, comment replies, TikTok.

- ``posts.product_type`` tells a reel (``clips``), a story (``story``), a feed post and a TikTok
  video apart; ``shares_count`` and ``saves_count`` hold TikTok's share and "collect" counts;
  ``expires_at`` is a story's expiry (a story stays stored after it vanishes).
- ``posts.likers_listed`` / ``likers_total`` / ``likers_synced_at``: the coverage of a post's
  likers listing (RocketAPI lists at most 1,000 and has no pagination).
- ``comments.parent_id``: the comment a reply answers (replies live beside top-level comments).
- ``comments.author_id`` and ``likes.liker_id`` link authors and likers to the accounts table
  (``followers``), so one person's activity across profiles is one join away.
- ``highlights`` and ``highlight_items``: a profile's story highlights and the stories in them.
- ``social_profiles.sec_uid``: TikTok's secure user id, which its listings are asked by.
- ``metric_snapshots.shares``: a TikTok video's shares over time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _now(name: str) -> sa.Column[datetime]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    zero = sa.text("0")
    op.add_column(
        "posts",
        sa.Column("product_type", sa.Text(), server_default=sa.text("''"), nullable=False),
    )
    for column in ("shares_count", "saves_count"):
        op.add_column(
            "posts", sa.Column(column, sa.BigInteger(), server_default=zero, nullable=False)
        )
    op.add_column("posts", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("posts", sa.Column("likers_listed", sa.Integer()))
    op.add_column("posts", sa.Column("likers_total", sa.BigInteger()))
    op.add_column("posts", sa.Column("likers_synced_at", sa.DateTime(timezone=True)))
    # Reels and stories of a profile, without reading its feed posts.
    op.create_index(
        "ix_posts_profile_product",
        "posts",
        ["social_profile_id", "product_type", "taken_at"],
    )

    op.add_column(
        "comments",
        sa.Column(
            "parent_id",
            sa.BigInteger(),
            sa.ForeignKey("comments.id", name="fk_comments_parent_id_comments", ondelete="CASCADE"),
        ),
    )
    op.add_column(
        "comments",
        sa.Column(
            "author_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "followers.id", name="fk_comments_author_id_followers", ondelete="SET NULL"
            ),
        ),
    )
    op.create_index("ix_comments_parent", "comments", ["parent_id"])
    op.create_index("ix_comments_author", "comments", ["author_id"])

    op.add_column(
        "likes",
        sa.Column(
            "liker_id",
            sa.BigInteger(),
            sa.ForeignKey("followers.id", name="fk_likes_liker_id_followers", ondelete="SET NULL"),
        ),
    )
    op.add_column("likes", sa.Column("job_call_id", sa.BigInteger()))
    op.add_column("likes", _now("updated_at"))
    op.create_index("ix_likes_liker", "likes", ["liker_id"])

    op.add_column("social_profiles", sa.Column("sec_uid", sa.Text()))
    op.add_column("metric_snapshots", sa.Column("shares", sa.BigInteger()))

    op.create_table(
        "highlights",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "social_profile_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "social_profiles.id",
                name="fk_highlights_social_profile_id_social_profiles",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("media_count", sa.Integer()),
        sa.Column("cover_url", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("raw_data", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.UniqueConstraint(
            "social_profile_id", "ext_id", name="uq_highlights_social_profile_id_ext_id"
        ),
    )
    op.create_table(
        "highlight_items",
        sa.Column(
            "highlight_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "highlights.id",
                name="fk_highlight_items_highlight_id_highlights",
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column(
            "post_id",
            sa.BigInteger(),
            sa.ForeignKey("posts.id", name="fk_highlight_items_post_id_posts", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _now("created_at"),
    )
    op.create_index("ix_highlight_items_post", "highlight_items", ["post_id"])


def downgrade() -> None:
    op.drop_table("highlight_items")
    op.drop_table("highlights")
    op.drop_column("metric_snapshots", "shares")
    op.drop_column("social_profiles", "sec_uid")
    op.drop_index("ix_likes_liker", "likes")
    for column in ("updated_at", "job_call_id", "liker_id"):
        op.drop_column("likes", column)
    op.drop_index("ix_comments_author", "comments")
    op.drop_index("ix_comments_parent", "comments")
    op.drop_column("comments", "author_id")
    op.drop_column("comments", "parent_id")
    op.drop_index("ix_posts_profile_product", "posts")
    for column in (
        "likers_synced_at",
        "likers_total",
        "likers_listed",
        "expires_at",
        "saves_count",
        "shares_count",
        "product_type",
    ):
        op.drop_column("posts", column)
