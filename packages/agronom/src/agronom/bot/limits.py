"""The bot's own abuse limits, cheap and early: aiogram middlewares that run before any
handler, so a flood costs neither a photo download from Telegram nor a call to the API.

- :class:`PhotoRateLimit`: per user, in memory, a token bucket of ``PHOTOS_PER_MINUTE``
  photos (a burst of N, refilled at N a minute). A photo over it is answered "too fast" (once
  per streak, so the bot does not flood the user back) and dropped without downloading it.
  The API enforces the same limit for every process in PostgreSQL; this one only saves work,
  so a per-process view is enough here.
- :class:`ConcurrencyCap`: at most ``BOT_MAX_CONCURRENT_UPDATES`` updates handled at once; the
  others wait their turn (long polling also stops fetching: ``tasks_concurrency_limit``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from agronom.settings import Settings

log = structlog.get_logger("agronom.bot")

TOO_FAST = "Слишком много фото подряд. Подождите минуту и пришлите одно фото поражённого листа."
MAX_TRACKED_USERS = 100_000  # buckets kept; the idle ones are forgotten first

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class BotLimits:
    photos_per_minute: int = 10
    max_concurrent_updates: int = 32

    @classmethod
    def from_settings(cls, settings: Settings) -> BotLimits:
        return cls(settings.photos_per_minute, settings.bot_max_concurrent_updates)


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class PhotoRateLimit(BaseMiddleware):
    """Refuse a user's photos beyond ``per_minute`` before they are downloaded."""

    def __init__(self, per_minute: int, *, monotonic: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.monotonic = monotonic
        self.buckets: dict[int, _Bucket] = {}
        self.refused = 0  # photos refused by this process (a counter for metrics)

    def take(self, user_id: int) -> _Bucket | None:
        """Take a token of ``user_id``'s bucket: ``None`` when taken, else the empty bucket."""
        now = self.monotonic()
        bucket = self.buckets.pop(user_id, None) or _Bucket(self.capacity, now)
        self.buckets[user_id] = bucket  # the most recent user last: pruned last
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if len(self.buckets) > MAX_TRACKED_USERS:
            del self.buckets[next(iter(self.buckets))]
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return None
        return bucket

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message) or not event.photo or event.from_user is None:
            return await handler(event, data)
        empty = self.take(event.from_user.id)
        if empty is None:
            return await handler(event, data)
        self.refused += 1
        log.info("photo refused early", user_id=event.from_user.id, kind="rate")
        if not empty.warned:
            empty.warned = True
            await event.answer(TOO_FAST)
        return None


class ConcurrencyCap(BaseMiddleware):
    """At most ``limit`` updates in handlers at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.gate = asyncio.Semaphore(limit)
        self.active = 0
        self.peak = 0  # the most updates handled at once so far

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.gate:
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                return await handler(event, data)
            finally:
                self.active -= 1
