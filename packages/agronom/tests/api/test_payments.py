"""T-Bank notifications: Token checked, applied exactly once, PRO only on CONFIRMED."""

from __future__ import annotations

from datetime import datetime

import pytest

from agronom.payments import tbank

from ..conftest import TBANK_PASSWORD, TERMINAL  # noqa: TID252


def notification(order: str, payment_id: int, status: str, **extra) -> dict:
    """A notification as T-Bank sends it, signed with the terminal password."""
    body = {
        "TerminalKey": TERMINAL,
        "OrderId": order,
        "Success": status not in ("REJECTED", "AUTH_FAIL"),
        "Status": status,
        "PaymentId": payment_id,
        "ErrorCode": "0" if status not in ("REJECTED", "AUTH_FAIL") else "1051",
        "Amount": 19900,
        "Pan": "+7 (XXX) XXX-XX-11",
        "Data": {"source": "sbp"},
        **extra,
    }
    body["Token"] = tbank.token(body, TBANK_PASSWORD)
    return body


@pytest.fixture
async def user_id(api, sign, sql) -> int:
    assert (await api.get("/v1/limits", headers=sign(555))).status_code == 200
    return sql.one("SELECT id FROM users WHERE tg_id = 555")


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


async def test_pro_is_granted_only_on_confirmed(api, sql, user_id) -> None:
    for status, payment_id in (("NEW", 1), ("AUTHORIZED", 2), ("REJECTED", 3), ("CANCELED", 4)):
        body = notification(f"u{user_id}-m3-x", payment_id, status)
        assert (await api.post("/v1/payments/sbp/webhook", json=body)).text == "OK"
    assert sql.one("SELECT pro_expires_at FROM users") is None
    assert sql("SELECT external_id, status::text FROM payments ORDER BY external_id") == [
        ("3", "fail"),
        ("4", "cancel"),
    ], "steps in progress (NEW, AUTHORIZED) are not payments"
    assert sql("SELECT event FROM events ORDER BY id") == [("payment_fail",), ("payment_cancel",)]


async def test_pro_prolongs_from_the_current_expiry(api, sql, user_id, clock) -> None:
    await api.post(
        "/v1/payments/sbp/webhook", json=notification(f"u{user_id}-m1-a", 11, "CONFIRMED")
    )
    clock.advance(days=5)
    await api.post(
        "/v1/payments/sbp/webhook", json=notification(f"u{user_id}-m2-b", 12, "CONFIRMED")
    )
    assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 6, 10, 12, 0, 0)


async def test_autopay_charges_bind_succeed_and_fail_with_events(api, sql, sign, user_id) -> None:
    first = notification(f"u{user_id}-m1-a", 21, "CONFIRMED", AccountToken="acc-token-1")
    assert (await api.post("/v1/payments/sbp/webhook", json=first)).text == "OK"
    assert sql.one("SELECT autopay_enabled FROM users") is True
    charge = notification(f"u{user_id}-m1-b", 22, "CONFIRMED", AccountToken="acc-token-1")
    assert (await api.post("/v1/payments/sbp/autopay/webhook", json=charge)).text == "OK"
    failed = notification(f"u{user_id}-m1-c", 23, "REJECTED", AccountToken="acc-token-1")
    assert (await api.post("/v1/payments/sbp/autopay/webhook", json=failed)).text == "OK"
    assert sql("SELECT external_id, status::text, autopay FROM payments ORDER BY id") == [
        ("21", "success", False),
        ("22", "success", True),
        ("23", "fail", True),
    ]
    assert sql("SELECT event FROM events ORDER BY id") == [
        ("payment_success",),
        ("payment_success",),
        ("autopay_fail",),
    ]
    limits = (await api.get("/v1/limits", headers=sign(555))).json()
    assert limits["plan"] == "pro" and limits["allowed"] == 50 and limits["autopay_enabled"]


async def test_a_binding_deactivated_by_the_bank_switches_autopay_off(api, sql, user_id) -> None:
    first = notification(f"u{user_id}-m1-a", 31, "CONFIRMED", AccountToken="acc-2")
    await api.post("/v1/payments/sbp/webhook", json=first)
    link = {
        "TerminalKey": TERMINAL,
        "RequestKey": "13021e10-a3ed-4f14-bcd1-823b5ac37390",
        "AccountToken": "acc-2",
        "BankMemberId": "100000000004",
        "BankMemberName": "T-Bank",
        "NotificationType": "LINKACCOUNT",
        "Success": False,
        "ErrorCode": "0",
        "Status": "INACTIVE",
    }
    link["Token"] = tbank.token(link, TBANK_PASSWORD)
    assert (await api.post("/v1/payments/sbp/autopay/webhook", json=link)).text == "OK"
    assert sql.one("SELECT autopay_enabled FROM users") is False
    assert (await api.post("/v1/payments/sbp/autopay/webhook", json=link)).text == "OK"
    assert sql("SELECT event FROM events ORDER BY id") == [("payment_success",), ("autopay_fail",)]


async def test_cancel_autopay_stops_recurring_charges(api, sql, sign, user_id) -> None:
    body = notification(f"u{user_id}-m1-a", 41, "CONFIRMED", AccountToken="acc-3")
    await api.post("/v1/payments/sbp/webhook", json=body)
    response = await api.post("/v1/payments/sbp/autopay/cancel", headers=sign(555))
    assert response.json() == {"autopay_enabled": False, "changed": True}
    again = await api.post("/v1/payments/sbp/autopay/cancel", headers=sign(555))
    assert again.json() == {"autopay_enabled": False, "changed": False}
    assert sql.one("SELECT autopay_enabled FROM users") is False
    assert sql("SELECT event FROM events ORDER BY id")[-1] == ("autopay_cancel",)
    assert (await api.post("/v1/payments/sbp/autopay/cancel")).status_code == 401


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
