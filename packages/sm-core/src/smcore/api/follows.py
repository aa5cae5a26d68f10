"""A profile's follower changes (``/api/v1/bloggers/{id}/follow-events``): who followed and
who unfollowed, when, in a time window, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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
from smcore.store import follows, profiles
from smcore.store.follows import Direction, Kind

router = APIRouter(prefix=API, dependencies=[Depends(read_access)], tags=["follows"])
MAX_LIMIT = 1000
_From = Annotated[str | None, moment_query("Only events observed at or after this", "from")]
_To = Annotated[str | None, moment_query("Only events observed before this", "to")]


class FollowEventOut(BaseModel):
    id: int
    kind: Kind
    direction: Direction
    observed_at: datetime = Field(
        description="When the sync that saw the change recorded it (SM Core's clock)"
    )
    not_before: datetime | None = Field(
        description="It happened after this (when a sync last saw the other state, SM Core's "
        "clock); null: before monitoring began"
    )
    job_call_id: int | None
    account_ext_id: str
    account_username: str
    account_name: str


class FollowEventPage(BaseModel):
    items: list[FollowEventOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


def _event(row: dict[str, Any]) -> FollowEventOut:
    return FollowEventOut(
        id=row["id"],
        kind=row["kind"],
        direction=row["direction"],
        observed_at=row["observed_at"],
        not_before=row["not_before"],
        job_call_id=row["job_call_id"],
        account_ext_id=row["ext_id"],
        account_username=row["username"],
        account_name=row["full_name"],
    )


def events_source(
    blogger_id: int,
    *,
    direction: Direction = "follower",
    kind: Kind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Source[FollowEventOut]:
    """A profile's follow events (the list of ``/bloggers/{id}/follow-events``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await follows.events(
            conn,
            blogger_id,
            direction=direction,
            kind=kind,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    return Source(FollowEventOut, read, _event, f"blogger-{blogger_id}-follow-events")


@router.get(
    "/bloggers/{blogger_id}/follow-events",
    response_model=FollowEventPage,
    responses=tabular.responses({404: {"description": "No such profile"}}),
)
async def follow_events(
    engine: Engine,
    blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    direction: Annotated[
        Direction, Query(description="follower: its followers; following: whom it follows")
    ] = "follower",
    kind: Annotated[Kind | None, Query(description="Only follows or only unfollows")] = None,
    since: _From = None,
    until: _To = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Events per page")] = 100,
    cursor: Annotated[str | None, CURSOR] = None,
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> FollowEventPage | Response:
    """Follow and unfollow events of a profile, newest first (unfollows come from complete
    follower passes only)."""
    source = events_source(
        blogger_id,
        direction=direction,
        kind=kind,
        since=parse_moment("from", since),
        until=parse_moment("to", until),
    )
    async with engine.connect() as conn:
        if not await profiles.exists(conn, "profile", blogger_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return FollowEventPage(items=items, next_cursor=next_cursor)
    return tabular.response(fmt, source, engine)
