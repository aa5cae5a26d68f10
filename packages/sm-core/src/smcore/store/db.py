"""Engines and migrations.

One driver for everything: psycopg 3 (sync for Alembic and tools, async for the app).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack import migrations
from devstack.migrations import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def database_name(url: str) -> str:
    """The database a URL points at (part of every sync's workflow id)."""
    return make_url(sqlalchemy_url(url)).database or ""


def async_engine(url: str, *, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    return migrations.async_engine(url, pool_size=pool_size, max_overflow=max_overflow)


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    migrations.upgrade(url, MIGRATIONS, revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Revert migrations down to ``revision``."""
    migrations.downgrade(url, MIGRATIONS, revision)
