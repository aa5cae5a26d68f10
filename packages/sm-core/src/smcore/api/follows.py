"""A profile's follower changes (``/api/v1/bloggers/{id}/follow-events``): who followed and
who unfollowed, when, in a time window, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

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


@router.get(
    "/bloggers/{blogger_id}/follow-events",
    response_model=FollowEventPage,
    responses={404: {"description": "No such profile"}},
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
) -> FollowEventPage:
    """Follow and unfollow events of a profile, newest first (unfollows come from complete
    follower passes only)."""
    async with engine.connect() as conn:
        if not await profiles.exists(conn, "profile", blogger_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
        rows = await follows.events(
            conn,
            blogger_id,
            direction=direction,
            kind=kind,
            since=parse_moment("from", since),
            until=parse_moment("to", until),
            after=parse_cursor(cursor),
            limit=limit + 1,
        )
    items, next_cursor = keyset_page(rows, limit)
    return FollowEventPage(
        items=[
            FollowEventOut(
                id=r["id"],
                kind=r["kind"],
                direction=r["direction"],
                observed_at=r["observed_at"],
                not_before=r["not_before"],
                job_call_id=r["job_call_id"],
                account_ext_id=r["ext_id"],
                account_username=r["username"],
                account_name=r["full_name"],
            )
            for r in items
        ],
        next_cursor=next_cursor,
    )
