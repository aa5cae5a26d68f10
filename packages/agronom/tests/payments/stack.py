"""What the payment tests share: T-Bank's OpenAPI document, the check that our requests are the
document's, and a live stack (the API under uvicorn on loopback, the T-Bank simulator calling
its webhooks over HTTP as T-Bank would)."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agronom import auth
from agronom.api.app import create_app
from agronom.settings import Settings
from agronom.store import objects as storage
from agrosim.server import ThreadedServer, free_port
from agrosim.tbank import TBankSim
from agrosim.tbank_document import Document, unlike

from ..conftest import BOT_SECRET, TBANK_PASSWORD, TERMINAL, MovableClock  # noqa: TID252 - tests are no package

DOC = (
    Path(__file__).resolve().parents[4].parent
    / "shared"
    / "fixtures"
    / "tbank-acquiring-openapi"
    / "openapi.json"
)
OUR_METHODS = ("Init", "GetQr", "AddAccountQr", "GetAddAccountQrState", "ChargeQr", "Cancel")
_document: list[Document] = []


def document() -> Document:
    if not _document:
        if not DOC.is_file():
            raise FileNotFoundError(f"{DOC}: the shared fixtures must sit beside the repository")
        _document.append(Document(DOC))
    return _document[0]


def _merge(a: Any, b: Any) -> Any:
    """Two documented examples as one model: objects merged key by key, an array compared as
    its items (one example shows Receipt.Items as an object, the other as an array)."""
    if isinstance(a, list) or isinstance(b, list):
        items = [x for side in (a, b) for x in (side if isinstance(side, list) else [side])]
        model: Any = items[0]
        for item in items[1:]:
            model = _merge(model, item)
        return [model]
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in a | b}
    return a


def documented_request(method: str) -> Any:
    """The documented request examples of ``method``, as one model of keys and types."""
    examples = [e.value for e in document().request_examples(method)]
    model = examples[0]
    for example in examples[1:]:
        model = _merge(model, example)
    model = copy.deepcopy(model)
    if method == "Init":
        # The one documented difference we keep: DATA.QR is the string "true", as ChargeQr's
        # description writes it (DATA= {"QR":"true"}) and as DATA holds string pairs; the
        # Init_QR_RECURRENT example prints a boolean.
        model["DATA"]["QR"] = "true"
    return model


def assert_requests_documented(bank: TBankSim, *methods: str) -> list[str]:
    """Every request our client sent is valid against its schema and matches the documented
    examples field for field (same keys, same JSON types); which methods were seen."""
    doc = document()
    seen = []
    for exchange in bank.exchanges:
        method, body = exchange.method, exchange.request
        assert exchange.accepted, exchange
        assert doc.request_errors(method, body) == [], (method, body)
        assert unlike(body, documented_request(method)) == [], (method, body)
        seen.append(method)
    for method in methods:
        assert method in seen, f"no {method} request was sent"
    return seen


class BotUser(httpx.Auth):
    """Signs each request as the bot does (``X-Telegram-User`` over method, path and body)."""

    requires_request_body = True

    def __init__(self, tg_id: int) -> None:
        self.tg_id = tg_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[auth.HEADER] = auth.sign(
            self.tg_id,
            secret=BOT_SECRET,
            now=time.time(),
            method=request.method,
            target=auth.target_of(request.url),
            body=request.content,
        )
        yield request


@dataclass
class Stack:
    bank: TBankSim
    api: httpx.AsyncClient
    settings: Settings

    async def pro(self, tg_id: int, **body: Any) -> httpx.Response:
        return await self.api.post("/v1/payments/sbp/pro", json=body, auth=BotUser(tg_id))

    async def consent_and_pay(self, tg_id: int, **body: Any) -> dict[str, Any]:
        """The user agrees to autopay (the terms the API shows) and starts it."""
        shown = (await self.pro(tg_id)).json()
        answer = await self.pro(
            tg_id,
            autopay=True,
            autopay_consent=True,
            autopay_terms_version=shown["autopay_terms_version"],
            **body,
        )
        assert answer.status_code == 200, answer.text
        started: dict[str, Any] = answer.json()
        return started

    async def limits(self, tg_id: int) -> dict[str, Any]:
        found: dict[str, Any] = (await self.api.get("/v1/limits", auth=BotUser(tg_id))).json()
        return found

    def payment_of(self, order_id: str) -> int:
        return next(p.payment_id for p in self.bank.payments.values() if p.order_id == order_id)


@asynccontextmanager
async def live(
    settings: Settings, database_url: str, store: storage.ObjectStore, clock: MovableClock
) -> AsyncIterator[Stack]:
    """The API on loopback with T-Bank at the simulator; the terminal's notification URL is
    the API's webhook, autopay charges name the autopay webhook."""
    bank = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    with ThreadedServer(bank.app()) as bank_server:
        bank.base_url = bank_server.url
        url = f"http://127.0.0.1:{free_port()}"
        bank.notification_url = f"{url}/v1/payments/sbp/webhook"
        cfg = settings.model_copy(
            update={
                "tbank_api_base": f"{bank_server.url}/v2",
                "tbank_autopay_notification_url": f"{url}/v1/payments/sbp/autopay/webhook",
            }
        )
        app = create_app(cfg, database_url=database_url, store=store, clock=clock)
        with ThreadedServer(app, port=int(url.rsplit(":", 1)[1])):
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield Stack(bank, http, cfg)
