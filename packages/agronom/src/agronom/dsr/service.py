"""DSR deletion: ``POST /v1/dsr/delete_user`` removes a user (the contract allows 30 days).

The request is recorded first, in its own transaction (a ``dsr_requested`` event on the user),
then the deletion runs at once. When it cannot finish (the object store is down, say) the
request stays recorded and the hourly ``agronom.DsrSweep`` job finishes it; the event goes
with the user's row, so a recorded request is pending exactly as long as the user exists.

What goes: the ``users`` row and with it (``ON DELETE CASCADE``) photos, protocols,
photo usage, events, partner orders and SBP account links (their AccountTokens); every stored
object under the user's pseudonymous reference (photos, ML-dataset copies) and the user's rows
in the activity exports.
What stays: ``payments`` (402-FZ: five years), pseudonymised: ``user_id`` and the autopay
binding id are cleared, leaving amount, status, time and T-Bank's PaymentId for accounting.

Objects are deleted before and after the rows: before, so a failure leaves the user able to
ask again; after, to catch a photo stored by a request that was in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from agronom.exports import service as exports
from agronom.store import objects as storage
from agronom.store.models import Event, Payment, Photo, User
from agronom.users import service as users

log = structlog.get_logger("agronom.dsr")
DSR_EVENT = "dsr_user_deleted"
REQUESTED = "dsr_requested"


@dataclass(frozen=True)
class Deleted:
    found: bool
    photos: int = 0
    objects: int = 0
    exports_rewritten: int = 0
    payments_pseudonymised: int = 0


async def _purge_objects(store: storage.ObjectStore, ref: str) -> int:
    count = 0
    for prefix in (f"{storage.PHOTOS}{ref}/", f"{storage.DATASET}{ref}/"):
        for item in await store.list(prefix):
            await store.delete(item.key)
            count += 1
    return count


async def request(engine: AsyncEngine, tg_id: int, *, now: datetime) -> bool:
    """Record that ``tg_id`` asked to be deleted; whether there is such a user."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        user = await users.by_tg_id(session, tg_id)
        if user is None:
            return False
        await users.add_event(session, user.id, REQUESTED, now=now)
    return True


async def pending(engine: AsyncEngine) -> list[int]:
    """The tg_ids whose recorded deletion has not finished, oldest request first."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        rows = await session.execute(
            select(User.tg_id)
            .join(Event, Event.user_id == User.id)
            .where(Event.event == REQUESTED)
            .group_by(User.tg_id)
            .order_by(func.min(Event.ts))
        )
        return list(rows.scalars())


async def oldest_open(engine: AsyncEngine) -> datetime | None:
    """When the oldest recorded, unfinished deletion request was made (None: none open)."""
    async with engine.connect() as conn:
        oldest: datetime | None = await conn.scalar(
            select(func.min(Event.ts)).where(Event.event == REQUESTED)
        )
    return oldest


async def delete_user(
    engine: AsyncEngine, store: storage.ObjectStore, tg_id: int, *, secret: str, now: datetime
) -> Deleted:
    """Delete ``tg_id`` now; safe to repeat after a failure part way."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        user = await users.by_tg_id(session, tg_id)
    if user is None:
        return Deleted(found=False)
    ref = users.ref(user.id, secret=secret)
    objects = await _purge_objects(store, ref)
    rewritten = await exports.forget(store, ref)
    async with sessions.begin() as session:
        photos = await session.scalar(
            select(func.count()).select_from(Photo).where(Photo.user_id == user.id)
        )
        paid = await session.execute(
            update(Payment)
            .where(Payment.user_id == user.id)
            .values(user_id=None, autopay_binding_id=None, updated_at=now)
            .returning(Payment.id)
        )
        pseudonymised = len(paid.all())
        await session.execute(delete(User).where(User.id == user.id))
        await users.add_event(session, None, DSR_EVENT, now=now)
    objects += await _purge_objects(store, ref)
    log.info("user deleted", photos=photos, objects=objects, payments=pseudonymised)
    return Deleted(True, photos or 0, objects, rewritten, pseudonymised)


class SweepIncomplete(RuntimeError):
    """Some recorded deletions failed again; the job retries and the next run tries again."""


async def sweep(
    engine: AsyncEngine, store: storage.ObjectStore, *, secret: str, now: datetime
) -> dict[str, int]:
    """Finish every recorded deletion; raise :class:`SweepIncomplete` if any still fails."""
    deleted = 0
    failures: list[str] = []
    for tg_id in await pending(engine):
        try:
            await delete_user(engine, store, tg_id, secret=secret, now=now)
        except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the others
            log.warning("dsr deletion failed", error=repr(exc))
            failures.append(exc.__class__.__name__)
        else:
            deleted += 1
    if failures:
        kinds = ", ".join(sorted(set(failures)))
        raise SweepIncomplete(
            f"{len(failures)} recorded deletion(s) failed again ({kinds}); {deleted} finished"
        )
    return {"deleted": deleted}
