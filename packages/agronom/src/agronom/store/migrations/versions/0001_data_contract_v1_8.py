"""Data contract v1.8: users, photos, protocols, payments, partner_orders, photo_usage, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_NOW = sa.text("timezone('utc', now())")

ENUMS = {
    "payment_status": ("success", "fail", "cancel", "bank_error"),
    "photo_status": ("pending", "ok", "retrying", "failed"),
    "order_status": ("new", "processed", "cancelled"),
    "error_code": ("NO_LEAF", "LIMIT_EXCEEDED", "GPT_TIMEOUT", "BAD_REQUEST", "UNAUTHORIZED"),
}


def _enum(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)


def upgrade() -> None:
    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name).create(op.get_bind())

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tg_id", sa.BigInteger(), nullable=False),
        sa.Column("pro_expires_at", sa.DateTime(), nullable=True),
        sa.Column("autopay_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tg_id", name=op.f("uq_users_tg_id")),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=True),
        sa.Column("file_unique_id", sa.Text(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("crop", sa.Text(), nullable=True),
        sa.Column("disease", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Numeric(4, 3), nullable=True),
        sa.Column("retry_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", _enum("photo_status"), server_default="pending", nullable=False),
        sa.Column("ts", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint(
            "retry_attempts >= 0", name=op.f("ck_photos_retry_attempts_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_photos_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    op.create_index("ix_photos_user_id_ts", "photos", ["user_id", "ts"])
    op.create_index("ix_photos_ts", "photos", ["ts"])
    op.create_table(
        "protocols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("crop", sa.Text(), nullable=False),
        sa.Column("disease", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "steps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "products",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("safety_notes", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_protocols_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocols")),
        sa.UniqueConstraint("photo_id", name=op.f("uq_protocols_photo_id")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), server_default="RUB", nullable=False),
        sa.Column("status", _enum("payment_status"), nullable=False),
        sa.Column("provider", sa.Text(), server_default="SBP:Tinkoff", nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("autopay", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("autopay_binding_id", sa.Text(), nullable=True),
        sa.Column("prolong_months", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("external_id", "status", name="uq_payments_external_id_status"),
    )
    op.create_index("ix_payments_user_id", "payments", ["user_id"])
    op.create_table(
        "partner_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=True),
        sa.Column("price_kopeks", sa.Integer(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("status", _enum("order_status"), server_default="new", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["protocol_id"],
            ["protocols.id"],
            name=op.f("fk_partner_orders_protocol_id_protocols"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_partner_orders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_partner_orders_order_id")),
    )
    op.create_index("ix_partner_orders_user_id", "partner_orders", ["user_id"])
    op.create_table(
        "photo_usage",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", postgresql.CHAR(7), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("used >= 0", name=op.f("ck_photo_usage_used_non_negative")),
        sa.CheckConstraint(
            "month ~ '^[0-9]{4}-[0-9]{2}$'", name=op.f("ck_photo_usage_month_is_yyyy_mm")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_photo_usage_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "month", name="pk_photo_usage"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(), server_default=UTC_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_user_id_ts", "events", ["user_id", "ts"])
    op.create_index("ix_events_event_ts", "events", ["event", "ts"])


def downgrade() -> None:
    for table in (
        "events",
        "photo_usage",
        "partner_orders",
        "payments",
        "protocols",
        "photos",
        "users",
    ):
        op.drop_table(table)
    for name in reversed(ENUMS):
        postgresql.ENUM(name=name).drop(op.get_bind())
