"""A post's likers and comments read in their pages' order: an index on ``(post_id,
created_at, id)`` for each, so a keyset page of a post with 200,000 likers reads its page from
the index instead of sorting every like of the post.

- ``likes``: ``ix_likes_post_time`` (new).
- ``comments``: ``ix_comments_post_time`` replaces ``ix_comments_post`` (its first column).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_likes_post_time", "likes", ["post_id", "created_at", "id"])
    op.create_index("ix_comments_post_time", "comments", ["post_id", "created_at", "id"])
    op.drop_index("ix_comments_post", table_name="comments")


def downgrade() -> None:
    op.create_index("ix_comments_post", "comments", ["post_id"])
    op.drop_index("ix_comments_post_time", table_name="comments")
    op.drop_index("ix_likes_post_time", table_name="likes")
