"""Storage of rows: SQLAlchemy models of the data contract v1.8, Alembic migrations, engines."""
