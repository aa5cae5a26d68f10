"""The daily export's metrics as a reporting table for Metabase (contract section 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_metrics",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("exported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", name="pk_daily_metrics"),
    )


def downgrade() -> None:
    op.drop_table("daily_metrics")
