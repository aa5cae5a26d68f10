"""Running the bot on aiogram 3: the dispatcher, the Bot, long polling (development) and the
webhook (production).

The mode follows the settings, as ``agronom bot`` always has: with ``TELEGRAM_WEBHOOK_URL``
set, an aiohttp app serves the webhook (aiogram's :class:`SimpleRequestHandler`, which refuses a
request whose ``X-Telegram-Bot-Api-Secret-Token`` is not ``TELEGRAM_WEBHOOK_SECRET``) and
``setWebhook`` is called once it listens; without it, the webhook is deleted and the bot long-polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import structlog
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from agronom.bot import handlers
from agronom.bot.backend import AgronomClient
from agronom.bot.limits import BotLimits, ConcurrencyCap, PhotoRateLimit
from agronom.bot.reconcile import StarsLedger
from agronom.settings import Settings

log = structlog.get_logger("agronom.bot")

WEBHOOK_PATH = "/telegram/webhook"
"""Where the webhook listens when ``TELEGRAM_WEBHOOK_URL`` has no path of its own."""
POLL_WAIT_S = 25
"""How long one getUpdates may wait on Telegram's side for an update (long polling)."""


def dispatcher(api: AgronomClient, limits: BotLimits | None = None) -> Dispatcher:
    """The dispatcher with the bot's router; ``api`` reaches every handler as workflow data.

    ``limits`` (default: the settings' defaults): at most that many updates handled at once,
    and a user's photos beyond the rate refused before they are downloaded
    (:mod:`agronom.bot.limits`)."""
    limits = limits or BotLimits()
    dp = Dispatcher(api=api)
    dp.update.outer_middleware(ConcurrencyCap(limits.max_concurrent_updates))
    dp.message.outer_middleware(PhotoRateLimit(limits.photos_per_minute))
    dp.include_router(handlers.router())
    return dp


def make_bot(settings: Settings) -> Bot:
    """The Bot on aiogram's aiohttp session, at ``TELEGRAM_API_BASE`` (a local Bot API server is
    possible), with link previews off: a payment link must not unfurl into a card."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(link_preview_is_disabled=True),
    )


def webhook_path(url: str) -> str:
    """The path the webhook is served at: the public URL's own (a proxy forwards it as is)."""
    return urlsplit(url).path or WEBHOOK_PATH


def webhook_app(dp: Dispatcher, bot: Bot, *, path: str, secret: str) -> web.Application:
    """The aiohttp app Telegram posts updates to. Updates are handled in the background, so a
    slow diagnosis never holds Telegram's request (it would retry, and we would answer twice).
    Startup and shutdown run the dispatcher's hooks; shutdown closes the bot's session."""
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path=path)
    setup_application(app, dp, bot=bot)
    return app


async def run(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the bot until ``stop`` is set (by default: until SIGINT or SIGTERM).

    Args:
        settings: the app's settings; ``TELEGRAM_WEBHOOK_URL`` chooses webhook over polling.
        host: webhook mode: the interface to listen on.
        port: webhook mode: the port to listen on.
        stop: set it to stop the bot; when none is given, SIGINT and SIGTERM set one.
    """
    with contextlib.ExitStack() as stack:
        if stop is None:
            stop = stack.enter_context(_stop_on_signals())
        async with httpx.AsyncClient(base_url=settings.api_base_url) as http:
            api = AgronomClient(http, secret=settings.bot_api_secret.get_secret_value())
            dp = dispatcher(api, BotLimits.from_settings(settings))
            bot = make_bot(settings)
            # Stars payments whose messages were lost, read back from Telegram's ledger.
            ledger = asyncio.create_task(StarsLedger(bot, api).run(stop))
            try:
                if settings.telegram_webhook_url:
                    await _serve_webhook(dp, bot, settings, host=host, port=port, stop=stop)
                else:
                    await _poll(dp, bot, stop=stop, concurrency=settings.bot_max_concurrent_updates)
            finally:
                ledger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ledger
                await bot.session.close()  # a no-op when polling or the webhook closed it


async def _poll(
    dp: Dispatcher, bot: Bot, *, stop: asyncio.Event, concurrency: int | None = None
) -> None:
    # getUpdates is refused while a webhook is set: drop it (pending updates are kept).
    await bot.delete_webhook()
    log.info("long polling", allowed_updates=dp.resolve_used_update_types())
    polling = asyncio.create_task(
        # Each update is a task, at most `concurrency` at once: polling pauses at the cap.
        dp.start_polling(
            bot,
            polling_timeout=POLL_WAIT_S,
            handle_signals=False,
            handle_as_tasks=True,
            tasks_concurrency_limit=concurrency,
        )
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if polling not in done:
            await dp.stop_polling()
        await polling  # its own failure, if it ended by itself
    finally:
        stopping.cancel()


async def _serve_webhook(
    dp: Dispatcher, bot: Bot, settings: Settings, *, host: str, port: int, stop: asyncio.Event
) -> None:
    url = settings.telegram_webhook_url
    secret = settings.telegram_webhook_secret.get_secret_value()
    path = webhook_path(url)
    runner = web.AppRunner(webhook_app(dp, bot, path=path, secret=secret))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        # Only now that it listens may Telegram start posting.
        await bot.set_webhook(
            url, secret_token=secret, allowed_updates=dp.resolve_used_update_types()
        )
        log.info("webhook", url=url, listen=f"{host}:{port}{path}")
        await stop.wait()
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
