"""POST /v1/dsr/delete_user: nothing of the user remains but pseudonymised payments."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
from moto.server import ThreadedMotoServer

from agronom.api.app import create_app
from agronom.exports import service as exports
from agronom.partners.service import signature
from agronom.payments import tbank
from agronom.store import db
from agronom.store import objects as storage
from agronom.users import service as users
from agrosim import photos
from agrosim.server import free_port

from ..conftest import (  # noqa: TID252
    ADMIN_KEY,
    PARTNER_SECRET,
    PSEUDONYM_SECRET,
    TBANK_PASSWORD,
    TERMINAL,
    jobs_worker,
    on_s3,
)

TABLES_WITH_USER = ("photos", "photo_usage", "events", "partner_orders", "sbp_account_links")


async def _leave_traces(api, sign, sql, store, tg_id: int, *, seed: int) -> int:
    """A user with photos, a protocol order, consent, a dataset copy, a payment and an export."""
    for n in range(2):
        response = await api.post(
            "/v1/ai/diagnose",
            auth=sign(tg_id),
            files={"image": ("l.jpg", photos.leaf(spots="brown", seed=seed + n), "image/jpeg")},
        )
        assert response.status_code == 200, response.text
    protocol_id = response.json()["protocol"]["id"]
    await api.put("/v1/ml/consent", auth=sign(tg_id), json={"enabled": True})
    user_id = sql.one("SELECT id FROM users WHERE tg_id = %s", tg_id)
    raw = json.dumps(
        {"order_id": f"AS-{tg_id}", "protocol_id": protocol_id, "price_kopeks": 9900}
    ).encode()
    stamp, nonce = str(int(time.time())), f"dsr-{tg_id}-nonce"
    order = await api.post(
        "/v1/partner/orders",
        content=raw,
        headers={
            "content-type": "application/json",
            "X-Timestamp": stamp,
            "X-Nonce": nonce,
            "X-Signature": signature(raw, PARTNER_SECRET, timestamp=stamp, nonce=nonce),
        },
    )
    assert order.status_code == 201
    body = {
        "TerminalKey": TERMINAL,
        "OrderId": f"u{user_id}-m1-x",
        "Success": True,
        "Status": "CONFIRMED",
        "PaymentId": 900000 + tg_id,
        "Amount": 19900,
    }
    body["Token"] = tbank.token(body, TBANK_PASSWORD)
    assert (await api.post("/v1/payments/sbp/webhook", json=body)).text == "OK"
    sql(  # an SBP account linked for autopay: its AccountToken goes with the user
        "INSERT INTO sbp_account_links (request_key, user_id, account_token, status, "
        "consent_version, consented_at) VALUES (%s, %s, %s, 'ACTIVE', 'v1', now()) RETURNING 1",
        f"rk-{tg_id}",
        user_id,
        f"acc-{tg_id}",
    )
    return user_id


async def test_after_delete_user_nothing_but_pseudonymised_payments_remain(
    *, api, sign, sql, store, settings, database_url, clock
) -> None:
    gone = await _leave_traces(api, sign, sql, store, 301, seed=10)
    kept = await _leave_traces(api, sign, sql, store, 302, seed=20)
    engine = db.async_engine(database_url)
    try:
        from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: PLC0415

        from agronom.jobs import service as jobs  # noqa: PLC0415

        async with async_sessionmaker(engine).begin() as session:
            await jobs.copy_dataset(session, store, now=clock.now, secret=PSEUDONYM_SECRET)
            await exports.export_day(session, store, clock.now.date(), secret=PSEUDONYM_SECRET)
    finally:
        await engine.dispose()
    gone_ref = users.ref(gone, secret=PSEUDONYM_SECRET)
    kept_ref = users.ref(kept, secret=PSEUDONYM_SECRET)
    keys = [o.key for o in await store.list("")]
    assert any(gone_ref in k for k in keys) and any(k.startswith("ml-dataset/") for k in keys)
    activity = "exports/daily/2026-03-10/user_activity.csv"
    assert gone_ref in (await store.get(activity)).decode()

    response = await api.post("/v1/dsr/delete_user", auth=sign(301), json={})
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "deleted"
    assert done["found"] is True and done["photos"] == 2 and done["payments_pseudonymised"] == 1
    assert done["objects"] == 6 and done["exports_rewritten"] == 1  # 2 photos, 2 x (jpg, json)

    # No row of the user in any table...
    assert sql("SELECT * FROM users WHERE id = %s OR tg_id = 301", gone) == []
    for table in TABLES_WITH_USER:
        assert sql(f"SELECT * FROM {table} WHERE user_id = %s", gone) == [], table  # noqa: S608
    assert (
        sql(
            "SELECT * FROM protocols p JOIN photos f ON f.id = p.photo_id WHERE f.user_id = %s",
            gone,
        )
        == []
    )
    # ...but the payment, pseudonymised: no user, no binding; amount and T-Bank id kept.
    assert sql(
        "SELECT user_id, autopay_binding_id, amount, status::text, external_id FROM payments "
        "WHERE external_id = '900301'"
    ) == [(None, None, 19900, "success", "900301")]
    # No stored object and no export row under the user's reference.
    keys = [o.key for o in await store.list("")]
    assert not [k for k in keys if gone_ref in k]
    export_text = (await store.get(activity)).decode()
    assert gone_ref not in export_text and kept_ref in export_text
    # The other user is untouched.
    assert sql.one("SELECT count(*) FROM photos WHERE user_id = %s", kept) == 2
    assert [k for k in keys if kept_ref in k]
    assert sql("SELECT user_id FROM payments WHERE external_id = '900302'") == [(kept,)]
    assert datetime(2026, 3, 10) <= clock.now


async def test_delete_user_needs_the_user_or_an_operator(api, sign, sql) -> None:
    await api.get("/v1/limits", auth=sign(401))
    assert (await api.post("/v1/dsr/delete_user", json={"tg_id": 401})).status_code == 401
    other = await api.post("/v1/dsr/delete_user", auth=sign(402), json={"tg_id": 401})
    assert other.status_code == 401
    bad_key = await api.post(
        "/v1/dsr/delete_user", headers={"X-API-Key": "guess"}, json={"tg_id": 401}
    )
    assert bad_key.status_code == 401
    assert sql.one("SELECT count(*) FROM users WHERE tg_id = 401") == 1
    operator = await api.post(
        "/v1/dsr/delete_user", headers={"X-API-Key": ADMIN_KEY}, json={"tg_id": 401}
    )
    assert operator.status_code == 200 and operator.json()["found"] is True
    assert sql("SELECT * FROM users WHERE tg_id = 401") == []
    unknown = await api.post(
        "/v1/dsr/delete_user", headers={"X-API-Key": ADMIN_KEY}, json={"tg_id": 401}
    )
    assert unknown.status_code == 200
    assert unknown.json()["found"] is False and unknown.json()["status"] == "not_found"


async def test_a_deletion_the_store_interrupts_is_kept_and_finished_by_the_dsr_job(
    *, settings, database_url, clock, sign, sql, temporal_env
) -> None:
    """The S3 API goes away mid-request: the request is recorded (202), the user stays until
    the store is back, then the hourly DSR job deletes them."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    s3_settings = on_s3(settings, f"http://127.0.0.1:{port}", "agronom-dsr-deferred")
    store = await storage.from_settings(s3_settings)
    app = create_app(s3_settings, database_url=database_url, store=store, clock=clock)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                diagnosed = await api.post(
                    "/v1/ai/diagnose",
                    auth=sign(501),
                    files={"image": ("l.jpg", photos.leaf(spots="brown", seed=5), "image/jpeg")},
                )
                assert diagnosed.status_code == 200, diagnosed.text
                user_id = sql.one("SELECT id FROM users WHERE tg_id = 501")
                ref = users.ref(user_id, secret=PSEUDONYM_SECRET)
                assert [o.key for o in await store.list(f"{storage.PHOTOS}{ref}/")]

                server.stop()  # the object store is down
                deferred = await api.post("/v1/dsr/delete_user", auth=sign(501), json={})
                assert deferred.status_code == 202, deferred.text
                assert deferred.json()["status"] == "scheduled"
                assert sql.one("SELECT count(*) FROM users WHERE tg_id = 501") == 1
                assert (
                    sql.one(
                        "SELECT count(*) FROM events"
                        " WHERE user_id = %s AND event = 'dsr_requested'",
                        user_id,
                    )
                    == 1
                )

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()  # back, with its objects (moto keeps them in this process)
        assert [o.key for o in await store.list(f"{storage.PHOTOS}{ref}/")]
        async with jobs_worker(temporal_env.client, s3_settings, database_url, store) as jobs:
            for expected in ({"deleted": 1}, {"deleted": 0}):
                result = await jobs.run("agronom.DsrSweep", clock.now)
                assert result.counts == expected
        assert sql("SELECT * FROM users WHERE tg_id = 501") == []
        assert sql("SELECT * FROM events WHERE user_id = %s", user_id) == []
        assert [o.key for o in await store.list("") if ref in o.key] == []
    finally:
        server.stop()
