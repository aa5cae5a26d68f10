"""Keyset pages in SQL: a page ends at its last row's ``(sort key, id)`` and the next page
starts after it, so a row written meanwhile never shifts a page (no OFFSET).

A time sort key is the time in microseconds since the epoch as a bigint (:func:`micros`), so
that a cursor is two integers; the statements bind ``:after_key`` and ``:after_id``
(:func:`params`), both null on the first page.
"""

from __future__ import annotations

from typing import Literal

Order = Literal["desc", "asc"]


def micros(column: str) -> str:
    """The SQL of a timestamptz ``column`` as microseconds since the epoch (a bigint)."""
    return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"


def after(key: str, id_column: str, order: Order = "desc") -> str:
    """The SQL condition "after the cursor" of a page ordered by ``(key, id_column)``."""
    beyond = "<" if order == "desc" else ">"
    return (
        f"(CAST(:after_key AS bigint) IS NULL "
        f"OR ({key}, {id_column}) {beyond} (:after_key, :after_id))"
    )


def after_time(column: str, id_column: str, order: Order = "desc") -> str:
    """:func:`after` for a time sort key, comparing ``column`` itself, so that an index on it
    serves the page instead of every row's key being computed and sorted. The cursor's
    microseconds become a time again exactly (a timestamptz is whole microseconds)."""
    beyond = "<" if order == "desc" else ">"
    moment = "(TIMESTAMPTZ 'epoch' + CAST(:after_key AS bigint) * INTERVAL '1 microsecond')"
    return (
        f"(CAST(:after_key AS bigint) IS NULL "
        f"OR ({column}, {id_column}) {beyond} ({moment}, :after_id))"
    )


def params(cursor: tuple[int, int] | None) -> dict[str, int | None]:
    """The bound values of :func:`after` for a page after ``cursor`` (None: the first page)."""
    return {
        "after_key": cursor[0] if cursor else None,
        "after_id": cursor[1] if cursor else None,
    }
