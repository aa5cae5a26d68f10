"""SQLAlchemy 2 typed models: the tables of the data contract v1.8, section 3, exactly.

Types are the contract's: ``SERIAL`` keys, ``TIMESTAMP`` (without time zone: we store UTC),
``NUMERIC(4,3)`` confidence, ``CHAR(7)`` months. Where the contract leaves a table to us
(``protocols``, "unchanged" since earlier versions) its columns are designed here. Constraints
the contract implies are explicit: NOT NULL where a row means nothing without the value,
foreign keys for every arrow of its ER text, and one unique key per idempotency rule
(``payments (external_id, status)``: T-Bank's (PaymentId, Status); ``partner_orders.order_id``).

What happens to children when a user goes (DSR, section 8): photos, protocols, photo usage,
events, partner orders and SBP account links go with the user (``ON DELETE CASCADE``); payments
stay five years (402-FZ) with ``user_id`` set to NULL and the binding id cleared (pseudonymised).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import CHAR, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agronom.errors import ErrorCode
from devstack.migrations import NAMING

# The contract's TIMESTAMP columns hold UTC; now() alone would be the session's local time.
UTC_NOW = text("timezone('utc', now())")


class PaymentStatus(StrEnum):
    SUCCESS = "success"
    FAIL = "fail"
    CANCEL = "cancel"
    BANK_ERROR = "bank_error"


class PhotoStatus(StrEnum):
    PENDING = "pending"
    OK = "ok"
    RETRYING = "retrying"
    FAILED = "failed"


class OrderStatus(StrEnum):
    NEW = "new"
    PROCESSED = "processed"
    CANCELLED = "cancelled"


def _pg_enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(enum, name=name, values_callable=lambda members: [m.value for m in members])


PAYMENT_STATUS = _pg_enum(PaymentStatus, "payment_status")
PHOTO_STATUS = _pg_enum(PhotoStatus, "photo_status")
ORDER_STATUS = _pg_enum(OrderStatus, "order_status")
# No column of the contract uses error_code; the type exists for reports and SQL users.
ERROR_CODE = _pg_enum(ErrorCode, "error_code")
ENUMS = {
    "payment_status": PaymentStatus,
    "photo_status": PhotoStatus,
    "order_status": OrderStatus,
    "error_code": ErrorCode,
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tg_id: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)
    pro_expires_at: Mapped[datetime | None] = mapped_column(DateTime())
    autopay_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (
        Index("ix_photos_user_id_ts", "user_id", "ts"),
        Index("ix_photos_ts", "ts"),
        # The same Telegram photo from the same user again is answered from the stored one.
        Index("ix_photos_user_id_file_unique_id", "user_id", "file_unique_id"),
        CheckConstraint("retry_attempts >= 0", name="retry_attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    file_id: Mapped[str | None] = mapped_column(Text)
    file_unique_id: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    file_size: Mapped[int | None] = mapped_column(Integer)
    crop: Mapped[str | None] = mapped_column(Text)
    disease: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    retry_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    status: Mapped[PhotoStatus] = mapped_column(
        PHOTO_STATUS, nullable=False, server_default=PhotoStatus.PENDING.value
    )
    ts: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class Protocol(Base):
    """The treatment protocol of one diagnosed photo (1-1)."""

    __tablename__ = "protocols"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    crop: Mapped[str] = mapped_column(Text, nullable=False)
    disease: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    steps: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    products: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    safety_notes: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # T-Bank's (PaymentId, Status): a notification's effect happens once.
        UniqueConstraint("external_id", "status", name="uq_payments_external_id_status"),
        Index("ix_payments_user_id", "user_id"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="SET NULL")
    )
    amount: Mapped[int] = mapped_column(Integer, nullable=False)  # kopeks
    currency: Mapped[str] = mapped_column(Text, nullable=False, server_default="RUB")
    status: Mapped[PaymentStatus] = mapped_column(PAYMENT_STATUS, nullable=False)
    provider: Mapped[str] = mapped_column(Text, nullable=False, server_default="SBP:Tinkoff")
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    autopay: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    autopay_binding_id: Mapped[str | None] = mapped_column(Text)
    prolong_months: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime())


class PartnerOrder(Base):
    __tablename__ = "partner_orders"
    __table_args__ = (Index("ix_partner_orders_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    order_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    protocol_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("protocols.id", ondelete="SET NULL")
    )
    price_kopeks: Mapped[int] = mapped_column(Integer, nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[OrderStatus] = mapped_column(
        ORDER_STATUS, nullable=False, server_default=OrderStatus.NEW.value
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


class PhotoUsage(Base):
    __tablename__ = "photo_usage"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "month", name="pk_photo_usage"),
        CheckConstraint("used >= 0", name="used_non_negative"),
        CheckConstraint("month ~ '^[0-9]{4}-[0-9]{2}$'", name="month_is_yyyy_mm"),
    )

    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(CHAR(7))
    used: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime())


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_id_ts", "user_id", "ts"),
        Index("ix_events_event_ts", "event", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(Text, nullable=False)
    ts: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


class SeenNonce(Base):
    """A signed request's nonce, kept until its signature would have expired anyway: a replay
    inside the window finds its nonce here and is refused (bot requests, partner orders)."""

    __tablename__ = "seen_nonces"
    __table_args__ = (
        PrimaryKeyConstraint("scope", "nonce", name="pk_seen_nonces"),
        Index("ix_seen_nonces_expires_at", "expires_at"),
    )

    scope: Mapped[str] = mapped_column(Text)  # who signed: "bot", "partner"
    nonce: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)


class PaymentAttempt(Base):
    """A payment started at T-Bank (an ``Init`` that answered a ``PaymentId``) whose outcome
    is not known yet.

    Its notification settles it (``settled_at``); when none came, the reconcile job asks
    T-Bank (``GetState``) and applies the answer as the notification would have been applied.
    ``checked_at``: when it last asked. The rows go with the user.
    """

    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_user_id", "user_id"),
        Index(
            "ix_payment_attempts_unsettled",
            "checked_at",
            "created_at",
            postgresql_where=text("settled_at IS NULL"),
        ),
    )

    payment_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    order_id: Mapped[str] = mapped_column(Text, nullable=False)
    autopay: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime())
    settled_at: Mapped[datetime | None] = mapped_column(DateTime())


class SbpAccountLink(Base):
    """A customer's SBP account linked at T-Bank for autopay (``AddAccountQr``, or a recurrent
    ``Init`` + ``GetQr`` that pays and links at once).

    ``request_key`` is T-Bank's key of the link request; ``status`` the link's as T-Bank
    reports it (NEW → PROCESSING → ACTIVE | INACTIVE); ``account_token`` arrives with the
    ``LINKACCOUNT`` notification and is what ``ChargeQr`` charges. ``consent_version`` and
    ``consented_at`` record the autopay terms the user agreed to. The rows go with the user.
    """

    __tablename__ = "sbp_account_links"
    __table_args__ = (
        Index("ix_sbp_account_links_user_id", "user_id"),
        CheckConstraint(
            "status IN ('NEW', 'PROCESSING', 'ACTIVE', 'INACTIVE')", name="status_known"
        ),
    )

    request_key: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    account_token: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="NEW")
    payment_id: Mapped[str | None] = mapped_column(Text)  # the payment it was linked with
    consent_version: Mapped[str] = mapped_column(Text, nullable=False)
    consented_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False, server_default=UTC_NOW)


class DailyMetric(Base):
    """The daily export's metrics as rows Metabase can query (contract section 7:
    export_daily_metrics → Metabase), beside the CSV in the object store. One row per day and
    metric; a re-run of a day replaces its rows. No personal data: counts only."""

    __tablename__ = "daily_metrics"
    __table_args__ = (PrimaryKeyConstraint("day", "metric", name="pk_daily_metrics"),)

    day: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(Text)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    exported_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)


class RateLimit(Base):
    """One user's rate limit on one action, kept in PostgreSQL so that every API process shares
    it: a token bucket written as GCRA, whose whole state is one timestamp, the "theoretical
    arrival time" (``tat``) of the next request if requests came at the steady rate. See
    :mod:`agronom.users.limits`."""

    __tablename__ = "rate_limits"
    __table_args__ = (PrimaryKeyConstraint("user_id", "action", name="pk_rate_limits"),)

    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(Text)  # "diagnose"
    tat: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
