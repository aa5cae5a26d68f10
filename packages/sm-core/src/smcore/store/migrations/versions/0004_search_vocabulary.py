"""Blogger search at a million rows: usernames split into words, a vocabulary for typos.

The trigram index over whole names is replaced: at a million profiles its common trigrams made
typo queries take 100 ms and more. Typos are now corrected word by word against a small table of
the words that occur in full names (kept by a trigger, so any writer keeps it current), and the
corrected words go through the full-text index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DOCUMENT = """
    ALTER TABLE social_profiles ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', sm_unaccent({username})), 'A')
        || setweight(to_tsvector('simple', sm_unaccent(full_name)), 'A')
        || setweight(to_tsvector('simple', sm_unaccent(bio)), 'C')
    ) STORED
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch")
    op.execute("DROP INDEX ix_social_profiles_name_trgm")
    op.execute("DROP INDEX ix_social_profiles_search")
    op.execute("ALTER TABLE social_profiles DROP COLUMN search_document")
    # anna.petrova_87 → "anna petrova 87": each part is a word (the parser would keep
    # "anna.petrova_87" whole, and "petrova" would not find it).
    op.execute(_DOCUMENT.format(username="translate(username, '._-', '   ')"))
    op.execute(
        "CREATE INDEX ix_social_profiles_search ON social_profiles USING gin (search_document)"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_followers ON social_profiles (followers_count DESC, id)"
    )
    op.execute("CREATE TABLE search_words (word text PRIMARY KEY)")
    op.execute("CREATE INDEX ix_search_words_trgm ON search_words USING gin (word gin_trgm_ops)")
    op.execute(
        """
        CREATE FUNCTION sm_name_words(full_name text) RETURNS SETOF text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN unnest(tsvector_to_array(to_tsvector('simple', sm_unaccent(full_name))))
        """
    )
    op.execute(
        """
        CREATE FUNCTION sm_collect_words() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO search_words (word)
            SELECT DISTINCT w FROM changed, sm_name_words(changed.full_name) AS w
            WHERE length(w) >= 3
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER sm_collect_words_{event.lower()} AFTER {event} ON social_profiles "
            "REFERENCING NEW TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION sm_collect_words()"
        )
    op.execute(
        "INSERT INTO search_words (word) SELECT DISTINCT w FROM social_profiles, "
        "sm_name_words(full_name) AS w WHERE length(w) >= 3"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER sm_collect_words_insert ON social_profiles")
    op.execute("DROP TRIGGER sm_collect_words_update ON social_profiles")
    op.execute("DROP FUNCTION sm_collect_words()")
    op.execute("DROP FUNCTION sm_name_words(text)")
    op.execute("DROP TABLE search_words")
    op.execute("DROP INDEX ix_social_profiles_followers")
    op.execute("DROP INDEX ix_social_profiles_search")
    op.execute("ALTER TABLE social_profiles DROP COLUMN search_document")
    op.execute(_DOCUMENT.format(username="username"))
    op.execute(
        "CREATE INDEX ix_social_profiles_search ON social_profiles USING gin (search_document)"
    )
    op.execute(
        "CREATE INDEX ix_social_profiles_name_trgm ON social_profiles "
        "USING gin ((sm_unaccent(lower(username || ' ' || full_name))) gin_trgm_ops)"
    )
