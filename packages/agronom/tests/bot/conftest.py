"""The bot's test bench: Telegram's Bot API faked as a real aiohttp server on loopback, so the bot
runs on aiogram's own aiohttp session (its request encoding, its response parsing, its file
download) and only Telegram's side is ours. Behind the bot, the real API (real PostgreSQL, the
vision server and the T-Bank simulator)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiohttp import web
from pydantic import SecretStr

from agronom.api.app import create_app
from agronom.bot import runner
from agronom.bot.backend import AgronomClient
from agronom.settings import Settings
from agronom.store import objects as storage
from agrosim.server import ThreadedServer
from agrosim.tbank import TBankSim

from ..conftest import BOT_SECRET, TBANK_PASSWORD, TERMINAL, MovableClock  # noqa: TID252

TOKEN = "123456:TEST-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Агроном", "username": "agronom_test_bot"}
# Fields Telegram reads as JSON-serialized objects (aiogram sends them so, as form fields).
JSON_FIELDS = {"reply_markup", "link_preview_options", "allowed_updates", "entities", "prices"}
SUBSCRIPTION_PERIOD = 2592000  # the only period Telegram allows for a Stars subscription
BAD_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"


PAYMENT_METHODS = frozenset(
    {"createInvoiceLink", "answerPreCheckoutQuery", "refundStarPayment", "getStarTransactions"}
)


class FakeTelegram:
    """Telegram's side of the Bot API: answers methods as Telegram does, records every call, keeps
    the pending updates for getUpdates (long polling, confirmed by ``offset``) and serves files."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.url = ""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}  # file_id -> content
        self.downloads: list[str] = []  # file paths fetched
        self.pending: list[dict[str, Any]] = []  # updates not yet confirmed
        self.refuse: dict[str, tuple[int, str]] = {}  # method -> (HTTP status, description)
        self._paths: dict[str, str] = {}  # file_path -> file_id
        # Payments: invoice links made, pre-checkout queries asked, Stars charges taken.
        self.invoices: dict[str, dict[str, Any]] = {}  # link -> createInvoiceLink params
        self.queries: dict[str, dict[str, Any]] = {}  # query id -> {"invoice", "answer"}
        self.charges: dict[str, dict[str, Any]] = {}  # telegram_payment_charge_id -> charge
        # The bot's Star transactions, chronological (getStarTransactions), as StarTransaction.
        self.ledger: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1_000_000)  # updates Telegram makes by itself
        self._changed = asyncio.Condition()
        self._closing = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    # ------------------------------------------------------------------ what tests read
    def sent(self) -> list[dict[str, Any]]:
        return [params for method, params in self.calls if method == "sendMessage"]

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def answers(self) -> list[dict[str, Any]]:
        """The bot's answers to pre-checkout queries."""
        return [params for method, params in self.calls if method == "answerPreCheckoutQuery"]

    async def wait_for(self, method: str, count: int = 1, within_s: float = 15) -> None:
        """Until ``count`` calls of ``method`` have arrived (the bot works in the background)."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: self.methods().count(method) >= count)

    async def push(self, *updates: dict[str, Any]) -> None:
        """Updates arrive at Telegram: a waiting getUpdates gets them."""
        async with self._changed:
            self.pending.extend(updates)
            self._changed.notify_all()

    async def close(self) -> None:
        async with self._changed:
            self._closing = True
            self._changed.notify_all()

    # ------------------------------------------------------------------ the Bot API
    @staticmethod
    def _answer(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": status, "description": description}, status=status
        )

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        form = await request.post()
        params: dict[str, Any] = {
            key: json.loads(str(value)) if key in JSON_FIELDS else str(value)
            for key, value in form.items()
        }
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        if method in self.refuse:
            return self._error(*self.refuse[method])
        if method == "getUpdates":
            return self._answer(await self._updates(params))
        if method in PAYMENT_METHODS:
            return await self._payment(method, params)
        return self._respond(method, params)

    def _respond(self, method: str, params: dict[str, Any]) -> web.Response:
        if method == "getMe":
            return self._answer(BOT_USER)
        if method == "sendMessage":
            message = {
                "message_id": len(self.calls),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": params["text"],
            }
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return self._answer(message)
        if method in {"answerCallbackQuery", "setWebhook", "deleteWebhook"}:
            return self._answer(True)
        if method == "getFile":
            file_id = params.get("file_id", "")
            if file_id not in self.files:
                return self._error(400, "Bad Request: invalid file_id")
            path = f"photos/file_{len(self._paths)}.jpg"
            self._paths[path] = file_id
            return self._answer(
                {
                    "file_id": file_id,
                    "file_unique_id": f"u-{file_id}",
                    "file_size": len(self.files[file_id]),
                    "file_path": path,
                }
            )
        return self._error(404, "Not Found")

    # ------------------------------------------------------------------ payments (Stars)
    async def _payment(self, method: str, params: dict[str, Any]) -> web.Response:
        if method == "createInvoiceLink":
            return self._invoice_link(params)
        if method == "answerPreCheckoutQuery":
            return self._answer_query(params)
        if method == "getStarTransactions":
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
            if not 1 <= limit <= 100:
                return self._error(400, "Bad Request: limit must be 1-100")
            return self._answer({"transactions": self.ledger[offset : offset + limit]})
        return await self._refund(params)

    def _invoice_link(self, params: dict[str, Any]) -> web.Response:  # noqa: PLR0911 - a refusal per rule
        """``createInvoiceLink`` checked as Telegram checks it, for Stars and subscriptions."""
        prices = params.get("prices") or []
        if not 1 <= len(params.get("title", "")) <= 32:
            return self._error(400, "Bad Request: invoice title length must be 1-32")
        if not 1 <= len(params.get("description", "")) <= 255:
            return self._error(400, "Bad Request: invoice description length must be 1-255")
        if not 1 <= len(params.get("payload", "").encode()) <= 128:
            return self._error(400, "Bad Request: invoice payload length must be 1-128 bytes")
        if params.get("currency") == "XTR" and len(prices) != 1:
            return self._error(400, "Bad Request: STARS_INVOICE_INVALID")
        if "subscription_period" in params:
            if params["subscription_period"] != str(SUBSCRIPTION_PERIOD):
                return self._error(400, "Bad Request: SUBSCRIPTION_PERIOD_INVALID")
            if params.get("currency") != "XTR" or prices[0]["amount"] > 10000:
                return self._error(400, "Bad Request: SUBSCRIPTION_INVALID")
        link = f"https://t.me/$inv{next(self._ids)}"
        self.invoices[link] = params
        return self._answer(link)

    def _answer_query(self, params: dict[str, Any]) -> web.Response:
        query = self.queries.get(params.get("pre_checkout_query_id", ""))
        if query is None or query["answer"] is not None:
            return self._error(400, BAD_QUERY)
        ok = params.get("ok") == "true"
        if not ok and not params.get("error_message"):
            return self._error(400, "Bad Request: error_message is required")
        query["answer"] = {"ok": ok, "error_message": params.get("error_message")}
        query["answered_s"] = time.monotonic() - query["asked"]
        return self._answer(True)

    async def _refund(self, params: dict[str, Any]) -> web.Response:
        """``refundStarPayment``: the Stars go back and the payer's chat gets a service
        message with ``refunded_payment``, as an update for the bot."""
        charge = self.charges.get(params.get("telegram_payment_charge_id", ""))
        if charge is None or str(charge["user_id"]) != params.get("user_id"):
            return self._error(400, "Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            return self._error(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        self.ledger.append(
            {
                "id": charge["id"],  # a refund's id is its payment's
                "amount": charge["amount"],
                "date": int(time.time()),
                "receiver": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": user(charge["user_id"]),
                    "invoice_payload": charge["payload"],
                },
            }
        )
        refunded = {
            "currency": "XTR",
            "total_amount": charge["amount"],
            "invoice_payload": charge["payload"],
            "telegram_payment_charge_id": charge["id"],
        }
        await self.push(
            {
                "update_id": next(self._update_ids),
                "message": message(charge["user_id"], next(self._ids), refunded_payment=refunded),
            }
        )
        return self._answer(True)

    def checkout(self, tg_id: int, link: str) -> dict[str, Any]:
        """The payer presses Pay on an invoice link: the pre-checkout query Telegram sends."""
        invoice = self.invoices[link]
        query_id = f"pcq-{next(self._ids)}"
        self.queries[query_id] = {"invoice": invoice, "answer": None, "asked": time.monotonic()}
        return {
            "id": query_id,
            "from": user(tg_id),
            "currency": invoice["currency"],
            "total_amount": sum(p["amount"] for p in invoice["prices"]),
            "invoice_payload": invoice["payload"],
        }

    def charge(self, tg_id: int, link: str, *, renewal_of: str | None = None) -> dict[str, Any]:
        """Telegram takes the Stars (after an ``ok`` answer, or for a renewal) and tells the
        bot with a ``successful_payment`` message: the update's message."""
        invoice = self.invoices[link]
        charge_id = f"stx{next(self._ids):06d}"
        first = self.charges.get(renewal_of or "")
        expires = (first["expires"] if first else 1767225600) + SUBSCRIPTION_PERIOD
        amount = sum(p["amount"] for p in invoice["prices"])
        self.charges[charge_id] = {
            "id": charge_id,
            "user_id": tg_id,
            "amount": amount,
            "payload": invoice["payload"],
            "refunded": False,
            "expires": expires,
        }
        partner: dict[str, Any] = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user(tg_id),
            "invoice_payload": invoice["payload"],
        }
        if "subscription_period" in invoice:
            partner["subscription_period"] = SUBSCRIPTION_PERIOD
        self.ledger.append(
            {"id": charge_id, "amount": amount, "date": int(time.time()), "source": partner}
        )
        paid: dict[str, Any] = {
            "currency": invoice["currency"],
            "total_amount": amount,
            "invoice_payload": invoice["payload"],
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": f"{tg_id}_{charge_id}",
        }
        if "subscription_period" in invoice:
            paid |= {"subscription_expiration_date": expires, "is_recurring": True}
            if renewal_of is None:
                paid["is_first_recurring"] = True
        return message(tg_id, next(self._ids), successful_payment=paid)

    async def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        wait_s = float(params.get("timeout", 0))
        async with self._changed:
            # Every update below the offset is confirmed: Telegram forgets it.
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
            if not self.pending and not self._closing:
                try:
                    async with asyncio.timeout(wait_s):
                        await self._changed.wait_for(lambda: bool(self.pending) or self._closing)
                except TimeoutError:
                    pass
            return list(self.pending[: int(params.get("limit", 100))])

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        if path not in self._paths:
            return web.Response(status=404)
        self.downloads.append(path)
        return web.Response(body=self.files[self._paths[path]], content_type="image/jpeg")


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API on a loopback port."""
    fake = FakeTelegram()
    app_runner = web.AppRunner(fake.app())
    await app_runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(app_runner, sock).start()
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    yield fake
    await fake.close()
    await app_runner.cleanup()


@pytest.fixture(scope="module")
def tbank_server() -> Iterator[str]:
    sim = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    with ThreadedServer(sim.app()) as server:
        sim.base_url = server.url
        yield server.url


@pytest.fixture
def bot_settings(settings: Settings, telegram: FakeTelegram, tbank_server: str) -> Settings:
    """The app's settings with Telegram at the fake and T-Bank at its simulator."""
    return settings.model_copy(
        update={
            "tbank_api_base": f"{tbank_server}/v2",
            "telegram_api_base": telegram.url,
            "telegram_bot_token": SecretStr(TOKEN),
        }
    )


@pytest.fixture
def api_app(
    bot_settings: Settings, database_url: str, store: storage.ObjectStore, clock: MovableClock
) -> Any:
    """The Pocket Agronomist API over this test's database."""
    return create_app(bot_settings, database_url=database_url, store=store, clock=clock)


@dataclass
class Bench:
    """The bot as production builds it (``runner.dispatcher`` and ``runner.make_bot``), its
    fake Telegram, and a way to feed it updates."""

    dp: Dispatcher
    bot: Bot
    telegram: FakeTelegram
    api_http: httpx.AsyncClient
    update_id: int = 0

    def chat(self, user: int) -> Chat:
        return Chat(self, user)

    async def feed(self, **payload: Any) -> None:
        """One update, through aiogram's own feeding (parsed into aiogram's ``Update``)."""
        self.update_id += 1
        await self.dp.feed_raw_update(self.bot, {"update_id": self.update_id, **payload})

    async def deliver(self) -> int:
        """Feed the updates Telegram made by itself (a ``refunded_payment``), as getUpdates
        would hand them over; how many."""
        updates, self.telegram.pending = self.telegram.pending, []
        for update in updates:
            await self.dp.feed_raw_update(self.bot, update)
        return len(updates)


@pytest_asyncio.fixture
async def bench(
    bot_settings: Settings, api_app: Any, telegram: FakeTelegram
) -> AsyncIterator[Bench]:
    """The bot wired to the real API over its ASGI interface."""
    async with (
        api_app.router.lifespan_context(api_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api_app), base_url="http://api"
        ) as http,
    ):
        bot = runner.make_bot(bot_settings)
        try:
            dp = runner.dispatcher(AgronomClient(http, secret=BOT_SECRET))
            yield Bench(dp, bot, telegram, http)
        finally:
            await bot.session.close()


def user(tg_id: int) -> dict[str, Any]:
    return {"id": tg_id, "is_bot": False, "first_name": "Иван", "language_code": "ru"}


def message(tg_id: int, message_id: int = 1, **fields: Any) -> dict[str, Any]:
    """A private-chat message from ``tg_id``, as Telegram puts it in an update."""
    return {
        "message_id": message_id,
        "date": 1767225600,
        "chat": {"id": tg_id, "type": "private", "first_name": "Иван"},
        "from": user(tg_id),
        **fields,
    }


def command(tg_id: int, text: str) -> dict[str, Any]:
    name = text.split(maxsplit=1)[0]
    return message(
        tg_id, text=text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}]
    )


class Chat:
    """One user's private chat with the bot."""

    def __init__(self, bench: Bench, tg_id: int) -> None:
        self.bench = bench
        self.telegram = bench.telegram
        self.tg_id = tg_id

    async def say(self, text: str) -> str:
        """Send a text (a command when it starts with ``/``); the bot's last reply."""
        await self.bench.feed(
            message=command(self.tg_id, text)
            if text.startswith("/")
            else message(self.tg_id, text=text)
        )
        return str(self.telegram.sent()[-1]["text"])

    async def photo(self, image: bytes, file_id: str = "AgADphoto1") -> str:
        """Send a photo (Telegram offers a thumbnail and the full size); the bot's last reply."""
        self.telegram.files[file_id] = image
        sizes = [
            {"file_id": f"{file_id}-thumb", "file_unique_id": "t", "width": 90, "height": 67},
            {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 480, "height": 360},
        ]
        await self.bench.feed(message=message(self.tg_id, photo=sizes))
        return str(self.telegram.sent()[-1]["text"])

    async def pay(self, link: str) -> str | None:
        """Pay a Stars invoice link: Telegram's pre-checkout query, and when the bot answers
        ``ok`` within Telegram's 10 s, the ``successful_payment`` message; the charge id, or
        ``None`` when the bot refused (then Telegram takes no Stars and says nothing more)."""
        query = self.telegram.checkout(self.tg_id, link)
        await self.bench.feed(pre_checkout_query=query)
        answer = self.telegram.queries[query["id"]]
        assert answer["answer"] is not None, "the bot did not answer the pre-checkout query"
        assert answer["answered_s"] < 10, "Telegram gives the bot 10 s"
        if not answer["answer"]["ok"]:
            return None
        paid = self.telegram.charge(self.tg_id, link)
        await self.bench.feed(message=paid)
        return str(paid["successful_payment"]["telegram_payment_charge_id"])

    async def renew(self, link: str, first_charge: str) -> str:
        """Telegram renews the subscription by itself 30 days on: a new charge, no
        pre-checkout; the new charge id."""
        paid = self.telegram.charge(self.tg_id, link, renewal_of=first_charge)
        await self.bench.feed(message=paid)
        return str(paid["successful_payment"]["telegram_payment_charge_id"])

    async def press(self, data: str, query_id: str = "cb1") -> None:
        """Press an inline button under one of the bot's messages."""
        bot_message = {**message(self.tg_id, 2, text="…"), "from": BOT_USER}
        await self.bench.feed(
            callback_query={
                "id": query_id,
                "from": user(self.tg_id),
                "message": bot_message,
                "chat_instance": "ci1",
                "data": data,
            }
        )
