"""DSR deletion: ``POST /v1/dsr/delete_user`` removes a user within the request (the contract
allows 30 days; nothing here needs them).

What goes: the ``users`` row and with it (``ON DELETE CASCADE``) photos, protocols,
photo usage, events and partner orders; every stored object under the user's pseudonymous
reference (photos, ML-dataset copies) and the user's rows in the activity exports.
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

from agronom import storage, users
from agronom.jobs import exports
from agronom.store.models import Payment, Photo, User

log = structlog.get_logger("agronom.dsr")
DSR_EVENT = "dsr_user_deleted"


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


async def delete_user(
    engine: AsyncEngine, store: storage.ObjectStore, tg_id: int, *, secret: str, now: datetime
) -> Deleted:
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
