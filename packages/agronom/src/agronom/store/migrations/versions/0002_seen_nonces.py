"""Nonces of signed requests, to refuse replays (bot requests, partner orders).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_nonces",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "nonce", name="pk_seen_nonces"),
    )
    op.create_index("ix_seen_nonces_expires_at", "seen_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_table("seen_nonces")
