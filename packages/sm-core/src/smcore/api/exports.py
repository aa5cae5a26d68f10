"""``/api/v1/exports``: the stored history as CSV, streamed, for tools outside SM Core.

``post-metrics`` is what TrendFlow builds its targets from (``trendflow targets build URL``):
every observation of every post's views and likes, with the time the provider said it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from smcore.api.deps import API, Engine, moment_query, parse_moment, read_access
from smcore.store import exports
from smcore.sync.models import Platform

router = APIRouter(prefix=f"{API}/exports", tags=["exports"])

_CHUNK_ROWS = 1000
_CSV_EXAMPLE = (
    ",".join(exports.POST_METRICS_COLUMNS)
    + "\ntiktok,7301234567890123456,tt_user_0001,2026-11-01T10:00:00+00:00,"
    "2026-11-02T09:00:00+00:00,15234,801,120400,morning run #fitness\n"
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _csv(rows: AsyncIterator[Sequence[Any]]) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(exports.POST_METRICS_COLUMNS)
    count = 0
    async for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
        if count % _CHUNK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@router.get(
    "/post-metrics",
    dependencies=[Depends(read_access)],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One row per observation of a post's counts, post by post, oldest "
            "first. Times are ISO 8601 in UTC; an empty cell is a value SM Core does not have.",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
        },
        422: {"description": "since or until is not a time with a zone"},
    },
)
async def post_metrics(
    engine: Engine,
    platform: Annotated[Platform | None, Query(description="Only this platform's posts")] = None,
    since: Annotated[str | None, moment_query("Only posts published at or after this")] = None,
    until: Annotated[str | None, moment_query("Only posts published before this")] = None,
) -> StreamingResponse:
    """Every metric snapshot of every post as CSV: `platform, video_id, channel, published_at,
    observed_at, views, likes, channel_followers, caption`.

    `observed_at` is the provider's time when its sync read the account; `channel_followers`
    is the account's follower count at its latest observation at or before the post's
    publication. The body is streamed: a client reads it as it comes."""
    start, end = parse_moment("since", since), parse_moment("until", until)

    async def body() -> AsyncIterator[str]:
        async with engine.connect() as conn:
            rows = exports.post_metrics(
                conn, platform=platform.value if platform else None, since=start, until=end
            )
            async for chunk in _csv(rows):
                yield chunk

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="post-metrics.csv"'},
    )
