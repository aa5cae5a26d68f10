"""Short prefixes of name words indexed as words of their own.

A search whose last word has two or three letters ("john ma", as the user types) asked the
full-text index for every word starting with them: ``ma:*`` reads the index entries of every
such word (150,000 at a million profiles), whatever else the query asks. Each name word now also
carries its first two and three letters as words marked with a star (``ma*``, ``mar*``), so such
a prefix is one index entry, and the index intersects it with the other words cheaply. Longer
prefixes expand as before (``mari:*`` expands to few words). The bio's words get no prefixes:
a two-letter prefix is a name being typed.

``sm_name_document`` (the names' own index) and ``search_document`` (names and bio) both carry
the prefixes; ``search_document`` is now built from ``sm_name_document``, so the names are
defined once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_NAMES = (
    "setweight(to_tsvector('simple', sm_unaccent(translate(username, '._-', '   '))), 'A')"
    " || setweight(to_tsvector('simple', sm_unaccent(full_name)), 'A')"
)
_BIO = "setweight(to_tsvector('simple', sm_unaccent(bio)), 'C')"


def _rebuild(names_document: str, search_document: str) -> None:
    op.execute("DROP INDEX ix_social_profiles_names")
    op.execute("ALTER TABLE social_profiles DROP COLUMN search_document")  # and its index
    op.execute(
        "CREATE OR REPLACE FUNCTION sm_name_document(username text, full_name text) "
        "RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f"RETURN {names_document}"
    )
    op.execute(
        "ALTER TABLE social_profiles ADD COLUMN search_document tsvector "
        f"GENERATED ALWAYS AS ({search_document}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_search ON social_profiles USING gin (search_document)"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_names ON social_profiles "
        "USING gin (sm_name_document(username, full_name))"
    )


def upgrade() -> None:
    # A document's words and, weighted A, the first two and three letters of each, starred.
    op.execute(
        """
        CREATE FUNCTION sm_with_prefixes(document tsvector) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN document || setweight(array_to_tsvector(ARRAY(
            SELECT DISTINCT left(word, n) || '*'
            FROM unnest(tsvector_to_array(document)) AS word, generate_series(2, 3) AS n
            WHERE length(word) >= n)), 'A')
        """
    )
    _rebuild(f"sm_with_prefixes({_NAMES})", f"sm_name_document(username, full_name) || {_BIO}")


def downgrade() -> None:
    _rebuild(
        _NAMES,
        "setweight(to_tsvector('simple', sm_unaccent(translate(username, '._-', '   '))), 'A')"
        " || setweight(to_tsvector('simple', sm_unaccent(full_name)), 'A')"
        f" || {_BIO}",
    )
    op.execute("DROP FUNCTION sm_with_prefixes(tsvector)")
