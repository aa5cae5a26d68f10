"""Shared provider rate limits.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_rate_limits",
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_rate_limits")),
    )


def downgrade() -> None:
    op.drop_table("provider_rate_limits")
