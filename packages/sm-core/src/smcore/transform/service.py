"""The Transform stage as the worker runs it: one object per worker holding the HTTP client,
the media store and the analysis service's client, built from settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.objectstore import ObjectStore, open_store
from smcore.settings import Settings
from smcore.transform import analysis, media
from smcore.transform.models import Downloads, Round, TransformInput

# Like a browser: some CDNs refuse clients that name no agent.
USER_AGENT = "sm-core/transform (+https://github.com/)"


@dataclass
class Transformer:
    """Downloads (when ``store``) and analyses (when ``analyst``) for synced profiles."""

    engine: AsyncEngine
    http: httpx.AsyncClient
    store: ObjectStore | None
    analyst: analysis.Analyst | None
    max_per_sync: int = 0
    max_bytes: int = 200 * 1024 * 1024
    wait_s: float = 6 * 3600.0

    @property
    def enabled(self) -> bool:
        return self.store is not None or self.analyst is not None

    def request(self, job_call_id: int) -> TransformInput | None:
        """The Transform a finished sync starts; None when the stage is off."""
        if not self.enabled:
            return None
        return TransformInput(
            job_call_id,
            db=self.engine.url.database or "",
            max_media=self.max_per_sync,
            wait_s=self.wait_s,
        )

    async def _profile(self, job_call_id: int) -> int | None:
        async with self.engine.connect() as conn:
            profile: int | None = await conn.scalar(
                text("SELECT subject_id FROM job_calls WHERE id = :id"), {"id": job_call_id}
            )
        return profile

    async def fetch(self, job_call_id: int, limit: int) -> Downloads:
        profile = await self._profile(job_call_id)
        if self.store is None or profile is None or limit <= 0:
            return Downloads()
        return await media.fetch_round(
            self.engine,
            self.http,
            self.store,
            profile_id=profile,
            limit=limit,
            max_bytes=self.max_bytes,
        )

    async def analyse(self, job_call_id: int) -> Round:
        profile = await self._profile(job_call_id)
        if self.analyst is None or profile is None:
            return Round()
        return await analysis.advance(
            self.engine, self.analyst, job_id=job_call_id, profile_id=profile
        )


@contextlib.asynccontextmanager
async def transformer(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Transformer]:
    """The worker's Transformer for the duration of the block."""
    store = (
        await asyncio.to_thread(
            open_store,
            settings.media_store_location(),
            endpoint_url=settings.media_s3_endpoint_url,
        )
        if settings.media_download
        else None
    )
    timeout = httpx.Timeout(
        settings.provider_read_timeout_s * 3, connect=settings.provider_connect_timeout_s
    )
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}
    ) as http:
        analyst = None
        if settings.analysis_api_url:
            analyst = analysis.Analyst(
                client=analysis.AnalysisClient(
                    http,
                    settings.analysis_api_url,
                    settings.analysis_api_key.get_secret_value(),
                ),
                namespace=engine.url.database or "",
                config=_config(settings.analysis_config),
                comments=settings.analysis_comments,
                predictions=settings.analysis_predictions,
                text_batch=settings.analysis_text_batch,
                poll_initial_s=settings.analysis_poll_initial_s,
                poll_max_s=settings.analysis_poll_max_s,
                job_timeout_s=settings.analysis_job_timeout_s,
            )
        yield Transformer(
            engine,
            http,
            store,
            analyst,
            max_per_sync=settings.media_max_per_sync,
            max_bytes=settings.media_max_bytes,
            wait_s=settings.analysis_wait_s,
        )


def _config(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"ANALYSIS_CONFIG is not JSON: {error}") from error
    if not isinstance(value, dict):
        raise ValueError("ANALYSIS_CONFIG must be a JSON object")
    return value
