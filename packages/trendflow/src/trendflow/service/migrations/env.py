"""Alembic environment: online migrations with the URL the caller put into the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from trendflow.service.db import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url is not set: run migrations through trendflow.service.db")

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
