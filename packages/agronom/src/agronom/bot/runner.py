"""Running the bot: long polling in development, a webhook in production."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agronom.bot.handlers import Handlers
from agronom.bot.telegram import BotAPI, TelegramError

log = structlog.get_logger("agronom.bot")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "/telegram/webhook"


async def poll(telegram: BotAPI, handlers: Handlers, *, stop: asyncio.Event) -> None:
    """Long-poll getUpdates until ``stop`` is set (development)."""
    await telegram.delete_webhook()
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await telegram.get_updates(offset)
        except TelegramError as exc:
            log.warning("getUpdates failed", error=str(exc))
            await asyncio.sleep(exc.retry_after or 3)
            continue
        for update in updates:
            offset = update["update_id"] + 1
            await handlers.handle(update)


def webhook_app(handlers: Handlers, *, secret: str) -> Starlette:
    """The webhook endpoint Telegram posts updates to (production)."""

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"error": "bad secret token"}, status_code=403)
        try:
            update: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if isinstance(update, dict):
            await handlers.handle(update)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"])])
