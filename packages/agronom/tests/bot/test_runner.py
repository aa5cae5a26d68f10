"""``runner.run``, what ``agronom bot`` runs: long polling without TELEGRAM_WEBHOOK_URL, the
webhook (an aiohttp server on loopback, secret token checked) with it. The API runs as a real
HTTP server here, at API_BASE_URL, as it does for the bot in production."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from agronom.bot import runner
from agronom.settings import Settings
from agrosim.server import ThreadedServer, free_port

from .conftest import FakeTelegram, command  # noqa: TID252

UPDATES = ["callback_query", "message", "pre_checkout_query"]  # what the handlers need

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def api_url(api_app: Any) -> Iterator[str]:
    with ThreadedServer(api_app) as server:
        yield server.url


async def _stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def test_long_polling_drops_the_webhook_answers_and_confirms_updates(
    bot_settings: Settings, telegram: FakeTelegram, api_url: str
) -> None:
    settings = bot_settings.model_copy(update={"api_base_url": api_url})
    await telegram.push(
        {"update_id": 41, "message": command(6001, "/start")},
        {"update_id": 42, "message": command(6002, "/limits")},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(settings, stop=stop))
    try:
        await telegram.wait_for("sendMessage", 2)
        await telegram.wait_for("getUpdates", 2)  # the next poll confirms both
    finally:
        await _stopped(task, stop)

    methods = telegram.methods()
    assert methods[0] == "deleteWebhook", "getUpdates is refused while a webhook is set"
    polls = [params for method, params in telegram.calls if method == "getUpdates"]
    assert sorted(polls[0]["allowed_updates"]) == UPDATES
    assert polls[0]["timeout"] == str(runner.POLL_WAIT_S)
    assert "offset" not in polls[0] and polls[1]["offset"] == "43"
    assert telegram.pending == [], "Telegram forgot the confirmed updates"
    replies = {m["chat_id"]: m["text"] for m in telegram.sent()}
    assert "Карманный агроном" in replies["6001"]
    assert replies["6002"].startswith("Использовано 0 из 3")


async def test_the_webhook_refuses_a_wrong_secret_token_and_answers_with_the_right_one(
    bot_settings: Settings, telegram: FakeTelegram, api_url: str
) -> None:
    settings = bot_settings.model_copy(
        update={
            "api_base_url": api_url,
            "telegram_webhook_url": "https://bot.example.org/tg/hook",
            "telegram_webhook_secret": SecretStr("s3cret-token"),
        }
    )
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(settings, host="127.0.0.1", port=port, stop=stop))
    try:
        await telegram.wait_for("setWebhook")  # called once the server listens
        [(_, hook)] = [c for c in telegram.calls if c[0] == "setWebhook"]
        assert hook["url"] == "https://bot.example.org/tg/hook"
        assert hook["secret_token"] == "s3cret-token"
        assert sorted(hook["allowed_updates"]) == UPDATES
        update = {"update_id": 7, "message": command(6003, "/start")}
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with httpx.AsyncClient(timeout=10) as client:
            for headers in ({SECRET_HEADER: "wrong"}, {}):
                refused = await client.post(url, json=update, headers=headers)
                assert refused.status_code == 401
            accepted = await client.post(url, json=update, headers={SECRET_HEADER: "s3cret-token"})
            assert accepted.status_code == 200
        await telegram.wait_for("sendMessage")
    finally:
        await _stopped(task, stop)
    [reply] = telegram.sent()
    assert reply["chat_id"] == "6003" and "Карманный агроном" in reply["text"]
    assert "deleteWebhook" not in telegram.methods(), "a restart keeps the webhook"
