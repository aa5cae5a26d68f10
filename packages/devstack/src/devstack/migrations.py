"""What every app does with its database: one driver (psycopg 3; sync for Alembic, async for
the app) and Alembic migrations kept in the app's own folder."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Stable constraint names (MetaData(naming_convention=NAMING)), so Alembic migrations name the
# same things on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` (what devstack and DATABASE_URL give) → SQLAlchemy's psycopg URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.rsplit('@', maxsplit=1)[-1]!r}")


def async_engine(url: str, *, pool_size: int, max_overflow: int | None = None) -> AsyncEngine:
    """An engine of ``pool_size`` kept connections and ``max_overflow`` (default as many) more
    opened when all are busy and closed when returned."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=True,
    )


def alembic_config(url: str, folder: Path) -> Config:
    """Alembic on ``folder`` (its env.py and versions/) against ``url``; no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(folder))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, folder: Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, folder), revision)


def downgrade(url: str, folder: Path, revision: str = "base") -> None:
    command.downgrade(alembic_config(url, folder), revision)
