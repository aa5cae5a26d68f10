"""The diagnose flow (contract 6.1): one photo in, ``{crop, disease, confidence}`` and a
protocol out, with the photo row moving pending → retrying → ok | failed.

1. The user (created on first contact) must have a photo left this month → ``LIMIT_EXCEEDED``.
2. The photo is decoded (``BAD_REQUEST``), stripped of EXIF and measured: too little
   vegetation → ``NO_LEAF``; neither counts against the quota.
3. One transaction counts the photo (atomically, against the limit), inserts the ``photos``
   row (``pending``) and stores the stripped JPEG.
4. The model is called up to ``DIAGNOSIS_MAX_ATTEMPTS`` times; each failed attempt commits
   ``retrying`` and ``retry_attempts``. Success commits ``ok``, the diagnosis and the protocol;
   giving up commits ``failed``, gives the photo back to the quota and raises ``GPT_TIMEOUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agronom.clock import Clock, month_key
from agronom.diagnosis import images
from agronom.diagnosis.model import Diagnosis, ModelError, ModelRefused, VisionModel
from agronom.diagnosis.protocols import TreatmentProtocol, protocol_for
from agronom.errors import ModelTimeout, NoLeaf
from agronom.settings import Settings
from agronom.store import objects as storage
from agronom.store.models import Photo, PhotoStatus, Protocol
from agronom.users import quota
from agronom.users import service as users

log = structlog.get_logger("agronom.diagnosis")


@dataclass(frozen=True)
class Result:
    photo_id: int
    protocol_id: int
    diagnosis: Diagnosis
    protocol: TreatmentProtocol
    retry_attempts: int
    used: int
    allowed: int


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

    async def diagnose(
        self,
        *,
        tg_id: int,
        image: bytes,
        file_id: str | None = None,
        file_unique_id: str | None = None,
    ) -> Result:
        now = self.clock()
        async with self.sessions.begin() as session:
            user = await users.ensure(session, tg_id, now=now)
            await quota.check(session, user, now=now, settings=self.settings)
        photo = images.clean(image, max_bytes=self.settings.max_upload_bytes)
        if photo.vegetation < self.settings.leaf_min_coverage:
            raise NoLeaf(
                f"no leaf found: {photo.vegetation:.1%} of the photo looks like a plant "
                f"(at least {self.settings.leaf_min_coverage:.0%} is needed); "
                "photograph the affected leaf up close in daylight",
                coverage=photo.vegetation,
            )
        async with self.sessions.begin() as session:
            used = await quota.reserve(session, user, now=now, settings=self.settings)
            row = Photo(
                user_id=user.id,
                file_id=file_id,
                file_unique_id=file_unique_id,
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
        diagnosis, retries = await self._ask_model(row.id, photo.jpeg, bound)
        if diagnosis is None:
            async with self.sessions.begin() as session:
                await self._set(session, row.id, status=PhotoStatus.FAILED, retry_attempts=retries)
                await quota.refund(
                    session,
                    user.id,
                    month_key(now, self.settings.quota_timezone),
                    now=self.clock(),
                )
            raise ModelTimeout(
                "the diagnosis model did not answer in time after "
                f"{retries + 1} attempt(s); the photo was not counted, please try again later",
                attempts=retries + 1,
                photo_id=row.id,
            )
        protocol = protocol_for(diagnosis.crop, diagnosis.disease)
        async with self.sessions.begin() as session:
            await self._set(
                session,
                row.id,
                status=PhotoStatus.OK,
                retry_attempts=retries,
                crop=diagnosis.crop,
                disease=diagnosis.disease,
                confidence=Decimal(str(diagnosis.confidence)),
            )
            stored = Protocol(
                photo_id=row.id,
                crop=protocol.crop,
                disease=protocol.disease,
                summary=protocol.summary,
                steps=protocol.steps,
                products=protocol.products,
                safety_notes=protocol.safety_notes,
                created_at=self.clock(),
            )
            session.add(stored)
            await session.flush()
        bound.info("diagnosed", crop=diagnosis.crop, disease=diagnosis.disease, retries=retries)
        return Result(
            photo_id=row.id,
            protocol_id=stored.id,
            diagnosis=diagnosis,
            protocol=protocol,
            retry_attempts=retries,
            used=used,
            allowed=quota.allowed(user, now, self.settings),
        )

    async def _ask_model(
        self, photo_id: int, jpeg: bytes, bound: structlog.typing.FilteringBoundLogger
    ) -> tuple[Diagnosis | None, int]:
        """The diagnosis and the number of retries it took; ``None`` when every attempt failed."""
        attempts = self.settings.diagnosis_max_attempts
        for attempt in range(attempts):
            try:
                return await self.model.diagnose(jpeg), attempt
            except ModelError as exc:
                bound.warning("model attempt failed", attempt=attempt + 1, error=str(exc))
                if isinstance(exc, ModelRefused) or attempt + 1 == attempts:
                    return None, attempt
                async with self.sessions.begin() as session:
                    await self._set(
                        session, photo_id, status=PhotoStatus.RETRYING, retry_attempts=attempt + 1
                    )
        return None, attempts - 1  # unreachable: the loop returns; keeps the types honest

    @staticmethod
    async def _set(session: AsyncSession, photo_id: int, **values: object) -> None:
        await session.execute(update(Photo).where(Photo.id == photo_id).values(**values))
