"""Reading profiles for the API: one profile, its newest metrics, its newest sync."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store.models import JobCall, MetricSnapshot, Post, SocialProfile

Subject = Literal["profile", "post"]
_TABLES: dict[Subject, Any] = {"profile": SocialProfile.id, "post": Post.id}


async def exists(conn: AsyncConnection, subject_type: Subject, subject_id: int) -> bool:
    """Whether the profile or post is stored."""
    column = _TABLES[subject_type]
    found = await conn.scalar(select(column).where(column == subject_id))
    return found is not None


async def get(conn: AsyncConnection, profile_id: int) -> dict[str, Any] | None:
    """A profile's columns, or None."""
    row = (await conn.execute(select(SocialProfile).where(SocialProfile.id == profile_id))).first()
    return dict(row._mapping) if row else None


async def latest_metrics(conn: AsyncConnection, profile_id: int) -> dict[str, Any] | None:
    """The profile's newest metric snapshot, or None."""
    row = (
        await conn.execute(
            select(MetricSnapshot)
            .where(
                MetricSnapshot.subject_type == "profile",
                MetricSnapshot.subject_id == profile_id,
            )
            .order_by(MetricSnapshot.captured_at.desc())
            .limit(1)
        )
    ).first()
    return dict(row._mapping) if row else None


async def last_job_id(conn: AsyncConnection, profile_id: int) -> int | None:
    """The newest JobCall that synced this profile."""
    value: int | None = await conn.scalar(
        select(JobCall.id)
        .where(JobCall.subject_id == profile_id)
        .order_by(JobCall.id.desc())
        .limit(1)
    )
    return value
