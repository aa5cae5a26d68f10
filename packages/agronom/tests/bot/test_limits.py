# ruff: noqa: RUF001 - the bot speaks Russian
"""The bot's early limits (``runner.dispatcher`` with :class:`BotLimits`): a user's photos
beyond the rate are refused before they are downloaded, updates are handled at most N at
once; and an unsure diagnosis asks for another photo, offering the candidates."""

from __future__ import annotations

import asyncio

from agronom.bot import handlers, limits, runner
from agronom.bot.backend import AgronomClient
from agrosim import photos

from ..conftest import BOT_SECRET  # noqa: TID252
from .conftest import Bench, command  # noqa: TID252


def _bench(bench: Bench, **kwargs: int) -> Bench:
    dp = runner.dispatcher(
        AgronomClient(bench.api_http, secret=BOT_SECRET), limits.BotLimits(**kwargs)
    )
    return Bench(dp, bench.bot, bench.telegram, bench.api_http)


async def test_photos_beyond_the_rate_are_refused_without_downloading(bench: Bench, vision) -> None:
    limited = _bench(bench, photos_per_minute=2, max_concurrent_updates=4)
    chat = limited.chat(6101)
    for n in range(2):
        assert (await chat.photo(photos.leaf(seed=n), file_id=f"AgAD{n}")).startswith("Диагноз")
    downloads, asked = len(bench.telegram.downloads), vision.requests
    assert await chat.photo(photos.leaf(seed=5), file_id="AgAD5") == limits.TOO_FAST
    replies = len(bench.telegram.sent())
    await chat.photo(photos.leaf(seed=6), file_id="AgAD6")
    assert len(bench.telegram.sent()) == replies, "told once per streak, not once per photo"
    assert len(bench.telegram.downloads) == downloads, "nothing downloaded"
    assert vision.requests == asked, "nothing reached the API's model"
    other = limited.chat(6102)
    assert (await other.photo(photos.leaf(), file_id="AgAD7")).startswith("Диагноз")


async def test_the_apis_abuse_refusal_is_told_apart_from_the_monthly_quota(
    bench: Bench, vision
) -> None:
    """Past the bot's own limit (set loose here), the API refuses with LIMIT_EXCEEDED and
    ``reason: rate``: the bot says to slow down, not that the month's photos are used up."""
    loose = _bench(bench, photos_per_minute=100, max_concurrent_updates=4)
    chat = loose.chat(6401)
    for n in range(10):  # the API's PHOTOS_PER_MINUTE; photos without a leaf cost no quota
        assert "не видно листа" in await chat.photo(photos.wall(), f"wall{n}")
    assert await chat.photo(photos.wall(), "wall10") == handlers.TOO_MANY["rate"]


async def test_at_most_the_cap_of_updates_is_handled_at_once(bench: Bench) -> None:
    capped = _bench(bench, photos_per_minute=10, max_concurrent_updates=2)
    await asyncio.gather(
        *(
            capped.dp.feed_raw_update(
                capped.bot, {"update_id": 100 + n, "message": command(6200 + n, "/limits")}
            )
            for n in range(8)
        )
    )
    [cap] = [m for m in capped.dp.update.outer_middleware if isinstance(m, limits.ConcurrencyCap)]
    assert cap.peak == 2, "updates ran side by side, never more than the cap"
    assert len(bench.telegram.sent()) == 8, "every update was answered"


async def test_an_unsure_diagnosis_asks_for_another_photo_with_the_candidates(
    bench: Bench, vision
) -> None:
    reply = await bench.chat(6301).photo(photos.leaf(spots="mixed"))
    assert reply.startswith("Я не уверен в диагнозе")
    assert "ещё одно фото" in reply
    assert "1. мучнистая роса (42%)" in reply and "2. фитофтороз (35%)" in reply
    assert "Что делать" not in reply and "Препараты" not in reply
