"""SM Core's store: SQLAlchemy models, Alembic migrations, engines."""
