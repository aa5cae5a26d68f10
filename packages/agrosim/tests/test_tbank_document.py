# ruff: noqa: RUF003 - T-Bank's document and its examples are in Russian
"""The T-Bank simulator against T-Bank's own OpenAPI document (v1.80): every request it accepts,
every answer it gives and every notification it sends validates against the document's schemas;
the document's request examples are accepted and its response examples' shapes reproduce; both
documented Token vectors reproduce; statuses move as documented; ChargeQr refuses as documented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from agrosim.server import ThreadedServer
from agrosim.tbank import SimLink, SimPayment, TBankSim, token, verify
from agrosim.tbank_document import Document, unlike

DOC = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "tbank-acquiring-openapi"
# The document's public test terminal: "пароль аналогичен" (#/info/description, Термины).
TERMINAL = PASSWORD = "TinkoffBankTest"
METHODS = (
    "Init",
    "GetQr",
    "AddAccountQr",
    "GetAddAccountQrState",
    "ChargeQr",
    "Cancel",
    "GetState",
    "SbpPayTest",
)
# Examples that are invalid against their own schema (checked below), so neither sent nor
# compared; every other example of these methods is.
INVALID_REQUEST_EXAMPLES = {
    ("Init", "Init_QR_RECURRENT"): "Receipt.Items is an object, the schema says array",
}
INVALID_RESPONSE_EXAMPLES = {
    ("AddAccountQr", "AddAccountQrResponse"): 'the key is spelt "ErrorCode\\"": no ErrorCode',
    ("Cancel", "example"): "PaymentId is a string, the Cancel-2 schema says number",
}


@pytest.fixture(scope="module")
def doc() -> Document:
    path = DOC / "openapi.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shared fixtures must sit beside the repository")
    return Document(path)


class Merchant:
    """Our side of the notifications: records each body and answers ``answer``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answer = "OK"

    async def notify(self, request: Request) -> PlainTextResponse:
        self.received.append(await request.json())
        return PlainTextResponse(self.answer)


@pytest.fixture(scope="module")
def merchant_server() -> Iterator[tuple[Merchant, str]]:
    merchant = Merchant()
    app = Starlette(routes=[Route("/notify", merchant.notify, methods=["POST"])])
    with ThreadedServer(app) as server:
        yield merchant, f"{server.url}/notify"


@pytest.fixture
def merchant(merchant_server: tuple[Merchant, str]) -> Merchant:
    merchant_server[0].received.clear()
    merchant_server[0].answer = "OK"
    return merchant_server[0]


class Bank:
    """A signed MAPI client of the simulator, for the tests."""

    def __init__(self, sim: TBankSim, url: str, http: httpx.AsyncClient) -> None:
        self.sim = sim
        self.url = url
        self.http = http

    async def raw(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"{self.url}/v2/{method}", json=body)
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer

    async def __call__(self, method: str, **fields: Any) -> dict[str, Any]:
        body = {"TerminalKey": TERMINAL, **fields}
        body["Token"] = token(body, PASSWORD)
        return await self.raw(method, body)


@pytest.fixture
async def bank(merchant_server: tuple[Merchant, str]) -> AsyncIterator[Bank]:
    sim = TBankSim(terminal_key=TERMINAL, password=PASSWORD)
    sim.notification_url = merchant_server[1]
    with ThreadedServer(sim.app()) as server:
        sim.base_url = server.url
        async with httpx.AsyncClient(timeout=30) as http:
            yield Bank(sim, server.url, http)


def receipt(amount: int, *, email: str = "receipts@agronom.example") -> dict[str, Any]:
    return {
        "FfdVersion": "1.05",
        "Taxation": "usn_income",
        "Email": email,
        "Items": [
            {
                "Name": "Карманный агроном PRO, 1 мес.",
                "Price": amount,
                "Quantity": 1,
                "Amount": amount,
                "Tax": "none",
                "PaymentMethod": "full_payment",
                "PaymentObject": "service",
            }
        ],
    }


async def init(bank: Bank, amount: int = 19900, *, recurrent: bool = False, **extra: Any) -> str:
    fields: dict[str, Any] = {
        "Amount": amount,
        "OrderId": f"o-{len(bank.sim.payments)}-{amount}",
        "Description": "Подписка PRO",
        "PayType": "O",
        "Receipt": receipt(amount),
        **extra,
    }
    if recurrent:
        fields |= {"Recurrent": "Y", "DATA": {"QR": "true"}}
    answer = await bank("Init", **fields)
    assert answer["Success"], answer
    payment_id: str = answer["PaymentId"]
    return payment_id


def assert_all_valid(doc: Document, bank: Bank, merchant: Merchant) -> None:
    """What the simulator accepted, answered and sent is what the document describes."""
    for exchange in bank.sim.exchanges:
        method, answer = exchange.method, exchange.answer
        if exchange.accepted:
            assert doc.request_errors(method, exchange.request) == [], exchange
            assert doc.response_errors(method, answer) == [], exchange
        else:  # the document has no schema for refusals; ChargeQr's own schema covers its codes
            assert isinstance(answer.get("ErrorCode"), str) and answer["ErrorCode"] != "0"
            if method == "ChargeQr" and "PaymentId" in answer:
                assert doc.response_errors(method, answer) == [], exchange
    kinds = {"LINKACCOUNT": "link"}
    for body in merchant.received:
        kind = kinds.get(body.get("NotificationType", ""), "payment")
        kind = "fiscalization" if body.get("Status") == "RECEIPT" else kind
        assert doc.notification_errors(kind, body) == [], (kind, body)
        assert verify(body, PASSWORD), body


# ---------------------------------------------------------------- the Token


def test_both_documented_token_vectors_reproduce() -> None:
    init_request = {  # #/info/description, section «Токен»
        "TerminalKey": "MerchantTerminalKey",
        "Amount": 19200,
        "OrderId": "21090",
        "Description": "Подарочная карта на 1000 рублей",
        "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
        "Receipt": {"Email": "a@test.ru", "Taxation": "osn", "Items": []},
    }
    assert token(init_request, "usaf8fw8fsw21g") == (
        "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"
    )
    notification = {  # tag «Уведомления об операциях», «Проверка токенов»
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
    expected = "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"
    assert token(notification, "Dfsfh56dgKl") == expected
    assert verify({**notification, "Token": expected}, "Dfsfh56dgKl")
    assert not verify({**notification, "Amount": 9856, "Token": expected}, "Dfsfh56dgKl")


def test_the_init_full_example_is_signed_with_the_test_terminals_password(doc: Document) -> None:
    [full] = [e for e in doc.request_examples("Init") if e.name == "Init_FULL"]
    assert verify(full.value, PASSWORD), "so the simulator can take it exactly as printed"


# ---------------------------------------------------------------- the document's examples


def test_the_skipped_examples_are_invalid_against_their_own_schema(doc: Document) -> None:
    for (method, name), reason in INVALID_REQUEST_EXAMPLES.items():
        [example] = [e for e in doc.request_examples(method) if e.name == name]
        assert doc.request_errors(method, example.value), reason
    for (method, name), reason in INVALID_RESPONSE_EXAMPLES.items():
        [example] = [e for e in doc.response_examples(method) if e.name == name]
        assert doc.response_errors(method, example.value), reason


def seed(sim: TBankSim) -> None:
    """The state the documented examples refer to (their PaymentIds, RequestKey, AccountToken)."""

    def payment(pid: int, status: str, *, recurrent: bool = False) -> None:
        sim.payments[pid] = SimPayment(
            payment_id=pid,
            order_id=f"doc-{pid}",
            amount=140000,
            original_amount=140000,
            description="Подписка",
            recurrent=recurrent,
            qr=recurrent,
            notification_url=None,
            receipt=receipt(140000),
            status=status,
        )

    payment(10063, "NEW")  # GetQr
    payment(700001702044, "NEW", recurrent=True)  # ChargeQr
    payment(2304882, "CONFIRMED")  # Cancel
    payment(13660, "FORM_SHOWED")  # GetState, SbpPayTest
    sim.links[211258] = SimLink(211258, "Привязка", status="ACTIVE", account_token="x")
    sim.links[1] = SimLink(1, "Привязка", status="ACTIVE")
    sim.links[1].account_token = "70LSS7DN18SJQRS10006DNPKLJL24B05"  # ChargeQr's example


@pytest.mark.parametrize("method", METHODS)
async def test_the_documents_request_examples_are_accepted(
    doc: Document, bank: Bank, merchant: Merchant, method: str
) -> None:
    """Each example as printed; its placeholder Token (the document reuses a few hashes)
    replaced by the right one, except Init_FULL's, which is right."""
    seed(bank.sim)
    examples = [
        e for e in doc.request_examples(method) if (method, e.name) not in INVALID_REQUEST_EXAMPLES
    ]
    assert examples
    for example in examples:
        assert doc.request_errors(method, example.value) == [], example.pointer
        body = dict(example.value)
        if not verify(body, PASSWORD):
            body["Token"] = token(body, PASSWORD)
        answer = await bank.raw(method, body)
        assert answer["Success"] is True, (example.pointer, answer)
    assert_all_valid(doc, bank, merchant)


async def answer_like_the_documented_one(bank: Bank, method: str) -> dict[str, Any]:  # noqa: PLR0911 - one situation per method
    """The simulator's answer in the situation the documented response example shows."""
    if method == "Init":
        return await bank("Init", Amount=140000, OrderId="21090", Receipt=receipt(140000))
    if method == "GetQr":  # a payment that links at once: RequestKey is in the answer
        return await bank("GetQr", PaymentId=int(await init(bank, recurrent=True)))
    if method == "AddAccountQr":
        return await bank("AddAccountQr", Description="Привязка счёта", DataType="PAYLOAD")
    if method == "GetAddAccountQrState":
        key = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
        await bank.sim.link(key)
        return await bank("GetAddAccountQrState", RequestKey=key)
    if method == "ChargeQr":
        key = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
        await bank.sim.link(key)
        account = bank.sim.links[key].account_token
        payment_id = await init(bank, recurrent=True)
        return await bank("ChargeQr", PaymentId=payment_id, AccountToken=account)
    if method == "Cancel":
        payment_id = await init(bank, 13000)
        await bank.sim.pay(int(payment_id))
        return await bank("Cancel", PaymentId=payment_id, Amount=8000, Receipt=receipt(8000))
    if method == "GetState":
        return await bank("GetState", PaymentId=await init(bank))
    assert method == "SbpPayTest"
    payment_id = await init(bank)
    await bank("GetQr", PaymentId=int(payment_id))
    return await bank("SbpPayTest", PaymentId=payment_id, IsDeadlineExpired=False, IsRejected=False)


@pytest.mark.parametrize("method", METHODS)
async def test_the_documents_response_examples_reproduce_in_shape(
    doc: Document, bank: Bank, merchant: Merchant, method: str
) -> None:
    """Every key of the simulator's answer is in the documented example, with its JSON type,
    and every key the schema requires is there."""
    answer = await answer_like_the_documented_one(bank, method)
    assert answer["Success"] is True, answer
    required = doc.read["components"]["schemas"].get(
        doc.response_pointer(method).rsplit("/", 1)[-1], {}
    )
    for key in required.get("required", []):
        assert key in answer, (method, key)
    for example in doc.response_examples(method):
        if (method, example.name) in INVALID_RESPONSE_EXAMPLES:
            continue
        assert unlike(answer, example.value) == [], (example.pointer, answer)
    assert_all_valid(doc, bank, merchant)


# ---------------------------------------------------------------- flows and notifications


async def test_pay_and_link_at_once_notifies_payment_link_and_receipt(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    payment_id = await init(bank, recurrent=True)
    qr = await bank("GetQr", PaymentId=int(payment_id), DataType="PAYLOAD")
    assert qr["Data"].startswith("https://qr.nspk.ru/")
    key = qr["RequestKey"]
    state = await bank("GetAddAccountQrState", RequestKey=key)
    assert state["Status"] == "PROCESSING"
    assert await bank.sim.pay(int(payment_id)) == ["OK"] * 4
    payment = bank.sim.payments[int(payment_id)]
    assert payment.history == ["NEW", "FORM_SHOWED", "AUTHORIZED", "CONFIRMED"]
    kinds = [(b.get("NotificationType") or b["Status"]) for b in merchant.received]
    assert kinds == ["AUTHORIZED", "CONFIRMED", "RECEIPT", "LINKACCOUNT"]
    link = merchant.received[-1]
    assert (link["Status"], link["RequestKey"]) == ("ACTIVE", str(key))
    assert link["AccountToken"] == bank.sim.links[key].account_token
    state = await bank("GetAddAccountQrState", RequestKey=key)
    assert (state["Status"], state["AccountToken"]) == ("ACTIVE", link["AccountToken"])
    for body in merchant.received:
        examples = {e.name: e.value for e in doc.request_examples("Notification")}
        kind = {"LINKACCOUNT": "NotificationQr"}.get(body.get("NotificationType", ""))
        kind = kind or ("NotificationFiscalization" if body["Status"] == "RECEIPT" else None)
        assert unlike(body, examples[kind or "NotificationPayment"]) == [], body
    assert_all_valid(doc, bank, merchant)


async def test_a_link_without_payment_then_charges_and_refunds(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    added = await bank("AddAccountQr", Description="Автоплатёж PRO", DataType="PAYLOAD")
    key = added["RequestKey"]
    assert isinstance(key, int) and added["Data"].startswith("https://qr.nspk.ru/")
    await bank.sim.link(key)
    account = bank.sim.links[key].account_token
    payment_id = await init(bank, recurrent=True, NotificationURL=bank.sim.notification_url)
    charged = await bank("ChargeQr", PaymentId=payment_id, AccountToken=account)
    assert (charged["Status"], charged["Amount"]) == ("CONFIRMED", 19900)
    state = await bank("GetState", PaymentId=payment_id)
    assert state["Status"] == "CONFIRMED"
    partial = await bank("Cancel", PaymentId=payment_id, Amount=9900, Receipt=receipt(9900))
    assert (partial["Status"], partial["OriginalAmount"], partial["NewAmount"]) == (
        "PARTIAL_REFUNDED",
        19900,
        10000,
    )
    rest = await bank("Cancel", PaymentId=payment_id)
    assert (rest["Status"], rest["NewAmount"]) == ("REFUNDED", 0)
    refunds = [(b["Status"], b["Amount"]) for b in merchant.received if b.get("OrderId")]
    assert ("PARTIAL_REFUNDED", 9900) in refunds and ("REFUNDED", 10000) in refunds
    assert bank.sim.payments[int(payment_id)].history[-2:] == ["PARTIAL_REFUNDED", "REFUNDED"]
    again = await bank("Cancel", PaymentId=payment_id)
    assert (again["Success"], again["ErrorCode"]) == (False, "8")
    assert_all_valid(doc, bank, merchant)


async def test_cancel_reverses_an_authorized_payment_and_cancels_a_new_one(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    held = await init(bank)
    await bank.sim.pay(int(held), confirm=False)
    reversed_ = await bank("Cancel", PaymentId=held)
    assert reversed_["Status"] == "REVERSED"
    fresh = await init(bank)
    cancelled = await bank("Cancel", PaymentId=fresh, Amount=100)  # ignored for NEW
    assert (cancelled["Status"], cancelled["OriginalAmount"]) == ("CANCELED", 19900)
    assert [b["Status"] for b in merchant.received] == ["AUTHORIZED", "REVERSED", "CANCELED"]
    assert_all_valid(doc, bank, merchant)


async def test_declines_expiry_and_inactive_links_are_notified(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    declined = await init(bank, recurrent=True)
    key = (await bank("GetQr", PaymentId=declined))["RequestKey"]  # a string id works too
    await bank.sim.pay(int(declined), succeed=False)
    expired = await init(bank)
    await bank("SbpPayTest", PaymentId=expired, IsDeadlineExpired=True)
    refused = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
    await bank.sim.link(refused, approve=False)
    later = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
    await bank.sim.link(later)
    await bank.sim.deactivate(bank.sim.links[later].account_token or "")
    seen = [(b.get("NotificationType", "payment"), b["Status"]) for b in merchant.received]
    assert seen == [
        ("payment", "REJECTED"),
        ("LINKACCOUNT", "INACTIVE"),
        ("payment", "DEADLINE_EXPIRED"),
        ("LINKACCOUNT", "INACTIVE"),
        ("LINKACCOUNT", "ACTIVE"),
        ("LINKACCOUNT", "INACTIVE"),
    ]
    assert bank.sim.links[key].status == "INACTIVE"
    assert_all_valid(doc, bank, merchant)


async def test_chargeqr_refuses_with_the_documented_codes(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    key = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
    unlinked = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
    await bank.sim.link(key)
    account = bank.sim.links[key].account_token
    await bank.sim.link(unlinked, approve=False)
    bank.sim.links[unlinked].account_token = "inactive-token"

    async def charge(account_token: str | None, *, recurrent: bool = True) -> dict[str, Any]:
        return await bank(
            "ChargeQr", PaymentId=await init(bank, recurrent=recurrent), AccountToken=account_token
        )

    assert (await charge(account, recurrent=False))["ErrorCode"] == "3013", "not Recurrent+QR"
    assert (await charge("no-such-token"))["ErrorCode"] == "3014"
    assert (await charge("inactive-token"))["ErrorCode"] == "3015"
    payment_id = await init(bank, recurrent=True)
    first = await bank("ChargeQr", PaymentId=payment_id, AccountToken=account)
    again = await bank("ChargeQr", PaymentId=payment_id, AccountToken=account)
    assert (first["Status"], again["ErrorCode"]) == ("CONFIRMED", "3037")
    bank.sim.recurrent_enabled = False
    assert (await charge(account))["ErrorCode"] == "3013", "recurring payments switched off"
    bank.sim.recurrent_enabled = True
    bank.sim.declined_accounts.add(account or "")
    rejected = await charge(account)
    assert (rejected["Success"], rejected["Status"]) == (True, "REJECTED")
    assert merchant.received[-1]["Status"] == "REJECTED"
    assert_all_valid(doc, bank, merchant)


async def test_requests_are_refused_as_documented(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    body = {"TerminalKey": TERMINAL, "Amount": 19900, "OrderId": "x1", "Receipt": receipt(19900)}
    assert (await bank.raw("Init", {**body, "Token": "0" * 64}))["ErrorCode"] == "204"
    other = {**body, "TerminalKey": "Other"}
    assert (await bank.raw("Init", {**other, "Token": token(other, PASSWORD)}))[
        "ErrorCode"
    ] == "205"
    assert (await bank("Init", Amount=19900, OrderId="x2"))["ErrorCode"] == "309", "no receipt"
    wrong_total = await bank("Init", Amount=20000, OrderId="x3", Receipt=receipt(19900))
    assert wrong_total["ErrorCode"] == "334"
    no_contact = {k: v for k, v in receipt(19900).items() if k != "Email"}
    assert (await bank("Init", Amount=19900, OrderId="x4", Receipt=no_contact))["ErrorCode"] == (
        "329"
    )
    link_without_description = await bank(
        "Init",
        Amount=19900,
        OrderId="x5",
        Recurrent="Y",
        DATA={"QR": "true"},
        Receipt=receipt(19900),
    )
    assert link_without_description["ErrorCode"] == "213"
    assert (await bank("Init", Amount=19900, OrderId="x" * 37, Receipt=receipt(19900)))[
        "ErrorCode"
    ] == "212"
    too_little = await init(bank, 500)
    assert (await bank("GetQr", PaymentId=too_little))["ErrorCode"] == "3016", "SBP: 10 RUB min"
    assert (await bank("GetState", PaymentId="999"))["ErrorCode"] == "255"
    assert [x.accepted for x in bank.sim.exchanges].count(True) == 1, "the Init of 5 RUB"
    assert_all_valid(doc, bank, merchant)


async def test_the_http_hooks_pay_link_and_unlink(
    doc: Document, bank: Bank, merchant: Merchant
) -> None:
    payment_id = await init(bank)
    paid = await bank.http.post(f"{bank.url}/pay/{payment_id}")
    assert paid.json() == {"notified": ["OK", "OK", "OK"]}
    key = (await bank("AddAccountQr", Description="Привязка"))["RequestKey"]
    linked = await bank.http.post(f"{bank.url}/link/{key}")
    assert linked.json() == {"notified": ["OK"]}
    account = bank.sim.links[key].account_token
    await bank.http.post(f"{bank.url}/unlink/{account}")
    declined = await init(bank)
    await bank.http.post(f"{bank.url}/pay/{declined}?decline=1")
    assert bank.sim.links[key].status == "INACTIVE"
    assert bank.sim.payments[int(declined)].status == "REJECTED"
    assert_all_valid(doc, bank, merchant)


async def test_a_notification_not_answered_ok_is_sent_again(bank: Bank, merchant: Merchant) -> None:
    merchant.answer = "<html>OK</html>"
    payment_id = await init(bank)
    await bank.sim.pay(int(payment_id))
    assert len(bank.sim.undelivered) == 3
    merchant.answer = "OK"
    assert await bank.sim.redeliver() == ["OK"] * 3
    assert bank.sim.undelivered == []
    assert len(merchant.received) == 6
