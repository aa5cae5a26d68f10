"""A profile's posts (``/api/v1/bloggers/{id}/posts``): newest or most engaging first, with
time filters and keyset pages."""

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
from smcore.store import posts as stored_posts
from smcore.store import profiles
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


def _post(row: dict[str, Any]) -> Post:
    return Post(**{k: row[k] for k in stored_posts.COLUMNS})


def posts_source(
    blogger_id: int,
    *,
    sort: Sort = "time",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Source[Post]:
    """A profile's posts (the list of ``/bloggers/{id}/posts``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await stored_posts.page(
            conn, blogger_id, sort=sort, since=since, until=until, after=after, limit=limit
        )

    return Source(Post, read, _post, f"blogger-{blogger_id}-posts")


@router.get(
    "/bloggers/{blogger_id}/posts",
    response_model=PostPage,
    responses=tabular.responses({404: {"description": "No such profile"}}),
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
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> PostPage | Response:
    """A profile's posts with their current counts (their history: `/posts/{id}/metrics`)."""
    source = posts_source(
        blogger_id, sort=sort, since=parse_moment("from", since), until=parse_moment("to", until)
    )
    async with engine.connect() as conn:
        if not await profiles.exists(conn, "profile", blogger_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return PostPage(items=items, next_cursor=next_cursor)
    return tabular.response(fmt, source, engine)


class Analysis(BaseModel):
    kind: str = Field(description="image, video, text or prediction")
    status: str = Field(description="unsubmitted, pending, processing, done or failed")
    result: dict[str, Any] = Field(description="TrendFlow's summary when done")
    error: str | None = Field(description="The error code when failed")


class Media(BaseModel):
    id: int
    ext_id: str
    position: int
    media_type: str
    width: int
    height: int
    fetch_status: str = Field(description="pending, stored, expired or failed")
    object_key: str | None = Field(description="The file in the media store, once stored")
    content_type: str
    bytes: int | None
    analysis: Analysis | None


class PostDetail(Post):
    blogger_id: int
    media: list[Media]
    caption_analysis: Analysis | None
    prediction: Analysis | None = Field(
        description="TrendFlow's forecast of the post's views and likes at 7, 14 and 21 days "
        "(result: its prediction summary with the model's version), asked for posts synced in "
        "their first 21 days when ANALYSIS_PREDICTIONS is on; null: never asked"
    )


class Reply(BaseModel):
    id: int
    ext_id: str
    author_ext_id: str
    author_username: str
    author_name: str
    text: str
    likes_count: int
    created_at: datetime


class CommentOut(Reply):
    replies_count: int = Field(description="Replies the platform reports")
    replies: list[Reply] = Field(description="Replies stored, oldest first")


class CommentPage(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


def _analysis(kind: Any, state: Any, result: Any, error: Any) -> Analysis | None:
    if kind is None:
        return None
    return Analysis(kind=kind, status=state, result=result or {}, error=error)


_POST_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such post"}}


@router.get("/posts/{post_id}", response_model=PostDetail, responses=_POST_NOT_FOUND)
async def post(engine: Engine, post_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> PostDetail:
    """A post with its media (where each file stands, its analysis), its caption's analysis
    and its forecast (its metric history: `/posts/{id}/metrics`; its comments:
    `/posts/{id}/comments`)."""
    async with engine.connect() as conn:
        row = await stored_posts.one(conn, post_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no post {post_id}")
        files = await stored_posts.media(conn, post_id)
        caption = await stored_posts.caption_analysis(conn, post_id)
        forecast = await stored_posts.prediction(conn, post_id)
    return PostDetail(
        **{k: row[k] for k in stored_posts.COLUMNS},
        blogger_id=row["social_profile_id"],
        media=[
            Media(
                **{k: m[k] for k in Media.model_fields if k != "analysis"},
                analysis=_analysis(
                    m["analysis_kind"],
                    m["analysis_status"],
                    m["analysis_result"],
                    m["analysis_error"],
                ),
            )
            for m in files
        ],
        caption_analysis=_analysis(
            caption["kind"], caption["status"], caption["result"], caption["error_code"]
        )
        if caption
        else None,
        prediction=_analysis(
            forecast["kind"], forecast["status"], forecast["result"], forecast["error_code"]
        )
        if forecast
        else None,
    )


def _comment(row: dict[str, Any]) -> CommentOut:
    return CommentOut(
        **{k: row[k] for k in Reply.model_fields},
        replies_count=row["replies_count"],
        replies=[Reply(**{k: r[k] for k in Reply.model_fields}) for r in row["replies"]],
    )


def comments_source(post_id: int) -> Source[CommentOut]:
    """A post's comments with their replies (the list of ``/posts/{id}/comments``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await stored_posts.comments(conn, post_id, after=after, limit=limit)

    return Source(CommentOut, read, _comment, f"post-{post_id}-comments")


@router.get(
    "/posts/{post_id}/comments",
    response_model=CommentPage,
    responses=tabular.responses(_POST_NOT_FOUND),
)
async def post_comments(
    engine: Engine,
    post_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Comments per page")] = 50,
    cursor: Annotated[str | None, CURSOR] = None,
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> CommentPage | Response:
    """A post's comments, newest first, each with its stored replies."""
    source = comments_source(post_id)
    async with engine.connect() as conn:
        if not await profiles.exists(conn, "post", post_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no post {post_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return CommentPage(items=items, next_cursor=next_cursor)
    return tabular.response(fmt, source, engine)


class Liker(BaseModel):
    id: int
    liker_ext_id: str
    liker_username: str
    created_at: datetime = Field(description="When SM Core first saw the like (its clock)")
    job_call_id: int | None = Field(description="The sync that last listed it")


class LikerPage(BaseModel):
    items: list[Liker]
    listed: int | None = Field(description="Likers the last likers sync listed")
    total: int | None = Field(
        description="Likes the platform reported then (providers list at most ~1,000)"
    )
    synced_at: datetime | None = Field(description="When the likers were last listed")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


def _liker(row: dict[str, Any]) -> Liker:
    return Liker(**{k: row[k] for k in Liker.model_fields})


def likers_source(post_id: int) -> Source[Liker]:
    """A post's likers (the list of ``/posts/{id}/likers``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await stored_posts.likers(conn, post_id, after=after, limit=limit)

    return Source(Liker, read, _liker, f"post-{post_id}-likers")


@router.get(
    "/posts/{post_id}/likers",
    response_model=LikerPage,
    responses=tabular.responses(_POST_NOT_FOUND),
)
async def post_likers(
    engine: Engine,
    post_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    *,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Likers per page")] = 100,
    cursor: Annotated[str | None, CURSOR] = None,
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> LikerPage | Response:
    """Accounts that liked a post, most recently seen first, with the listing's coverage (a
    file holds the likers only)."""
    source = likers_source(post_id)
    async with engine.connect() as conn:
        if not await profiles.exists(conn, "post", post_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no post {post_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            coverage = await stored_posts.likers_coverage(conn, post_id)
            return LikerPage(
                items=items,
                listed=coverage["likers_listed"],
                total=coverage["likers_total"],
                synced_at=coverage["likers_synced_at"],
                next_cursor=next_cursor,
            )
    return tabular.response(fmt, source, engine)
