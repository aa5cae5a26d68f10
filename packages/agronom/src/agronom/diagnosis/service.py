"""The diagnose flow (contract 6.1): one photo in, ``{crop, disease, confidence}`` and a
protocol out, with the photo row moving pending → retrying → ok | failed.

1. The user (created on first contact) is admitted by the abuse limits before the photo is
   even read (:mod:`agronom.users.limits`: photos a minute, refused photos a day) → 429
   ``LIMIT_EXCEEDED`` with ``Retry-After``.
2. The photo is read. The same Telegram photo (``file_unique_id``) from the same user, once
   diagnosed, is answered from what is stored: no model call, nothing counted.
3. The user must have a photo left this month → ``LIMIT_EXCEEDED``; the model's circuit breaker
   must not be open → ``GPT_TIMEOUT`` at once (with ``Retry-After``).
4. The photo is decoded (``BAD_REQUEST``), stripped of EXIF and measured, in a worker thread so
   the event loop keeps serving: too little vegetation → ``NO_LEAF``; neither counts against
   the quota, both count against the refused photos of the day.
5. One transaction counts the photo (atomically, against the limit), inserts the ``photos``
   row (``pending``) and stores the stripped JPEG.
6. The model is called up to ``DIAGNOSIS_MAX_ATTEMPTS`` times, with exponential backoff and
   jitter between attempts, through the circuit breaker; each failed attempt commits
   ``retrying`` and ``retry_attempts``. Success commits ``ok`` and the diagnosis; a confident
   one (``DIAGNOSIS_MIN_CONFIDENCE``) also its protocol, an unsure one none (the answer lists
   the top candidates instead). Giving up commits ``failed``, gives the photo back to the quota
   and raises ``GPT_TIMEOUT``; a model that refuses the call (4xx) is not retried and raises
   :class:`ModelRefusedPhoto` (``BAD_REQUEST``, 502), the photo given back too.

Every refusal is recorded by :func:`agronom.users.limits.record_refusal`. A photo left
``pending``/``retrying`` by a crash is failed and given back by :func:`release_stuck` (a job).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NoReturn

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agronom.clock import Clock, month_key
from agronom.diagnosis import images
from agronom.diagnosis.breaker import CircuitBreaker, CircuitOpen
from agronom.diagnosis.model import (
    Candidate,
    Diagnosis,
    ModelError,
    ModelRefused,
    VisionModel,
)
from agronom.diagnosis.protocols import TreatmentProtocol, protocol_for
from agronom.errors import (
    AgronomError,
    BadRequest,
    LimitExceeded,
    ModelRefusedPhoto,
    ModelTimeout,
    NoLeaf,
    TooManyRequests,
)
from agronom.settings import Settings
from agronom.store import objects as storage
from agronom.store.models import Photo, PhotoStatus, Protocol, User
from agronom.users import limits, quota
from agronom.users import service as users

log = structlog.get_logger("agronom.diagnosis")

IN_FLIGHT = (PhotoStatus.PENDING, PhotoStatus.RETRYING)
RELEASED_EVENT = "photo_released"
RELEASE_BATCH = 500


@dataclass(frozen=True)
class Upload:
    """The photo as received, with its Telegram ids when the bot sent it."""

    image: bytes
    file_id: str | None = None
    file_unique_id: str | None = None


PhotoReader = Callable[[], Awaitable[Upload]]


@dataclass(frozen=True)
class Result:
    photo_id: int
    protocol_id: int | None  # None when not confident
    diagnosis: Diagnosis
    protocol: TreatmentProtocol | None
    confident: bool
    retry_attempts: int
    used: int
    allowed: int
    repeated: bool = False  # answered from a stored diagnosis of the same photo


@dataclass(frozen=True)
class _Asked:
    """What asking the model came to."""

    diagnosis: Diagnosis | None
    retries: int
    refused: ModelRefused | None = None


class DiagnosisService:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        store: storage.ObjectStore,
        model: VisionModel,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.store = store
        self.model = model
        self.settings = settings
        self.clock = clock
        self.recently_refused = limits.RecentlyRefused()
        # (user id, file_unique_id) → the answer, while that photo is being diagnosed.
        self._running: dict[tuple[int, str], asyncio.Future[Result]] = {}
        self.breaker = CircuitBreaker(
            threshold=settings.model_breaker_failures,
            cooldown_s=settings.model_breaker_cooldown_s,
        )

    async def diagnose(self, *, tg_id: int, read: PhotoReader) -> Result:
        """Diagnose the photo ``read`` gives, for Telegram user ``tg_id``; ``read`` is awaited
        only once the user is admitted, so a refused flood is never read or parsed."""
        now = self.clock()
        user = await self._admit(tg_id, now)
        upload = await read()
        async with self.sessions.begin() as session:
            if upload.file_unique_id:
                stored = await self._stored(session, user, upload.file_unique_id, now)
                if stored is not None:
                    log.info("answered again", photo_id=stored.photo_id, user_id=user.id)
                    return stored
            refusal = await self._refusal(session, user, now)
        if refusal is not None:
            raise refusal
        if not upload.file_unique_id:
            return await self._diagnose(user, upload, now)
        # The same photo sent again while it is being diagnosed (a double tap): the second
        # waits for the first's answer instead of asking the model again. Within this process;
        # across API processes the stored answer above catches the later ones.
        key = (user.id, upload.file_unique_id)
        running = self._running.get(key)
        if running is not None:
            try:
                result = await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this request was cancelled, not the first
                return await self._diagnose(user, upload, now)  # the first's client left
            log.info("answered with the same photo's", photo_id=result.photo_id, user_id=user.id)
            return dataclasses.replace(result, repeated=True)
        self._running[key] = future = asyncio.get_running_loop().create_future()
        try:
            result = await self._diagnose(user, upload, now)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[key]

    async def _diagnose(self, user: User, upload: Upload, now: datetime) -> Result:
        """A photo not seen before: cleaned, counted, stored, asked about, answered."""
        photo = await self._clean(user.id, upload.image, now)
        async with self.sessions.begin() as session:
            used = await quota.reserve(session, user, now=now, settings=self.settings)
            row = Photo(
                user_id=user.id,
                file_id=upload.file_id,
                file_unique_id=upload.file_unique_id,
                width=photo.width,
                height=photo.height,
                file_size=len(photo.jpeg),
                status=PhotoStatus.PENDING,
                ts=now,
            )
            session.add(row)
            await session.flush()
            ref = users.ref(user.id, secret=self.settings.pseudonym_secret.get_secret_value())
            await self.store.put(
                storage.photo_key(ref, row.id), photo.jpeg, content_type="image/jpeg"
            )
        bound = log.bind(photo_id=row.id, user_id=user.id)
        asked = await self._ask_model(row.id, photo.jpeg, bound)
        if asked.diagnosis is None:
            await self._give_up(row.id, user.id, asked, now)
        diagnosis = asked.diagnosis
        confident = diagnosis.confidence >= self.settings.diagnosis_min_confidence
        protocol = protocol_for(diagnosis.crop, diagnosis.disease) if confident else None
        async with self.sessions.begin() as session:
            await self._set(
                session,
                row.id,
                status=PhotoStatus.OK,
                retry_attempts=asked.retries,
                crop=diagnosis.crop,
                disease=diagnosis.disease,
                confidence=Decimal(str(diagnosis.confidence)),
            )
            protocol_id = None
            if protocol is not None:
                stored_protocol = Protocol(
                    photo_id=row.id,
                    crop=protocol.crop,
                    disease=protocol.disease,
                    summary=protocol.summary,
                    steps=protocol.steps,
                    products=protocol.products,
                    safety_notes=protocol.safety_notes,
                    created_at=self.clock(),
                )
                session.add(stored_protocol)
                await session.flush()
                protocol_id = stored_protocol.id
        bound.info(
            "diagnosed",
            crop=diagnosis.crop,
            disease=diagnosis.disease,
            confident=confident,
            retries=asked.retries,
        )
        return Result(
            photo_id=row.id,
            protocol_id=protocol_id,
            diagnosis=diagnosis,
            protocol=protocol,
            confident=confident,
            retry_attempts=asked.retries,
            used=used,
            allowed=quota.allowed(user, now, self.settings),
        )

    async def _admit(self, tg_id: int, now: datetime) -> User:
        """The user, created on first contact, if the abuse limits let them send a photo now."""
        per_minute = self.settings.photos_per_minute
        if known := self.recently_refused.get(tg_id, now):
            user_id, until = known
            async with self.sessions.begin() as session:
                # The user may have been deleted since (DSR): then they start afresh below.
                alive = await session.scalar(
                    select(User.id).where(User.id == user_id).with_for_update(key_share=True)
                )
                if alive is not None:
                    await limits.record_refusal(session, user_id, limits.Refusal.RATE, now=now)
            if alive is not None:
                raise limits.RateRefused(per_minute=per_minute, now=now, until=until)
            self.recently_refused.forget(tg_id)
        async with self.sessions.begin() as session:
            user = await users.ensure(session, tg_id, now=now)
            try:
                await limits.admit_photo(session, user.id, now=now, settings=self.settings)
            except TooManyRequests as exc:
                await limits.record_refusal(session, user.id, limits.Refusal(exc.reason), now=now)
                if isinstance(exc, limits.RateRefused):
                    self.recently_refused.remember(tg_id, user.id, exc.until, now=now)
                refusal = exc
            else:
                return user
        raise refusal

    async def _refusal(
        self, session: AsyncSession, user: User, now: datetime
    ) -> AgronomError | None:
        """Why the photo may not go on (the monthly quota, the model down), recorded; ``None``
        when it may."""
        try:
            await quota.check(session, user, now=now, settings=self.settings)
        except LimitExceeded as exc:
            await limits.record_refusal(session, user.id, limits.Refusal.QUOTA, now=now)
            return exc
        down = self._model_down()
        if down is not None:
            await limits.record_refusal(session, user.id, limits.Refusal.MODEL_DOWN, now=now)
        return down

    def _model_down(self) -> ModelTimeout | None:
        """A fast ``GPT_TIMEOUT`` while the breaker is open (before any work is done)."""
        wait = self.breaker.retry_after_s()
        if wait <= 0:
            return None
        return ModelTimeout(
            "the diagnosis model is not answering; photos are not accepted for "
            f"{wait} s, and this one was not counted: please send it again later",
            attempts=0,
            retry_after_s=wait,
        )

    async def _clean(self, user_id: int, image: bytes, now: datetime) -> images.CleanPhoto:
        """Decode, strip and measure in a worker thread (Pillow and numpy release the GIL: the
        event loop keeps serving other requests meanwhile); refusals are recorded."""
        try:
            photo = await asyncio.to_thread(
                images.clean, image, max_bytes=self.settings.max_upload_bytes
            )
        except BadRequest:
            await self._record(user_id, limits.Refusal.BAD_IMAGE, now)
            raise
        if photo.vegetation < self.settings.leaf_min_coverage:
            await self._record(user_id, limits.Refusal.NO_LEAF, now)
            raise NoLeaf(
                f"no leaf found: {photo.vegetation:.1%} of the photo looks like a plant "
                f"(at least {self.settings.leaf_min_coverage:.0%} is needed); "
                "photograph the affected leaf up close in daylight",
                coverage=photo.vegetation,
            )
        return photo

    async def _record(self, user_id: int, kind: limits.Refusal, now: datetime) -> None:
        async with self.sessions.begin() as session:
            await limits.record_refusal(session, user_id, kind, now=now)

    async def _stored(
        self, session: AsyncSession, user: User, file_unique_id: str, now: datetime
    ) -> Result | None:
        """The stored answer to this user's photo ``file_unique_id``, if it was diagnosed."""
        found = (
            await session.execute(
                select(Photo, Protocol)
                .outerjoin(Protocol, Protocol.photo_id == Photo.id)
                .where(
                    Photo.user_id == user.id,
                    Photo.file_unique_id == file_unique_id,
                    Photo.status == PhotoStatus.OK,
                    ~Photo.deleted,
                )
                .order_by(Photo.id.desc())
                .limit(1)
            )
        ).first()
        if found is None:
            return None
        photo, stored = found
        top = Candidate(
            photo.crop or "unknown", photo.disease or "unknown", float(photo.confidence or 0)
        )
        protocol = (
            TreatmentProtocol(
                crop=stored.crop,
                disease=stored.disease,
                summary=stored.summary,
                steps=list(stored.steps),
                products=list(stored.products),
                safety_notes=stored.safety_notes,
            )
            if stored is not None
            else None
        )
        month = month_key(now, self.settings.quota_timezone)
        return Result(
            photo_id=photo.id,
            protocol_id=stored.id if stored is not None else None,
            # The alternatives were not stored: an unsure answer repeats its top candidate.
            diagnosis=Diagnosis(top.crop, top.disease, top.confidence, (top,)),
            protocol=protocol,
            confident=stored is not None,
            retry_attempts=photo.retry_attempts,
            used=await quota.used(session, user.id, month),
            allowed=quota.allowed(user, now, self.settings),
            repeated=True,
        )

    def backoff_s(self, retry: int) -> float:
        """The pause before retry ``retry`` (0-based): exponential, capped, with "equal jitter"
        (half fixed, half random), so pauses never shrink from one retry to the next and
        clients that failed together do not retry together."""
        ceiling = min(
            self.settings.diagnosis_backoff_max_s,
            self.settings.diagnosis_backoff_base_s * 2.0**retry,
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    async def _ask_model(
        self, photo_id: int, jpeg: bytes, bound: structlog.typing.FilteringBoundLogger
    ) -> _Asked:
        attempts = self.settings.diagnosis_max_attempts
        for attempt in range(attempts):
            try:
                self.breaker.before_call()
            except CircuitOpen as exc:
                bound.warning("model breaker open", attempt=attempt + 1, error=str(exc))
                return _Asked(None, attempt)
            try:
                diagnosis = await self.model.diagnose(jpeg)
            except ModelRefused as exc:
                self.breaker.succeeded()  # the endpoint answered: it is up
                bound.warning("model refused the call", status=exc.status, error=str(exc))
                return _Asked(None, attempt, refused=exc)
            except ModelError as exc:
                self.breaker.failed()
                bound.warning("model attempt failed", attempt=attempt + 1, error=str(exc))
                if attempt + 1 == attempts:
                    return _Asked(None, attempt)
                async with self.sessions.begin() as session:
                    await self._set(
                        session, photo_id, status=PhotoStatus.RETRYING, retry_attempts=attempt + 1
                    )
                await asyncio.sleep(self.backoff_s(attempt))
                continue
            self.breaker.succeeded()
            return _Asked(diagnosis, attempt)
        return _Asked(None, attempts - 1)  # unreachable: the loop returns; keeps types honest

    async def _give_up(self, photo_id: int, user_id: int, asked: _Asked, now: datetime) -> NoReturn:
        """Fail the photo, give it back to the quota, raise what the client is told. The photo
        is given back once: not if the stuck-photos job has failed it already."""
        async with self.sessions.begin() as session:
            failed = await session.scalar(
                update(Photo)
                .where(Photo.id == photo_id, Photo.status.in_(IN_FLIGHT))
                .values(status=PhotoStatus.FAILED, retry_attempts=asked.retries)
                .returning(Photo.id)
            )
            if failed is not None:
                await quota.refund(
                    session,
                    user_id,
                    month_key(now, self.settings.quota_timezone),
                    now=self.clock(),
                )
            if asked.refused is not None:
                await limits.record_refusal(session, user_id, limits.Refusal.MODEL, now=now)
        if asked.refused is not None:
            raise ModelRefusedPhoto(
                f"the diagnosis model refused to diagnose this photo ({asked.refused}); "
                "the photo was not counted",
                status=asked.refused.status,
                photo_id=photo_id,
            )
        wait = self.breaker.retry_after_s()
        raise ModelTimeout(
            "the diagnosis model did not answer in time after "
            f"{asked.retries + 1} attempt(s); the photo was not counted, please try again later",
            attempts=asked.retries + 1,
            photo_id=photo_id,
            retry_after_s=wait or None,
        )

    @staticmethod
    async def _set(session: AsyncSession, photo_id: int, **values: object) -> None:
        await session.execute(update(Photo).where(Photo.id == photo_id).values(**values))


async def release_stuck(
    session: AsyncSession, *, now: datetime, max_age: timedelta, zone: str
) -> dict[str, int]:
    """Fail one batch of photos left ``pending``/``retrying`` for longer than ``max_age`` (a
    crash between counting a photo and finishing it) and give each back to the quota of the
    month it was counted in, with a ``photo_released`` event. Call again while ``released``
    equals the batch size."""
    rows = (
        await session.execute(
            select(Photo.id, Photo.user_id, Photo.ts)
            .where(Photo.status.in_(IN_FLIGHT), Photo.ts < now - max_age)
            .order_by(Photo.id)
            .limit(RELEASE_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for photo_id, user_id, ts in rows:
        await quota.refund(session, user_id, month_key(ts, zone), now=now)
        await users.add_event(session, user_id, RELEASED_EVENT, now=now)
        log.warning("stuck photo released", photo_id=photo_id, user_id=user_id)
    if rows:
        await session.execute(
            update(Photo)
            .where(Photo.id.in_([r[0] for r in rows]))
            .values(status=PhotoStatus.FAILED)
        )
    return {"released": len(rows)}
