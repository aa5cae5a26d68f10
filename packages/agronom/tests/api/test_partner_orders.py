"""POST /v1/partner/orders: AgroStore's HMAC over time, nonce and body checked; replays and
stale requests refused; order_id unique; status moves only forwards."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from agronom.api.app import create_app
from agronom.partners.service import signature
from agrosim import photos

from ..conftest import PARTNER_SECRET, serving  # noqa: TID252


@pytest.fixture
async def protocol_id(api, sign, vision) -> int:
    response = await api.post(
        "/v1/ai/diagnose",
        auth=sign(77),
        files={"image": ("leaf.jpg", photos.leaf(spots="brown"), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    return response.json()["protocol"]["id"]


def signed(body: dict, secret: str = PARTNER_SECRET, *, at: float | None = None) -> dict:
    raw = json.dumps(body).encode()
    stamp, nonce = str(int(time.time() if at is None else at)), secrets.token_urlsafe(12)
    return {
        "content": raw,
        "headers": {
            "content-type": "application/json",
            "X-Timestamp": stamp,
            "X-Nonce": nonce,
            "X-Signature": signature(raw, secret, timestamp=stamp, nonce=nonce),
        },
    }


async def test_a_signed_order_is_recorded_for_the_protocols_owner(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1001", "protocol_id": protocol_id, "price_kopeks": 45000}
    request = signed(body)
    response = await api.post("/v1/partner/orders", **request)
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True and response.json()["status"] == "new"
    stored = sql(
        "SELECT u.tg_id, o.order_id, o.protocol_id, o.price_kopeks, o.signature, o.status::text "
        "FROM partner_orders o JOIN users u ON u.id = o.user_id"
    )
    expected_signature = request["headers"]["X-Signature"]
    assert stored == [(77, "AS-1001", protocol_id, 45000, expected_signature, "new")]


async def test_the_same_order_id_updates_status_and_never_duplicates(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1002", "protocol_id": protocol_id, "price_kopeks": 100}
    assert (await api.post("/v1/partner/orders", **signed(body))).status_code == 201
    again = await api.post("/v1/partner/orders", **signed({**body, "status": "processed"}))
    assert again.status_code == 200 and again.json()["created"] is False
    same = await api.post("/v1/partner/orders", **signed({**body, "status": "processed"}))
    assert same.status_code == 200 and same.json()["status"] == "processed"
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


async def test_a_replayed_or_stale_order_is_refused(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1004", "protocol_id": protocol_id, "price_kopeks": 100}
    request = signed(body)
    assert (await api.post("/v1/partner/orders", **request)).status_code == 201
    replay = await api.post("/v1/partner/orders", **request)
    assert replay.status_code == 401 and "replayed" in replay.json()["message"]
    stale = await api.post("/v1/partner/orders", **signed(body, at=time.time() - 3600))
    assert stale.status_code == 401 and "X-Timestamp" in stale.json()["message"]
    no_nonce = signed(body)
    del no_nonce["headers"]["X-Nonce"]
    assert (await api.post("/v1/partner/orders", **no_nonce)).status_code == 401
    assert sql("SELECT count(*) FROM partner_orders") == [(1,)]


async def test_status_moves_only_along_legal_transitions(api, sql, protocol_id) -> None:
    body = {"order_id": "AS-1005", "protocol_id": protocol_id, "price_kopeks": 100}
    assert (await api.post("/v1/partner/orders", **signed(body))).status_code == 201
    for status, expected in (("processed", 200), ("new", 409), ("cancelled", 200)):
        moved = await api.post("/v1/partner/orders", **signed({**body, "status": status}))
        assert moved.status_code == expected, (status, moved.text)
    back = await api.post("/v1/partner/orders", **signed({**body, "status": "processed"}))
    assert back.status_code == 409 and "cannot become processed" in back.json()["message"]
    assert sql("SELECT status::text FROM partner_orders") == [("cancelled",)]


@asynccontextmanager
async def served(settings, database_url, store, **changes) -> AsyncIterator[httpx.AsyncClient]:
    changed = settings.model_copy(update={k: SecretStr(v) for k, v in changes.items()})
    async with serving(create_app(changed, database_url=database_url, store=store)) as client:
        yield client


async def test_the_previous_key_is_accepted_only_while_a_rotation_is_configured(
    settings, database_url, store, protocol_id
) -> None:
    body = {"order_id": "AS-1006", "protocol_id": protocol_id, "price_kopeks": 100}
    async with served(settings, database_url, store, partner_hmac_secret="new-key") as rotated:
        assert (await rotated.post("/v1/partner/orders", **signed(body))).status_code == 401
    async with served(
        settings,
        database_url,
        store,
        partner_hmac_secret="new-key",
        partner_hmac_secret_previous=PARTNER_SECRET,
    ) as rotating:
        old = await rotating.post("/v1/partner/orders", **signed(body))
        assert old.status_code == 201, old.text
        new = await rotating.post(
            "/v1/partner/orders", **signed({**body, "status": "processed"}, "new-key")
        )
        assert new.status_code == 200, new.text
