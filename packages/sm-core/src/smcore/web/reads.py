"""What only the dashboard's pages read: a page of posts' metric series (for sparklines),
each post's first stored media file (for thumbnails) and its forecast, one query each for a
whole page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store.history import OBSERVED_AT
from smcore.store.models import Fetch
from smcore.transform.analysis import Forecast, forecast_from

_SERIES = f"""
SELECT s.subject_id AS post_id, COALESCE(s.views, s.likes) AS value
FROM metric_snapshots s LEFT JOIN job_calls j ON j.id = s.job_call_id
WHERE s.subject_type = 'post' AND s.subject_id = ANY(:ids)
ORDER BY s.subject_id, {OBSERVED_AT}, s.id
"""  # noqa: S608 - OBSERVED_AT is a constant; every value is bound

_THUMBNAILS = """
SELECT DISTINCT ON (post_id) post_id, id, media_type, content_type
FROM media
WHERE post_id = ANY(:ids) AND fetch_status = :stored AND object_key IS NOT NULL
ORDER BY post_id, position, id
"""

# The last forecast made (kept while a later sync asks again), whatever the row's status.
_FORECASTS = """
SELECT subject_id AS post_id, result, versions
FROM analyses
WHERE subject_type = 'post' AND kind = 'prediction' AND subject_id = ANY(:ids)
  AND result -> 'forecast' IS NOT NULL
"""


async def post_series(conn: AsyncConnection, post_ids: Sequence[int]) -> dict[int, list[float]]:
    """Each post's views (likes where the platform shows no views) at each sync, oldest first."""
    series: dict[int, list[float]] = {i: [] for i in post_ids}
    for row in await conn.execute(text(_SERIES), {"ids": list(post_ids)}):
        if row.value is not None:
            series[row.post_id].append(float(row.value))
    return series


async def thumbnails(conn: AsyncConnection, post_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each post's first downloaded media file: its id, type and content type."""
    rows = await conn.execute(
        text(_THUMBNAILS), {"ids": list(post_ids), "stored": Fetch.STORED.value}
    )
    return {row.post_id: dict(row._mapping) for row in rows}


async def media_file(conn: AsyncConnection, media_id: int) -> dict[str, Any] | None:
    """A downloaded media file's object key and content type, or None."""
    row = (
        await conn.execute(
            text(
                "SELECT object_key, content_type FROM media "
                "WHERE id = :id AND fetch_status = :stored AND object_key IS NOT NULL"
            ),
            {"id": media_id, "stored": Fetch.STORED.value},
        )
    ).first()
    return dict(row._mapping) if row else None


async def forecasts(conn: AsyncConnection, post_ids: Sequence[int]) -> dict[int, Forecast]:
    """Each post's forecast, for the posts that have one."""
    rows = await conn.execute(text(_FORECASTS), {"ids": list(post_ids)})
    return {row.post_id: forecast_from(row.result, row.versions) for row in rows}
