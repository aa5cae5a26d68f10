"""POST /v1/partner/orders: AgroStore's HMAC checked, order_id unique."""

from __future__ import annotations

import json

import pytest

from agronom.partners.service import signature
from agrosim import photos

from ..conftest import PARTNER_SECRET  # noqa: TID252


@pytest.fixture
async def protocol_id(api, sign, vision) -> int:
    response = await api.post(
        "/v1/ai/diagnose",
        headers=sign(77),
        files={"image": ("leaf.jpg", photos.leaf(spots="brown"), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    return response.json()["protocol"]["id"]


def signed(body: dict, secret: str = PARTNER_SECRET) -> dict:
    raw = json.dumps(body).encode()
    return {
        "content": raw,
        "headers": {"content-type": "application/json", "X-Signature": signature(raw, secret)},
    }


async def test_a_signed_order_is_recorded_for_the_protocols_owner(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1001", "protocol_id": protocol_id, "price_kopeks": 45000}
    response = await api.post("/v1/partner/orders", **signed(body))
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True and response.json()["status"] == "new"
    stored = sql(
        "SELECT u.tg_id, o.order_id, o.protocol_id, o.price_kopeks, o.signature, o.status::text "
        "FROM partner_orders o JOIN users u ON u.id = o.user_id"
    )
    expected_signature = signed(body)["headers"]["X-Signature"]
    assert stored == [(77, "AS-1001", protocol_id, 45000, expected_signature, "new")]


async def test_the_same_order_id_updates_status_and_never_duplicates(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1002", "protocol_id": protocol_id, "price_kopeks": 100}
    assert (await api.post("/v1/partner/orders", **signed(body))).status_code == 201
    again = await api.post("/v1/partner/orders", **signed({**body, "status": "processed"}))
    assert again.status_code == 200 and again.json()["created"] is False
    changed = await api.post("/v1/partner/orders", **signed({**body, "price_kopeks": 1}))
    assert changed.status_code == 409
    assert changed.json()["error_code"] == "BAD_REQUEST"
    assert sql("SELECT order_id, status::text, price_kopeks FROM partner_orders") == [
        ("AS-1002", "processed", 100)
    ]


async def test_a_bad_or_missing_signature_writes_nothing(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1003", "protocol_id": protocol_id, "price_kopeks": 100}
    wrong = signed(body, secret="not-ours")
    tampered = signed(body)
    tampered["content"] = tampered["content"].replace(b"100", b"1")
    unsigned = {"json": body}
    for attempt in (wrong, tampered, unsigned):
        response = await api.post("/v1/partner/orders", **attempt)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHORIZED"
    assert sql("SELECT * FROM partner_orders") == []


async def test_an_unknown_protocol_or_bad_body_is_refused(api, sql) -> None:
    unknown = await api.post(
        "/v1/partner/orders", **signed({"order_id": "X1", "protocol_id": 99, "price_kopeks": 1})
    )
    assert unknown.status_code == 404
    bad = await api.post("/v1/partner/orders", **signed({"order_id": "", "protocol_id": 0}))
    assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_REQUEST"
    assert sql("SELECT * FROM partner_orders") == []
