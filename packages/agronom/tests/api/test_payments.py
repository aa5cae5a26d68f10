"""PRO by SBP through T-Bank: one-off payments, autopay only with consent (pay and link at
once, or link only), LINKACCOUNT links, refunds that take PRO back, and every notification
checked by its Token, applied exactly once and answered ``OK``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from agronom.payments import service, tbank

from ..conftest import ADMIN_KEY, TBANK_PASSWORD, TERMINAL  # noqa: TID252 - tests are no package
from ..payments import stack  # noqa: TID252 - tests are no package: the helper by its path


def notification(order: str, payment_id: int, status: str, **extra: Any) -> dict[str, Any]:
    """A NotificationPayment as T-Bank sends it, signed with the terminal password."""
    ok = status not in ("REJECTED", "AUTH_FAIL")
    body = {
        "TerminalKey": TERMINAL,
        "OrderId": order,
        "Success": ok,
        "Status": status,
        "PaymentId": payment_id,
        "ErrorCode": "0" if ok else "1051",
        "Amount": 19900,
        "Pan": "+7 (XXX) XXX-XX-11",
        **extra,
    }
    body["Token"] = tbank.token(body, TBANK_PASSWORD)
    return body


def signed(body: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in body.items() if k != "Token"}
    return {**body, "Token": tbank.token(body, TBANK_PASSWORD)}


@pytest.fixture
def user_id(sql) -> int:
    return int(sql.one("INSERT INTO users (tg_id) VALUES (555) RETURNING id"))


@pytest.fixture
async def live(settings, database_url, store, clock) -> AsyncIterator[stack.Stack]:
    async with stack.live(settings, database_url, store, clock) as running:
        yield running


# ---------------------------------------------------------------- notifications


async def test_a_confirmed_payment_grants_pro_exactly_once(api, sql, user_id, clock) -> None:
    body = notification(f"u{user_id}-m1-abc", 700001, "CONFIRMED")
    first = await api.post("/v1/payments/sbp/webhook", json=body)
    assert (first.status_code, first.text) == (200, "OK")
    expected = datetime(2026, 4, 10, 12, 0, 0)
    assert sql.one("SELECT pro_expires_at FROM users") == expected
    snapshot = [
        sql("SELECT * FROM payments ORDER BY id"),
        sql("SELECT event FROM events ORDER BY id"),
        sql("SELECT pro_expires_at, autopay_enabled FROM users"),
    ]
    replay = await api.post("/v1/payments/sbp/webhook", json=body)
    assert (replay.status_code, replay.text) == (200, "OK")
    assert [
        sql("SELECT * FROM payments ORDER BY id"),
        sql("SELECT event FROM events ORDER BY id"),
        sql("SELECT pro_expires_at, autopay_enabled FROM users"),
    ] == snapshot, "a replay changes nothing"
    payment = sql(
        "SELECT user_id, amount, currency, status::text, provider, external_id, autopay, "
        "prolong_months FROM payments"
    )
    assert payment == [(user_id, 19900, "RUB", "success", "SBP:Tinkoff", "700001", False, 1)]
    assert sql("SELECT event FROM events") == [("payment_success",)]


async def test_a_wrong_token_is_rejected_with_nothing_written(api, sql, user_id) -> None:
    body = notification(f"u{user_id}-m1-abc", 700002, "CONFIRMED")
    forged = {**body, "Amount": 1}  # Token no longer matches
    wrong_password = {**body, "Token": tbank.token(body, "not-the-password")}
    for bad in (forged, wrong_password, {k: v for k, v in body.items() if k != "Token"}):
        response = await api.post("/v1/payments/sbp/webhook", json=bad)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHORIZED"
    other_terminal = notification(f"u{user_id}-m1-abc", 700002, "CONFIRMED", TerminalKey="Other")
    assert (await api.post("/v1/payments/sbp/webhook", json=other_terminal)).status_code == 401
    assert sql("SELECT * FROM payments") == []
    assert sql("SELECT * FROM events") == []
    assert sql.one("SELECT pro_expires_at FROM users") is None


async def test_statuses_are_mapped_as_documented(api, sql, user_id) -> None:
    statuses = (
        "NEW",
        "FORM_SHOWED",
        "AUTHORIZED",
        "REJECTED",
        "CANCELED",
        "DEADLINE_EXPIRED",
        "ASYNC_REFUNDING",
    )
    for payment_id, status in enumerate(statuses, 1):
        body = notification(f"u{user_id}-m3-x", payment_id, status)
        assert (await api.post("/v1/payments/sbp/webhook", json=body)).text == "OK"
    assert sql.one("SELECT pro_expires_at FROM users") is None
    assert sql("SELECT external_id, status::text FROM payments ORDER BY external_id") == [
        ("4", "fail"),
        ("5", "cancel"),
        ("6", "cancel"),
    ], "steps in progress (NEW, FORM_SHOWED, AUTHORIZED, ASYNC_REFUNDING) are not payments"
    assert sql("SELECT event FROM events ORDER BY id") == [
        ("payment_fail",),
        ("payment_cancel",),
        ("payment_cancel",),
    ]


async def test_pro_prolongs_from_the_current_expiry(api, sql, user_id, clock) -> None:
    await api.post(
        "/v1/payments/sbp/webhook", json=notification(f"u{user_id}-m1-a", 11, "CONFIRMED")
    )
    clock.advance(days=5)
    await api.post(
        "/v1/payments/sbp/webhook", json=notification(f"u{user_id}-m2-b", 12, "CONFIRMED")
    )
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 6, 10, 12, 0, 0)


async def test_non_payment_notifications_are_acknowledged_once_their_token_is_checked(
    api, sql, user_id
) -> None:
    """The document's NotificationAddCard, NotificationFiscalization and an unknown link's
    NotificationQr: answered OK (or T-Bank resends them for a day), nothing recorded; with a
    wrong Token refused like any other."""
    examples = {e.name: e.value for e in stack.document().request_examples("Notification")}
    for name in ("NotificationAddCard", "NotificationFiscalization", "NotificationQr"):
        body = signed({**examples[name], "TerminalKey": TERMINAL})
        answer = await api.post("/v1/payments/sbp/webhook", json=body)
        assert (answer.status_code, answer.text) == (200, "OK"), name
        forged = {**body, "Token": examples[name]["Token"]}
        assert (await api.post("/v1/payments/sbp/webhook", json=forged)).status_code == 401
    assert sql("SELECT * FROM payments") == []
    assert sql("SELECT * FROM events") == []


async def test_a_malformed_notification_is_bad_request(api, sql) -> None:
    for raw in (b"not json", b"[1, 2]"):
        response = await api.post(
            "/v1/payments/sbp/webhook", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error_code"] == "BAD_REQUEST"
    signed_nonsense = notification("u1-m1-a", 51, "CONFIRMED", Amount="many")
    assert (await api.post("/v1/payments/sbp/webhook", json=signed_nonsense)).status_code == 400
    assert sql("SELECT * FROM payments") == []


# ---------------------------------------------------------------- buying PRO on the simulator


async def test_one_off_pro_by_sbp_is_init_and_getqr_then_pro_on_payment(live, sql) -> None:
    answer = await live.pro(701)
    assert answer.status_code == 200, answer.text
    started = answer.json()
    assert (started["mode"], started["amount"]) == ("once", 19900)
    assert started["payment_url"].startswith("https://qr.nspk.ru/"), "GetQr's SBP link"
    assert started["autopay_terms_version"] == service.AUTOPAY_TERMS_VERSION
    assert "199 ₽ в месяц" in started["autopay_terms"]
    stack.assert_requests_documented(live.bank, "Init", "GetQr")
    [init] = live.bank.requests("Init")
    assert "Recurrent" not in init and init["Receipt"]["Email"] == "receipts@agronom.example"
    assert await live.bank.pay(live.payment_of(started["order_id"])) == ["OK", "OK", "OK"]
    assert [d.kind for d in live.bank.deliveries] == ["payment", "payment", "fiscalization"]
    limits = await live.limits(701)
    assert limits["plan"] == "pro" and not limits["autopay_enabled"]
    assert sql("SELECT status::text, autopay_binding_id FROM payments") == [("success", None)]
    assert sql("SELECT * FROM sbp_account_links") == []


async def test_autopay_is_refused_without_explicit_consent(live, sql) -> None:
    for body in (
        {"autopay": True},
        {"autopay": True, "autopay_terms_version": service.AUTOPAY_TERMS_VERSION},
        {"autopay": True, "autopay_consent": True},
        {"autopay": True, "autopay_consent": True, "autopay_terms_version": "2020-01-01"},
    ):
        answer = await live.pro(702, **body)
        assert answer.status_code == 400, body
        assert answer.json()["error_code"] == "BAD_REQUEST"
        assert "consent" in answer.json()["message"] or "terms" in answer.json()["message"]
    assert live.bank.exchanges == [], "T-Bank is not asked"
    assert sql("SELECT event FROM events") == []


async def test_consent_then_pay_and_link_stores_the_account_token(live, sql, clock) -> None:
    started = await live.consent_and_pay(703)
    assert started["mode"] == "pay_and_link"
    [link] = sql("SELECT request_key, status, consent_version, consented_at FROM sbp_account_links")
    assert link[1:] == ("PROCESSING", service.AUTOPAY_TERMS_VERSION, clock.now)
    user = sql.one("SELECT id FROM users WHERE tg_id = 703")
    assert sql("SELECT event, ts FROM events") == [("autopay_consent", clock.now)]
    [_, recurrent] = live.bank.requests("Init")
    assert (recurrent["Recurrent"], recurrent["DATA"]) == ("Y", {"QR": "true"})
    stack.assert_requests_documented(live.bank, "Init", "GetQr")
    payment_id = live.payment_of(started["order_id"])
    assert await live.bank.pay(payment_id) == ["OK"] * 4
    token = live.bank.links[int(link[0])].account_token
    assert sql("SELECT status, account_token, payment_id FROM sbp_account_links") == [
        ("ACTIVE", token, str(payment_id))
    ]
    limits = await live.limits(703)
    assert limits["plan"] == "pro" and limits["autopay_enabled"]
    assert sql("SELECT autopay_binding_id FROM payments") == [(link[0],)]
    assert [e for (e,) in sql("SELECT event FROM events WHERE user_id = %s", user)] == [
        "autopay_consent",
        "payment_success",
        "autopay_linked",
    ]
    again = live.bank.deliveries[-1].body
    assert (await live.api.post("/v1/payments/sbp/webhook", json=again)).text == "OK"
    assert sql("SELECT count(*) FROM events WHERE event = 'autopay_linked'") == [(1,)]


async def test_with_pro_running_consent_only_links_the_account(live, sql) -> None:
    paid = (await live.pro(704)).json()
    await live.bank.pay(live.payment_of(paid["order_id"]))
    started = await live.consent_and_pay(704)
    assert (started["mode"], started["order_id"], started["amount"]) == ("link", None, 0)
    stack.assert_requests_documented(live.bank, "AddAccountQr")
    [key] = sql("SELECT request_key FROM sbp_account_links")[0]
    await live.bank.link(int(key))
    assert sql.one("SELECT status FROM sbp_account_links") == "ACTIVE"
    assert (await live.limits(704))["autopay_enabled"]


async def test_an_inactive_link_switches_autopay_off(live, sql) -> None:
    started = await live.consent_and_pay(705)
    await live.bank.pay(live.payment_of(started["order_id"]))
    token = sql.one("SELECT account_token FROM sbp_account_links")
    assert await live.bank.deactivate(token) == "OK"
    assert sql.one("SELECT status FROM sbp_account_links") == "INACTIVE"
    assert not (await live.limits(705))["autopay_enabled"]
    replay = live.bank.deliveries[-1].body
    assert (await live.api.post("/v1/payments/sbp/webhook", json=replay)).text == "OK"
    events = [e for (e,) in sql("SELECT event FROM events ORDER BY id")]
    assert events.count("autopay_fail") == 1


async def test_a_link_the_user_stopped_before_it_was_active_does_not_turn_autopay_on(
    live, sql
) -> None:
    paid = (await live.pro(706)).json()
    await live.bank.pay(live.payment_of(paid["order_id"]))
    await live.consent_and_pay(706)
    stop = await live.api.post("/v1/payments/sbp/autopay/cancel", auth=stack.BotUser(706))
    assert stop.json() == {"autopay_enabled": False, "changed": False}
    await live.bank.link(int(sql.one("SELECT request_key FROM sbp_account_links")))
    assert sql.one("SELECT status FROM sbp_account_links") == "ACTIVE"
    assert not (await live.limits(706))["autopay_enabled"]


async def test_cancel_autopay_stops_recurring_charges(live, sql) -> None:
    started = await live.consent_and_pay(707)
    await live.bank.pay(live.payment_of(started["order_id"]))
    first = await live.api.post("/v1/payments/sbp/autopay/cancel", auth=stack.BotUser(707))
    assert first.json() == {"autopay_enabled": False, "changed": True}
    again = await live.api.post("/v1/payments/sbp/autopay/cancel", auth=stack.BotUser(707))
    assert again.json() == {"autopay_enabled": False, "changed": False}
    assert sql("SELECT event FROM events ORDER BY id")[-1] == ("autopay_cancel",)
    assert (await live.api.post("/v1/payments/sbp/autopay/cancel")).status_code == 401


# ---------------------------------------------------------------- refunds


async def test_refunds_take_pro_back_by_the_refunded_share(live, sql, clock) -> None:
    paid = (await live.pro(708, months=2)).json()
    payment_id = str(live.payment_of(paid["order_id"]))
    await live.bank.pay(int(payment_id))
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 5, 10, 12, 0)
    url, admin = "/v1/payments/sbp/refund", {"X-API-Key": ADMIN_KEY}
    assert (await live.api.post(url, json={"payment_id": payment_id})).status_code == 401
    unknown = await live.api.post(url, json={"payment_id": "1"}, headers=admin)
    assert unknown.status_code == 404
    too_much = await live.api.post(
        url, json={"payment_id": payment_id, "amount": 10**6}, headers=admin
    )
    assert too_much.status_code == 400
    half = await live.api.post(url, json={"payment_id": payment_id, "amount": 19900}, headers=admin)
    assert half.json() == {
        "payment_id": payment_id,
        "status": "PARTIAL_REFUNDED",
        "original_amount": 39800,
        "new_amount": 19900,
    }
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 4, 10, 12, 0), "a month"
    rest = await live.api.post(url, json={"payment_id": payment_id}, headers=admin)
    assert (rest.json()["status"], rest.json()["new_amount"]) == ("REFUNDED", 0)
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 3, 10, 12, 0)
    assert (await live.limits(708))["plan"] == "free"
    stack.assert_requests_documented(live.bank, "Cancel")
    [partial, whole] = live.bank.requests("Cancel")
    assert partial["Amount"] == 19900 and partial["Receipt"]["Items"][0]["Amount"] == 19900
    assert "Amount" not in whole and "Receipt" not in whole, "a whole refund sends no receipt"
    assert sql("SELECT external_id, status::text, amount FROM payments ORDER BY id") == [
        (payment_id, "success", 39800),
        (f"{payment_id}:PARTIAL_REFUNDED:19900", "cancel", 19900),
        (f"{payment_id}:REFUNDED:19900", "cancel", 19900),
    ]
    replay = next(d.body for d in live.bank.deliveries if d.body.get("Status") == "REFUNDED")
    assert (await live.api.post("/v1/payments/sbp/webhook", json=replay)).text == "OK"
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 3, 10, 12, 0)
    assert [e for (e,) in sql("SELECT event FROM events ORDER BY id")].count("payment_refund") == 2
    assert live.bank.undelivered == []


async def test_a_reversal_of_a_held_payment_takes_nothing_back(live, sql) -> None:
    paid = (await live.pro(709)).json()
    payment_id = live.payment_of(paid["order_id"])
    await live.bank.pay(payment_id, confirm=False)  # AUTHORIZED: PRO not granted yet
    client = tbank.TBankClient(
        live.api,
        base_url=live.settings.tbank_api_base,
        terminal_key=TERMINAL,
        password=TBANK_PASSWORD,
    )
    assert (await client.cancel(payment_id=str(payment_id))).status == "REVERSED"
    assert sql.one("SELECT pro_expires_at FROM users") is None
    assert sql("SELECT status::text FROM payments") == [("cancel",)]
    assert sql("SELECT event FROM events") == [("payment_cancel",)]
