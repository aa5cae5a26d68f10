"""Short prefixes of name words as words of the index (migration 0012).

A database filled before the migration gets the prefixes for every profile it holds; a two- or
three-letter prefix then finds names and usernames by one index entry, not a bio's words; the
downgrade takes the prefixes away and keeps every profile.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devstack.pytest_plugin import DatabaseTemplates
from smcore.store import db, search

PROFILES = [
    # username, full name, bio
    ("anna.petrova_87", "Анна Петрова", "fotograf"),
    ("john_martinez", "John Martínez", ""),
    ("jo", "Jo Ma", "marathon runner"),
    ("kanye", "Kanye West", "music"),
]


@pytest.fixture
def before_prefixes(database_templates: DatabaseTemplates) -> Iterator[str]:
    """A database migrated to 0011 and filled, as a running deployment would be."""
    template = database_templates.template("smcore_0011", setup=lambda url: db.upgrade(url, "0011"))
    with database_templates.clone(template) as url, psycopg.connect(url) as conn:
        for i, (username, name, bio) in enumerate(PROFILES):
            conn.execute(
                "INSERT INTO social_profiles (platform, ext_id, username, full_name, bio) "
                "VALUES ('instagram', %s, %s, %s, %s)",
                (str(i), username, name, bio),
            )
        conn.commit()
        yield url


def _matching(url: str, *words: str, names: bool = False) -> list[str]:
    """Usernames matching, as the search asks: the stored document, or the names' own index
    with the names' weight."""
    query = search.tsquery([[w] for w in words], prefix_last=True, weight="A" if names else "")
    document = "sm_name_document(username, full_name)" if names else "search_document"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT username FROM social_profiles WHERE {document} @@ CAST(%s AS tsquery)"  # noqa: S608 - one of two fixed names
            " ORDER BY username",
            (query,),
        ).fetchall()
    return [r[0] for r in rows]


def _lexemes(url: str, username: str) -> set[str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT tsvector_to_array(search_document) FROM social_profiles WHERE username = %s",
            (username,),
        ).fetchone()
    assert row is not None
    return set(row[0])


def test_the_migration_gives_every_stored_profile_its_prefixes(before_prefixes: str) -> None:
    url = before_prefixes
    before = _lexemes(url, "john_martinez")
    assert before == {"john", "martinez"}

    db.upgrade(url, "0012")

    assert _lexemes(url, "john_martinez") == before | {"jo*", "joh*", "ma*", "mar*"}
    assert _lexemes(url, "anna.petrova_87") >= {
        "ан*",
        "анн*",
        "пе*",
        "пет*",
        "an*",
        "87*",
        "fotograf",
    }
    assert "fo*" not in _lexemes(url, "anna.petrova_87"), "bio words carry no prefixes"
    # Two letters: every name word starting with them, whole two-letter names included, and
    # no bio word ("marathon"); three letters the same.
    assert _matching(url, "ma") == ["jo", "john_martinez"]
    assert _matching(url, "jo", "ma") == ["jo"]
    assert _matching(url, "ma", names=True) == ["jo", "john_martinez"]
    assert _matching(url, "john", "mar") == ["john_martinez"]
    assert _matching(url, "пе") == ["anna.petrova_87"]
    # Four letters and more expand as before, bio words included.
    assert _matching(url, "mara") == ["jo"]
    assert _matching(url, "mara", names=True) == []
    assert _matching(url, "mart") == ["john_martinez"]

    db.downgrade(url, "0011")
    assert _lexemes(url, "john_martinez") == before
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM social_profiles").fetchone() == (len(PROFILES),)
