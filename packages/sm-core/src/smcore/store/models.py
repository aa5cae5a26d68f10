"""SQLAlchemy 2 typed models of SM Core's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations name the same things on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProviderRateLimit(Base):
    """Shared request budget of one API provider (GCRA: the theoretical arrival time).

    Every worker, in every process and on every machine, reserves its slot here, so a
    provider's limit holds for the whole fleet.
    """

    __tablename__ = "provider_rate_limits"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
