"""Search that stays fast when a word is common.

A word shared by tens of thousands of profiles ("anna", a two-letter prefix) made search visit
and rank every match: 50 ms to half a second at a million profiles. Search now estimates how
many rows a query matches from the planner's statistics and, when they are many, reads only the
most-followed matches in the followers index's order, stopping after a page
(``smcore.store.search``). For that it needs:

- ``sm_name_document``: the username and full-name part of ``search_document`` (no bio), with a
  GIN index of its own, so that name matches are found apart from bio matches when a word is
  rare in names and common in bios, and so ANALYZE keeps statistics on name words;
- an index on ``lower(username)``, so the exact ``@handle`` is found without ranking.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The same words and weights as the username and full-name part of search_document.
    op.execute(
        """
        CREATE FUNCTION sm_name_document(username text, full_name text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN setweight(to_tsvector('simple', sm_unaccent(translate(username, '._-', '   '))), 'A')
            || setweight(to_tsvector('simple', sm_unaccent(full_name)), 'A')
        """
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_names ON social_profiles "
        "USING gin (sm_name_document(username, full_name))"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_username_lower ON social_profiles (lower(username))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_social_profiles_username_lower")
    op.execute("DROP INDEX ix_social_profiles_names")
    op.execute("DROP FUNCTION sm_name_document(text, text)")
