"""``/api/v1/bloggers``: search the synced profiles, read one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from smcore.api.deps import API, MAX_ID, Engine, read_access
from smcore.api.syncs import SyncReport
from smcore.store import profiles
from smcore.store import search as profile_search
from smcore.sync import status as sync_status
from smcore.sync.models import Platform

router = APIRouter(prefix=f"{API}/bloggers", dependencies=[Depends(read_access)])


class Blogger(BaseModel):
    """A social profile (the seed's SocialProfile fields)."""

    id: int
    platform: str
    ext_id: str
    username: str
    full_name: str
    bio: str
    avatar: str
    url: str
    followers_count: int
    follows_count: int
    posts_count: int
    engagement_rate: float
    is_private: bool
    is_verified: bool
    last_synced_at: datetime | None


class BloggerPage(BaseModel):
    items: list[Blogger]
    total: int = Field(
        description="Matches in all pages; when total_exact is false, a lower bound (listing "
        "without q) or the database's estimate (a search that matches more than "
        f"{profile_search.FEW} profiles and would cost more to rank them all than to read the "
        "most followed)"
    )
    total_exact: bool = Field(
        description=f"False when listing without q stopped counting at {profile_search.TOTAL_CAP}"
        ", or when a search's total is estimated"
    )
    corrected: str | None = Field(
        description="When the words as typed matched nothing: the spellings searched instead "
        "(alternatives of one word joined by |)"
    )
    page: int
    per_page: int


class Metrics(BaseModel):
    captured_at: datetime
    followers: int | None
    follows: int | None
    posts: int | None
    views: int | None
    engagement_rate: float | None


class BloggerDetail(Blogger):
    latest_metrics: Metrics | None
    last_sync: SyncReport | None = Field(description="The newest JobCall of this profile")


def _only(model: type[BaseModel], row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in model.model_fields}


@router.get("", response_model=BloggerPage)
async def search_bloggers(
    engine: Engine,
    q: Annotated[
        str,
        Query(
            max_length=200,
            pattern=r"^[^\x00]*$",  # PostgreSQL text cannot hold NUL
            description="Username, name or bio; @handle ok. The last word may be the start "
            "of a word (two or three letters: of a name or username word)",
        ),
    ] = "",
    platform: Annotated[Platform | None, Query()] = None,
    page: Annotated[
        int, Query(ge=1, le=100, description="At most 100 pages: narrow the query for more")
    ] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> BloggerPage:
    """Search profiles: full text, prefixes, typos; ranked by text, then followers."""
    async with engine.begin() as conn:
        found = await profile_search.search(
            conn, q=q, platform=platform, limit=per_page, offset=(page - 1) * per_page
        )
    return BloggerPage(
        items=[Blogger(**i) for i in found.items],
        total=found.total,
        total_exact=found.total_exact,
        corrected=found.corrected,
        page=page,
        per_page=per_page,
    )


@router.get(
    "/{blogger_id}",
    response_model=BloggerDetail,
    responses={404: {"description": "No such profile"}},
)
async def get_blogger(
    engine: Engine, blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> BloggerDetail:
    """A profile with its latest metrics and its last sync."""
    async with engine.connect() as conn:
        row = await profiles.get(conn, blogger_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
        metrics = await profiles.latest_metrics(conn, blogger_id)
        job = await profiles.last_job_id(conn, blogger_id)
        last_sync = await sync_status.report(conn, job) if job is not None else None
    return BloggerDetail(
        **_only(Blogger, row),
        latest_metrics=Metrics(**_only(Metrics, metrics)) if metrics else None,
        last_sync=SyncReport(**last_sync) if last_sync else None,
    )
