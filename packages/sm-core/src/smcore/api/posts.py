"""A profile's posts (``/api/v1/bloggers/{id}/posts``): newest or most engaging first, with
time filters and keyset pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

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
from smcore.store import history
from smcore.store import posts as stored_posts
from smcore.store.posts import Sort

router = APIRouter(prefix=API, dependencies=[Depends(read_access)], tags=["posts"])
MAX_LIMIT = 500
_From = Annotated[str | None, moment_query("Only posts published at or after this", "from")]
_To = Annotated[str | None, moment_query("Only posts published before this", "to")]


class Post(BaseModel):
    id: int
    platform: str
    ext_id: str
    code: str
    kind: str
    product_type: str = Field(
        description="Instagram's feed, carousel_container, clips (a reel), story; TikTok video"
    )
    title: str
    caption: str
    taken_at: datetime = Field(description="When it was published")
    likes_count: int
    comments_count: int
    views_count: int
    shares_count: int
    saves_count: int
    pinned: bool


class PostPage(BaseModel):
    items: list[Post]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


@router.get(
    "/bloggers/{blogger_id}/posts",
    response_model=PostPage,
    responses={404: {"description": "No such profile"}},
)
async def profile_posts(
    engine: Engine,
    blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    sort: Annotated[
        Sort, Query(description="time: newest first; engagement: most likes + comments first")
    ] = "time",
    since: Annotated[
        str | None, moment_query("Only posts published at or after this", "from")
    ] = None,
    until: Annotated[str | None, moment_query("Only posts published before this", "to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Posts per page")] = 50,
    cursor: Annotated[str | None, CURSOR] = None,
) -> PostPage:
    """A profile's posts with their current counts (their history: `/posts/{id}/metrics`)."""
    start, end = parse_moment("from", since), parse_moment("to", until)
    async with engine.connect() as conn:
        if not await history.exists(conn, "profile", blogger_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
        rows = await stored_posts.page(
            conn,
            blogger_id,
            sort=sort,
            since=start,
            until=end,
            after=parse_cursor(cursor),
            limit=limit + 1,
        )
    items = rows[:limit]
    last: dict[str, Any] | None = items[-1] if len(rows) > limit else None
    return PostPage(
        items=[Post(**{k: r[k] for k in stored_posts.COLUMNS}) for r in items],
        next_cursor=f"{last['sort_key']}.{last['id']}" if last else None,
    )
