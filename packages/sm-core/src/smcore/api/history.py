"""Metric history of a profile (``/api/v1/bloggers/{id}/metrics``) or a post
(``/api/v1/posts/{id}/metrics``): the time series SM Core keeps, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.api import tabular
from smcore.api.deps import (
    API,
    CURSOR,
    MAX_ID,
    Engine,
    moment_query,
    parse_cursor,
    parse_moment,
    read_access,
)
from smcore.api.tabular import Format, Source
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


def history_source(
    subject_type: history.Subject,
    subject_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    metric: list[Metric] | None = None,
) -> Source[MetricPoint]:
    """A profile's or a post's metric history (the points of ``/…/{id}/metrics``)."""
    wanted = list(dict.fromkeys(metric)) if metric else list(history.METRICS)

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await history.metric_history(
            conn, subject_type, subject_id, since=since, until=until, after=after, limit=limit
        )

    def point(row: dict[str, Any]) -> MetricPoint:
        return MetricPoint(observed_at=row["observed_at"], values={m: row[m] for m in wanted})

    return Source(MetricPoint, read, point, f"{subject_type}-{subject_id}-metrics")


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
    fmt: Format,
) -> MetricHistory | Response:
    source = history_source(
        subject_type,
        subject_id,
        since=parse_moment("from", since),
        until=parse_moment("to", until),
        metric=metric,
    )
    async with engine.connect() as conn:
        if not await profiles.exists(conn, subject_type, subject_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {subject_type} {subject_id}")
        if fmt is Format.JSON:
            points, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return MetricHistory(
                subject_type=subject_type,
                subject_id=subject_id,
                points=points,
                next_cursor=next_cursor,
            )
    return tabular.response(fmt, source, engine)


_From = Annotated[str | None, moment_query("Only what was observed at or after this", "from")]
_To = Annotated[str | None, moment_query("Only what was observed before this", "to")]
_Metrics = Annotated[
    list[Metric] | None, Query(description="Only these metrics (repeat the parameter)")
]
_Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Points per page")]
_Cursor = Annotated[str | None, CURSOR]
_NOT_FOUND = tabular.responses({404: {"description": "No such profile or post"}})
_Format = Annotated[Format, tabular.FORMAT]


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
    fmt: _Format = Format.JSON,
) -> MetricHistory | Response:
    """A profile's metric history (followers, follows, posts, engagement rate ...)."""
    return await _history(
        engine, "profile", blogger_id,
        since=since, until=until, metric=metric, limit=limit, cursor=cursor, fmt=fmt,
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
    fmt: _Format = Format.JSON,
) -> MetricHistory | Response:
    """A post's metric history (views, likes, comments, shares)."""
    return await _history(
        engine, "post", post_id,
        since=since, until=until, metric=metric, limit=limit, cursor=cursor, fmt=fmt,
    )  # fmt: skip
