"""Metric history of a profile (``/api/v1/bloggers/{id}/metrics``) or a post
(``/api/v1/posts/{id}/metrics``): the time series SM Core keeps, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from smcore.api.deps import (
    API,
    CURSOR,
    MAX_ID,
    Engine,
    keyset_page,
    moment_query,
    parse_cursor,
    parse_moment,
    read_access,
)
from smcore.store import history, profiles
from smcore.store.history import Metric

router = APIRouter(prefix=API, dependencies=[Depends(read_access)], tags=["history"])

MAX_LIMIT = 10_000


class MetricPoint(BaseModel):
    observed_at: datetime = Field(description="The provider's time when the sync read it")
    values: dict[Metric, float | None] = Field(
        description="The metrics asked for (all by default); null where the platform has none"
    )


class MetricHistory(BaseModel):
    subject_type: Literal["profile", "post"]
    subject_id: int
    points: list[MetricPoint] = Field(description="Oldest first")
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null on the last page"
    )


async def _history(
    engine: Engine,
    subject_type: history.Subject,
    subject_id: int,
    *,
    since: str | None,
    until: str | None,
    metric: list[Metric] | None,
    limit: int,
    cursor: str | None,
) -> MetricHistory:
    start, end = parse_moment("from", since), parse_moment("to", until)
    after = parse_cursor(cursor)
    async with engine.connect() as conn:
        if not await profiles.exists(conn, subject_type, subject_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {subject_type} {subject_id}")
        rows = await history.metric_history(
            conn, subject_type, subject_id, since=start, until=end, after=after, limit=limit + 1
        )
    wanted = list(dict.fromkeys(metric)) if metric else list(history.METRICS)
    page, next_cursor = keyset_page(rows, limit)
    return MetricHistory(
        subject_type=subject_type,
        subject_id=subject_id,
        points=[
            MetricPoint(observed_at=r["observed_at"], values={m: r[m] for m in wanted})
            for r in page
        ],
        next_cursor=next_cursor,
    )


_From = Annotated[str | None, moment_query("Only what was observed at or after this", "from")]
_To = Annotated[str | None, moment_query("Only what was observed before this", "to")]
_Metrics = Annotated[
    list[Metric] | None, Query(description="Only these metrics (repeat the parameter)")
]
_Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Points per page")]
_Cursor = Annotated[str | None, CURSOR]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such profile or post"}}


@router.get("/bloggers/{blogger_id}/metrics", response_model=MetricHistory, responses=_NOT_FOUND)
async def profile_metrics(
    engine: Engine,
    blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    since: _From = None,
    until: _To = None,
    metric: _Metrics = None,
    limit: _Limit = 1000,
    cursor: _Cursor = None,
) -> MetricHistory:
    """A profile's metric history (followers, follows, posts, engagement rate ...)."""
    return await _history(
        engine, "profile", blogger_id,
        since=since, until=until, metric=metric, limit=limit, cursor=cursor,
    )  # fmt: skip


@router.get("/posts/{post_id}/metrics", response_model=MetricHistory, responses=_NOT_FOUND)
async def post_metrics(
    engine: Engine,
    post_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    since: _From = None,
    until: _To = None,
    metric: _Metrics = None,
    limit: _Limit = 1000,
    cursor: _Cursor = None,
) -> MetricHistory:
    """A post's metric history (views, likes, comments, shares)."""
    return await _history(
        engine, "post", post_id,
        since=since, until=until, metric=metric, limit=limit, cursor=cursor,
    )  # fmt: skip
