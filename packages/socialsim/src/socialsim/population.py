"""A large synthetic population of social profiles, for search tests and benchmarks.

Names come from Faker's per-locale name lists (Cyrillic names stay Cyrillic), so the mix of
common and rare first names, surnames and scripts looks like a real audience: many namesakes,
heavy-tailed follower counts. Deterministic for a seed; fast enough for millions of rows.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from faker import Faker

# locale, share of the population
LOCALES = (
    ("ru_RU", 0.30),
    ("en_US", 0.22),
    ("es_ES", 0.10),
    ("pt_BR", 0.08),
    ("de_DE", 0.08),
    ("uk_UA", 0.07),
    ("tr_TR", 0.06),
    ("it_IT", 0.05),
    ("fr_FR", 0.04),
)
_ROMAN = "a b v g d e e zh z i y k l m n o p r s t u f h ts ch sh sch - y - e yu ya i ye yi g"
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґ",
        [latin.strip("-") for latin in _ROMAN.split(" ")],
        strict=True,
    )
)


@dataclass(frozen=True, slots=True)
class Person:
    platform: str
    ext_id: str
    username: str
    full_name: str
    bio: str
    followers_count: int
    follows_count: int
    posts_count: int
    is_verified: bool


@dataclass(frozen=True, slots=True)
class _Names:
    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (first names, last names)
    bios: tuple[str, ...]


def _names(locale: str, seed: int) -> _Names:
    fake = Faker(locale)
    fake.seed_instance(seed)
    person = fake.provider("faker.providers.person")

    def names(*attributes: str) -> tuple[str, ...]:
        for attribute in attributes:
            values = getattr(person, attribute, None)
            if values:
                return tuple(values)
        raise ValueError(f"Faker {locale} has none of {attributes}")

    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    if hasattr(person, "last_names_female"):  # surnames agree with gender (Петров / Петрова)
        pairs = (
            (names("first_names_male"), names("last_names_male")),
            (names("first_names_female"), names("last_names_female")),
        )
    else:
        pairs = ((names("first_names"), names("last_names")),)
    bios = tuple(f"{fake.job()} · {fake.city()}" for _ in range(500))
    return _Names(pairs, bios)


def transliterate(text: str) -> str:
    """Lower-case ASCII for a username (Cyrillic romanised, other letters kept)."""
    latin = "".join(_TRANSLIT.get(c, c) for c in text.lower() if c.isalnum())
    return unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()


def people(count: int, *, seed: int = 1) -> Iterator[Person]:
    """``count`` profiles; usernames are unique, names are not (namesakes are realistic)."""
    r = random.Random(seed)  # noqa: S311 - a simulation, not secrets
    tables = [(_names(locale, seed), share) for locale, share in LOCALES]
    weights = [share for _, share in tables]
    for index in range(count):
        names = r.choices(tables, weights)[0][0]
        firsts, lasts = r.choice(names.pairs)
        first, last = r.choice(firsts), r.choice(lasts)
        style = r.random()
        handle = transliterate(first) if style < 0.5 else transliterate(last)
        username = f"{handle}{'_' if style < 0.25 else '.'}{index:x}"
        followers = int(min(r.paretovariate(1.1) * 150, 300_000_000))
        yield Person(
            platform="instagram" if r.random() < 0.8 else "youtube",
            ext_id=str(10**12 + index),
            username=username,
            full_name=f"{first} {last}",
            bio=r.choice(names.bios),
            followers_count=followers,
            follows_count=int(r.paretovariate(1.5) * 100),
            posts_count=int(r.paretovariate(1.2) * 20),
            is_verified=followers > 1_000_000 and r.random() < 0.5,
        )
