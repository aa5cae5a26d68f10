"""SBP account links for autopay (T-Bank AddAccountQr / pay-and-link, LINKACCOUNT notices).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_NOW = sa.text("timezone('utc', now())")


def upgrade() -> None:
    op.create_table(
        "sbp_account_links",
        sa.Column("request_key", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("account_token", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="NEW", nullable=False),
        sa.Column("payment_id", sa.Text(), nullable=True),
        sa.Column("consent_version", sa.Text(), nullable=False),
        sa.Column("consented_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('NEW', 'PROCESSING', 'ACTIVE', 'INACTIVE')",
            name=op.f("ck_sbp_account_links_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sbp_account_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_key", name=op.f("pk_sbp_account_links")),
    )
    op.create_index("ix_sbp_account_links_user_id", "sbp_account_links", ["user_id"])


def downgrade() -> None:
    op.drop_table("sbp_account_links")
