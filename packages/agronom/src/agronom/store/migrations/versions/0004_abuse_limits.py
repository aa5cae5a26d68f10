"""Abuse limits: per-user rate limits shared by every API process, and the index that finds
a photo sent again (same user, same Telegram ``file_unique_id``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("tat", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_rate_limits_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "action", name="pk_rate_limits"),
    )
    op.create_index("ix_photos_user_id_file_unique_id", "photos", ["user_id", "file_unique_id"])


def downgrade() -> None:
    op.drop_index("ix_photos_user_id_file_unique_id", table_name="photos")
    op.drop_table("rate_limits")
