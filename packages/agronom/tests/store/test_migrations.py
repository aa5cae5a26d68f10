"""The Alembic history builds exactly the models' schema, and goes down and up cleanly."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from agronom.store import db
from agronom.store.models import ENUMS, Base
from devstack.migrations import sqlalchemy_url
from devstack.pytest_plugin import DatabaseTemplates

TABLES = {
    "users",
    "photos",
    "protocols",
    "payments",
    "partner_orders",
    "photo_usage",
    "events",
    "seen_nonces",
    "daily_metrics",
    "sbp_account_links",
    "rate_limits",
    "payment_attempts",
}


def _diff(url: str) -> list[object]:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows} - {"alembic_version"}


def _enums(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
            "ORDER BY t.typname, e.enumsortorder"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for name, label in rows:
        found.setdefault(name, []).append(label)
    return found


def test_models_and_migrations_agree(database_url: str) -> None:
    """Autogenerate finds nothing to change: the migrations build what the models say."""
    assert _tables(database_url) == TABLES
    assert _diff(database_url) == []


def test_the_contract_enums_exist_with_their_labels_in_order(database_url: str) -> None:
    assert _enums(database_url) == {
        name: [member.value for member in enum] for name, enum in ENUMS.items()
    }


def test_downgrade_removes_everything_and_upgrade_rebuilds_it(
    database_templates: DatabaseTemplates,
) -> None:
    blank = database_templates.template("devstack_blank")
    with database_templates.clone(blank) as url:
        db.upgrade(url)
        db.downgrade(url)
        assert _tables(url) == set()
        assert _enums(url) == {}
        db.upgrade(url)
        assert _tables(url) == TABLES
        assert _diff(url) == []
