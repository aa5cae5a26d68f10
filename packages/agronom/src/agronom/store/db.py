"""Engines and migrations: psycopg 3 for everything (sync for Alembic, async for the app)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from devstack import migrations

MIGRATIONS = Path(__file__).parent / "migrations"


def async_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    return migrations.async_engine(url, pool_size=pool_size)


def sessions(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]  # any session
    """The session factory callers open their transactions with."""
    return async_sessionmaker(engine, expire_on_commit=False)


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (every head by default)."""
    migrations.upgrade(url, MIGRATIONS, revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Revert migrations down to ``revision``."""
    migrations.downgrade(url, MIGRATIONS, revision)
