"""The bot, driven by Telegram updates, with the Bot API faked at its HTTP transport and the
real API (real database, vision server and T-Bank simulator) behind it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from agronom.api.app import create_app
from agronom.bot import runner
from agronom.bot.backend import AgronomClient
from agronom.bot.handlers import Handlers
from agronom.bot.telegram import BotAPI
from agronom.sims import photos
from agronom.sims.server import ThreadedServer
from agronom.sims.tbank import TBankSim

from ..conftest import BOT_SECRET, TBANK_PASSWORD, TERMINAL  # noqa: TID252

TOKEN = "123456:TEST"


class FakeBotAPI:
    """Telegram's side: records every Bot API call and serves files by file_id."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        self.updates: list[list[dict[str, Any]]] = []  # getUpdates answers, in order
        self.on_empty: Any = None  # called when getUpdates has nothing left

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith(f"/file/bot{TOKEN}/"):
            return httpx.Response(200, content=self.files[path.rsplit("/", 1)[1]])
        method = path.rsplit("/", 1)[1]
        body = json.loads(request.content or b"{}")
        self.calls.append((method, body))
        if method == "getFile":
            return httpx.Response(
                200,
                json={
                    "ok": True,
                    "result": {
                        "file_id": body["file_id"],
                        "file_path": f"photos/{body['file_id']}",
                    },
                },
            )
        if method == "getUpdates":
            if self.updates:
                return httpx.Response(200, json={"ok": True, "result": self.updates.pop(0)})
            if self.on_empty:
                self.on_empty()
            return httpx.Response(200, json={"ok": True, "result": []})
        if method == "sendMessage":
            return httpx.Response(200, json={"ok": True, "result": {"message_id": len(self.calls)}})
        return httpx.Response(200, json={"ok": True, "result": True})

    def sent(self) -> list[dict[str, Any]]:
        return [body for method, body in self.calls if method == "sendMessage"]


class Chat:
    def __init__(self, handlers: Handlers, fake: FakeBotAPI, user: int) -> None:
        self.handlers = handlers
        self.fake = fake
        self.user = user
        self.update_id = 0

    def _update(self, **payload: Any) -> dict[str, Any]:
        self.update_id += 1
        return {"update_id": self.update_id, **payload}

    def _message(self, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": self.update_id,
            "date": 1767225600,
            "chat": {"id": self.user, "type": "private"},
            "from": {"id": self.user, "is_bot": False, "first_name": "Ivan"},
            **fields,
        }

    async def say(self, text: str) -> str:
        await self.handlers.handle(self._update(message=self._message(text=text)))
        return self.fake.sent()[-1]["text"]

    async def photo(self, image: bytes, file_id: str = "AgADphoto1") -> str:
        self.fake.files[file_id] = image
        sizes = [
            {"file_id": "thumb", "file_unique_id": "t", "width": 90, "height": 67},
            {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 480, "height": 360},
        ]
        await self.handlers.handle(self._update(message=self._message(photo=sizes)))
        return self.fake.sent()[-1]["text"]

    async def press(self, data: str) -> None:
        query = {
            "id": f"cb{self.update_id}",
            "from": {"id": self.user, "is_bot": False, "first_name": "Ivan"},
            "message": self._message(text="..."),
            "data": data,
        }
        await self.handlers.handle(self._update(callback_query=query))


@pytest.fixture(scope="module")
def tbank_server():
    sim = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    with ThreadedServer(sim.app()) as server:
        sim.base_url = server.url
        yield server.url


@pytest_asyncio.fixture
async def bot(
    settings, database_url, store, clock, tbank_server
) -> AsyncIterator[tuple[Handlers, FakeBotAPI]]:
    settings = settings.model_copy(update={"tbank_api_base": f"{tbank_server}/v2"})
    app = create_app(settings, database_url=database_url, store=store, clock=clock)
    fake = FakeBotAPI()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
        httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as tg,
    ):
        telegram = BotAPI(tg, token=TOKEN, base_url="https://api.telegram.org")
        yield Handlers(telegram, AgronomClient(api, secret=BOT_SECRET)), fake


async def test_start_greets_with_the_free_quota(bot) -> None:
    handlers, fake = bot
    text = await Chat(handlers, fake, 5001).say("/start")
    assert "Карманный агроном" in text and "3 фото" in text


async def test_a_photo_gets_a_diagnosis_with_its_protocol(bot, sql, vision) -> None:
    handlers, fake = bot
    chat = Chat(handlers, fake, 5002)
    text = await chat.photo(photos.leaf(spots="brown"))
    assert "фитофтороз" in text and "Что делать:" in text and "1 из 3" in text
    assert ("getFile", {"file_id": "AgADphoto1"}) in fake.calls, "the largest size is fetched"
    assert sql("SELECT file_id, file_unique_id, status::text FROM photos") == [
        ("AgADphoto1", "u-AgADphoto1", "ok")
    ]
    assert "1 из 3" in await chat.say("/limits")


async def test_a_photo_without_a_leaf_and_the_quota_are_explained(bot, vision) -> None:
    handlers, fake = bot
    chat = Chat(handlers, fake, 5003)
    assert "не видно листа" in await chat.photo(photos.wall(), "wall")
    for n in range(3):
        await chat.photo(photos.leaf(seed=n), f"leaf{n}")
    assert "закончились" in await chat.photo(photos.leaf(), "leaf9")


async def test_pro_sends_an_sbp_payment_link(bot, sql) -> None:
    handlers, fake = bot
    await Chat(handlers, fake, 5004).say("/pro")
    message = fake.sent()[-1]
    button = message["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"].startswith("http://127.0.0.1:") and "/pay/" in button["url"]
    assert "199 ₽" in message["text"]


async def test_optin_toggles_the_dataset_consent(bot, sql) -> None:
    handlers, fake = bot
    chat = Chat(handlers, fake, 5005)
    assert "Спасибо" in await chat.say("/optin")
    assert "отозвано" in await chat.say("/optin")
    assert [e for (e,) in sql("SELECT event FROM events ORDER BY id")] == [
        "ml_opt_in",
        "ml_opt_out",
    ]


async def test_delete_me_asks_then_deletes_everything(bot, sql, vision) -> None:
    handlers, fake = bot
    chat = Chat(handlers, fake, 5006)
    await chat.photo(photos.leaf())
    await chat.say("/delete_me")
    assert sql.one("SELECT count(*) FROM users") == 1, "nothing deleted before the confirmation"
    await chat.press("dsr:confirm")
    assert fake.sent()[-1]["text"] == "Готово: ваши данные удалены."
    assert sql("SELECT * FROM users") == [] and sql("SELECT * FROM photos") == []
    assert [m for m, _ in fake.calls].count("answerCallbackQuery") == 1


async def test_the_webhook_checks_telegrams_secret_token(bot) -> None:
    handlers, fake = bot
    app = runner.webhook_app(handlers, secret="s3cret")
    update = {"update_id": 1, "message": Chat(handlers, fake, 5007)._message(text="/start")}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as c:
        refused = await c.post(
            runner.WEBHOOK_PATH, json=update, headers={runner.SECRET_HEADER: "no"}
        )
        assert refused.status_code == 403 and fake.sent() == []
        accepted = await c.post(
            runner.WEBHOOK_PATH, json=update, headers={runner.SECRET_HEADER: "s3cret"}
        )
        assert accepted.status_code == 200
    assert "Карманный агроном" in fake.sent()[-1]["text"]


async def test_long_polling_feeds_updates_in_order_and_acknowledges_them(bot) -> None:
    handlers, fake = bot
    chat = Chat(handlers, fake, 5008)
    fake.updates = [
        [
            {"update_id": 41, "message": chat._message(text="/start")},
            {"update_id": 42, "message": chat._message(text="/limits")},
        ]
    ]
    stop = asyncio.Event()
    fake.on_empty = stop.set
    await asyncio.wait_for(runner.poll(handlers.telegram, handlers, stop=stop), timeout=10)
    methods = [m for m, _ in fake.calls]
    assert methods[0] == "deleteWebhook"
    polls = [body for m, body in fake.calls if m == "getUpdates"]
    assert polls[0].get("offset") is None and polls[1]["offset"] == 43
    texts = [m["text"] for m in fake.sent()]
    assert "Карманный агроном" in texts[0] and texts[1].startswith("Использовано 0 из 3")
