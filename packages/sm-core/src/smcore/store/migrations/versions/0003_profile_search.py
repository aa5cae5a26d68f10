"""Blogger search: an accent-free full-text document and trigram indexes, kept by the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # unaccent() is only STABLE (its dictionary could change); pinning the dictionary makes this
    # wrapper safe to declare IMMUTABLE, which generated columns and indexes require.
    op.execute(
        """
        CREATE FUNCTION sm_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN public.unaccent('public.unaccent'::regdictionary, $1)
        """
    )
    op.execute(
        """
        ALTER TABLE social_profiles ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', sm_unaccent(username)), 'A')
            || setweight(to_tsvector('simple', sm_unaccent(full_name)), 'A')
            || setweight(to_tsvector('simple', sm_unaccent(bio)), 'C')
        ) STORED
        """
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_search ON social_profiles USING gin (search_document)"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_name_trgm ON social_profiles "
        "USING gin ((sm_unaccent(lower(username || ' ' || full_name))) gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_social_profiles_name_trgm")
    op.execute("DROP INDEX ix_social_profiles_search")
    op.execute("ALTER TABLE social_profiles DROP COLUMN search_document")
    op.execute("DROP FUNCTION sm_unaccent(text)")
