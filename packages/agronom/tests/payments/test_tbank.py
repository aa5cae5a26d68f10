# ruff: noqa: RUF003 - T-Bank's document is in Russian
"""Our T-Bank client against T-Bank's OpenAPI document: both documented Token vectors
reproduce, and every request it sends (received by the simulator) is valid against the
document's schemas and matches its examples field for field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from agronom.payments import tbank
from agrosim.server import ThreadedServer, free_port
from agrosim.tbank import TBankSim

from ..conftest import TBANK_PASSWORD, TERMINAL  # noqa: TID252 - tests are no package
from . import stack  # noqa: TID252 - tests are no package: the sibling by its path

# T-Bank MAPI documentation, section "Токен" (Init request signature): the request, its
# password and the resulting token exactly as T-Bank prints them. DATA and Receipt are nested
# objects and take no part in the token.
DOC_REQUEST = {
    "TerminalKey": "MerchantTerminalKey",
    "Amount": 19200,
    "OrderId": "21090",
    "Description": "Подарочная карта на 1000 рублей",
    "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
    "Receipt": {
        "Email": "a@test.ru",
        "Phone": "+79031234567",
        "Taxation": "osn",
        "Items": [
            {
                "Name": "Наименование товара 1",
                "Price": 10000,
                "Quantity": 1,
                "Amount": 10000,
                "Tax": "vat10",
                "Ean13": "303130323930303030630333435",
            }
        ],
    },
}
DOC_PASSWORD = "usaf8fw8fsw21g"
DOC_TOKEN = "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"


def test_token_reproduces_t_banks_documented_example() -> None:
    assert tbank.token(DOC_REQUEST, DOC_PASSWORD) == DOC_TOKEN


def test_the_documented_example_verifies_and_any_change_breaks_it() -> None:
    signed = {**DOC_REQUEST, "Token": DOC_TOKEN}
    assert tbank.verify(signed, DOC_PASSWORD)
    assert not tbank.verify({**signed, "Amount": 19201}, DOC_PASSWORD)
    assert not tbank.verify(signed, DOC_PASSWORD + "x")
    assert not tbank.verify({k: v for k, v in signed.items() if k != "Token"}, DOC_PASSWORD)
    # Nested objects are outside the signature, as documented.
    assert tbank.verify({**signed, "DATA": {"Phone": "+70000000000"}}, DOC_PASSWORD)


def test_booleans_are_signed_as_true_and_false() -> None:
    notification = {"TerminalKey": "T", "Success": True, "PaymentId": 13660, "Status": "CONFIRMED"}
    as_text = {**notification, "Success": "true"}
    assert tbank.token(notification, "pw") == tbank.token(as_text, "pw")
    assert tbank.token(notification, "pw") != tbank.token({**notification, "Success": False}, "pw")
    assert tbank.token({**notification, "Success": False}, "pw") == tbank.token(
        {**notification, "Success": "false"}, "pw"
    )


DOC_NOTIFICATION = {  # tag «Уведомления об операциях», «Проверка токенов»
    "TerminalKey": "1321054611234DEMO",
    "OrderId": "201709",
    "Success": True,
    "Status": "AUTHORIZED",
    "PaymentId": 8742591,
    "ErrorCode": "0",
    "Amount": 9855,
    "CardId": 322264,
    "Pan": "430000******0777",
    "ExpDate": "1122",
    "RebillId": 101709,
}
DOC_NOTIFICATION_TOKEN = "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"


def test_the_documented_notification_vector_reproduces() -> None:
    assert tbank.token(DOC_NOTIFICATION, "Dfsfh56dgKl") == DOC_NOTIFICATION_TOKEN
    as_text = {k: v if isinstance(v, str) else str(v).lower() for k, v in DOC_NOTIFICATION.items()}
    assert tbank.token(as_text, "Dfsfh56dgKl") == DOC_NOTIFICATION_TOKEN, "ids as strings too"


def test_the_four_documented_notifications_are_told_apart() -> None:
    kinds = {e.name: tbank.kind(e.value) for e in stack.document().request_examples("Notification")}
    assert kinds == {
        "NotificationPayment": "payment",
        "NotificationAddCard": "card",
        "NotificationFiscalization": "fiscalization",
        "NotificationQr": "link",
    }


def test_ids_are_read_as_strings_or_numbers_and_kept_as_strings() -> None:
    assert [tbank.ident(v) for v in (13660, "13660", 13660.0, True, None, "")] == [
        "13660",
        "13660",
        "13660",
        None,
        None,
        None,
    ]


def test_a_receipt_needs_a_contact_and_must_total_the_payment() -> None:
    item = tbank.ReceiptItem(name="PRO", price=19900, quantity=2, tax="none")
    assert item.wire()["Amount"] == 39800
    with pytest.raises(ValueError, match="Email or Phone"):
        tbank.Receipt(taxation="usn_income", items=(item,))
    receipt = tbank.Receipt(taxation="usn_income", items=(item,), email="shop@example.com")
    assert receipt.wire()["FfdVersion"] == "1.05"
    assert stack.document().errors("#/components/schemas/Receipt_FFD_105", receipt.wire()) == []


@pytest.fixture
def sim() -> Iterator[TBankSim]:
    bank = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    with ThreadedServer(bank.app()) as server:
        bank.base_url = server.url
        yield bank


@pytest.fixture
async def client(sim: TBankSim) -> AsyncIterator[tbank.TBankClient]:
    async with httpx.AsyncClient() as http:
        yield tbank.TBankClient(
            http, base_url=f"{sim.base_url}/v2", terminal_key=TERMINAL, password=TBANK_PASSWORD
        )


def _receipt(amount: int) -> tbank.Receipt:
    item = tbank.ReceiptItem(
        name="Карманный агроном PRO, 1 мес.", price=amount, quantity=1, tax="none"
    )
    return tbank.Receipt(taxation="usn_income", items=(item,), email="receipts@agronom.example")


async def test_every_request_the_client_sends_is_the_documents(
    sim: TBankSim, client: tbank.TBankClient, merchant_url: str
) -> None:
    """Init (one-off and SBP recurrent), GetQr, AddAccountQr, GetAddAccountQrState, ChargeQr,
    Cancel (partial with its receipt, then whole) and GetState: each request valid against its
    schema and field for field like the documented examples, checked where T-Bank would see it."""
    sim.notification_url = merchant_url
    once = await client.init(
        order_id="u1-m1-a", amount=19900, description="PRO", receipt=_receipt(19900)
    )
    qr = await client.get_qr(once.payment_id)
    assert (once.status, qr.request_key) == ("NEW", None)
    assert qr.data.startswith("https://qr.nspk.ru/")
    linked = await client.init(
        order_id="u1-m1-b",
        amount=19900,
        description="PRO и автоплатёж",
        receipt=_receipt(19900),
        sbp_recurrent=True,
        notification_url=merchant_url,
    )
    pay_and_link = await client.get_qr(linked.payment_id)
    assert pay_and_link.request_key is not None
    added = await client.add_account_qr(description="Автоплатёж PRO")
    await sim.link(int(added.request_key))
    state = await client.get_add_account_qr_state(added.request_key)
    assert (state.status, state.account_token) == (
        "ACTIVE",
        sim.links[int(added.request_key)].account_token,
    )
    charge = await client.init(
        order_id="u1-m1-c",
        amount=19900,
        description="PRO",
        receipt=_receipt(19900),
        sbp_recurrent=True,
    )
    charged = await client.charge_qr(
        payment_id=charge.payment_id, account_token=state.account_token or ""
    )
    assert (charged.status, charged.amount) == ("CONFIRMED", 19900)
    partial = await client.cancel(payment_id=charge.payment_id, amount=9900, receipt=_receipt(9900))
    assert (partial.status, partial.new_amount) == ("PARTIAL_REFUNDED", 10000)
    whole = await client.cancel(payment_id=charge.payment_id)
    assert (whole.status, whole.new_amount) == ("REFUNDED", 0)
    assert (await client.get_state(charge.payment_id)).status == "REFUNDED"
    seen = stack.assert_requests_documented(sim, *stack.OUR_METHODS, "GetState")
    init = sim.requests("Init")
    assert "Recurrent" not in init[0] and "DATA" not in init[0], "a one-off payment"
    assert (init[1]["Recurrent"], init[1]["DATA"]) == ("Y", {"QR": "true"})
    assert all("RebillId" not in body and "CustomerKey" not in body for body in sim.requests())
    assert [r["PaymentId"] for r in sim.requests("GetQr")] == [
        int(once.payment_id),
        int(linked.payment_id),
    ]
    assert seen.count("Cancel") == 2


async def test_refusals_carry_the_documented_codes(
    sim: TBankSim, client: tbank.TBankClient
) -> None:
    charge = await client.init(
        order_id="u1-m1-d",
        amount=19900,
        description="PRO",
        receipt=_receipt(19900),
        sbp_recurrent=True,
    )
    with pytest.raises(tbank.TBankRefused) as unknown:
        await client.charge_qr(payment_id=charge.payment_id, account_token="no-such-token")
    assert (unknown.value.error_code, unknown.value.method) == ("3014", "ChargeQr")
    with pytest.raises(tbank.TBankRefused) as repeated:
        await client.init(
            order_id="u1-m1-d", amount=19900, description="PRO", receipt=_receipt(19900)
        )
    assert repeated.value.error_code == "20", "an OrderId is used once"
    wrong = tbank.TBankClient(
        client.http, base_url=client.base_url, terminal_key=TERMINAL, password="x"
    )
    with pytest.raises(tbank.TBankRefused) as token:
        await wrong.get_state(charge.payment_id)
    assert token.value.error_code == "204"
    with pytest.raises(ValueError, match="total"):
        await client.init(
            order_id="u1-m1-e", amount=100, description="PRO", receipt=_receipt(19900)
        )


async def test_no_answer_is_unavailable_not_refused() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"<html>bad gateway</html>"})

    with ThreadedServer(broken) as server:
        async with httpx.AsyncClient() as http:
            down = tbank.TBankClient(http, base_url=server.url, terminal_key=TERMINAL, password="x")
            with pytest.raises(tbank.TBankUnavailable):
                await down.get_state("1")
    async with httpx.AsyncClient() as http:
        gone = tbank.TBankClient(
            http, base_url=f"http://127.0.0.1:{free_port()}", terminal_key=TERMINAL, password="x"
        )
        with pytest.raises(tbank.TBankUnavailable):
            await gone.get_state("1")


@pytest.fixture(scope="module")
def merchant_url() -> Iterator[str]:
    """A merchant that answers every notification ``OK`` (the client tests need no API)."""

    async def notify(request: Request) -> PlainTextResponse:
        return PlainTextResponse("OK")

    app = Starlette(routes=[Route("/notify", notify, methods=["POST"])])
    with ThreadedServer(app) as server:
        yield f"{server.url}/notify"
