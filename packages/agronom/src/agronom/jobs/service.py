"""The scheduled jobs' work. Each takes ``now`` (the injectable clock) and the caller's session.

- :func:`reset_quota` (1st of the month): open the new month's ``photo_usage`` rows at 0 for
  everyone who used the previous month, and drop months older than a year.
- :func:`expire_photos` (daily): photos older than 90 days leave storage and their rows are
  marked ``deleted`` (on S3 the lifecycle rule has usually removed the object already).
- :func:`hard_delete` (daily): rows marked deleted are removed 30 days after (ts + 120 days).
- :func:`copy_dataset` (daily): ok photos of opted-in users are copied to ``ml-dataset/`` with
  their labels; copies older than 2 years, and copies of users who withdrew, are removed.
- the daily export lives in :mod:`agronom.jobs.exports`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.clock import month_key
from agronom.store import objects as storage
from agronom.store.models import Photo, PhotoStatus, PhotoUsage
from agronom.users import service as users

log = structlog.get_logger("agronom.jobs")

PHOTO_TTL = timedelta(days=storage.PHOTO_TTL_DAYS)
SOFT_DELETE_GRACE = timedelta(days=30)
DATASET_TTL = timedelta(days=storage.DATASET_TTL_DAYS)
USAGE_MONTHS_KEPT = 13
BATCH = 500


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


async def reset_quota(session: AsyncSession, *, now: datetime, zone: str) -> dict[str, int]:
    month = month_key(now, zone)
    previous = _previous_month(month)
    opened = await session.execute(
        insert(PhotoUsage)
        .from_select(
            ["user_id", "month", "used", "updated_at"],
            select(PhotoUsage.user_id, literal(month), literal(0), literal(now)).where(
                PhotoUsage.month == previous
            ),
        )
        .on_conflict_do_nothing()
        .returning(PhotoUsage.user_id)
    )
    oldest = month
    for _ in range(USAGE_MONTHS_KEPT - 1):
        oldest = _previous_month(oldest)
    dropped = await session.execute(
        delete(PhotoUsage).where(PhotoUsage.month < oldest).returning(PhotoUsage.user_id)
    )
    return {"opened": len(opened.all()), "dropped": len(dropped.all())}


async def expire_photos(
    session: AsyncSession, store: storage.ObjectStore, *, now: datetime, secret: str
) -> dict[str, int]:
    """One batch of expired photos; call again while ``expired`` equals the batch size."""
    rows = (
        await session.execute(
            select(Photo.id, Photo.user_id)
            .where(~Photo.deleted, Photo.ts < now - PHOTO_TTL)
            .order_by(Photo.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for photo_id, user_id in rows:
        await store.delete(storage.photo_key(users.ref(user_id, secret=secret), photo_id))
    if rows:
        await session.execute(
            update(Photo).where(Photo.id.in_([r[0] for r in rows])).values(deleted=True)
        )
    return {"expired": len(rows)}


async def hard_delete(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    removed = await session.execute(
        delete(Photo)
        .where(Photo.deleted, Photo.ts < now - PHOTO_TTL - SOFT_DELETE_GRACE)
        .returning(Photo.id)
    )
    return {"hard_deleted": len(removed.all())}


async def copy_dataset(
    session: AsyncSession, store: storage.ObjectStore, *, now: datetime, secret: str
) -> dict[str, int]:
    existing = {o.key: o for o in await store.list(storage.DATASET)}
    consenting = set((await session.execute(users.opted_in_user_ids())).scalars().all())  # type: ignore[call-overload]  # a select
    refs = {users.ref(uid, secret=secret): uid for uid in consenting}
    removed = 0
    for key, item in existing.items():
        ref = key[len(storage.DATASET) :].split("/", 1)[0]
        if ref not in refs or item.modified < now - DATASET_TTL:
            await store.delete(key)
            removed += 1
    rows = (
        await session.execute(
            select(Photo.id, Photo.user_id, Photo.crop, Photo.disease, Photo.confidence, Photo.ts)
            .where(
                Photo.status == PhotoStatus.OK,
                ~Photo.deleted,
                Photo.user_id.in_(consenting),
                Photo.ts >= now - PHOTO_TTL,
            )
            .order_by(Photo.id)
        )
    ).all()
    copied = 0
    for photo_id, user_id, crop, disease, confidence, ts in rows:
        ref = users.ref(user_id, secret=secret)
        target = storage.dataset_key(ref, photo_id)
        if target in existing and existing[target].modified >= now - DATASET_TTL:
            continue
        try:
            # The photo may expire between the query and this read: then it is not copied.
            photo = await store.get(storage.photo_key(ref, photo_id))
        except storage.ObjectNotFound:
            continue
        labels = {
            "crop": crop,
            "disease": disease,
            "confidence": float(confidence) if confidence is not None else None,
            "taken": ts.date().isoformat(),
        }
        await store.put(target, photo, content_type="image/jpeg")
        await store.put(
            storage.dataset_key(ref, photo_id, ".json"),
            json.dumps(labels).encode(),
            content_type="application/json",
        )
        copied += 1
    return {"copied": copied, "removed": removed}
