"""Payments whose notifications were lost: the reconcile job asks T-Bank (GetState,
GetAddAccountQrState) and applies the answers as the notifications would have been applied, once.
"""

from __future__ import annotations

from datetime import timedelta

from ..conftest import jobs_worker  # noqa: TID252 - tests are no package
from ..payments import stack  # noqa: TID252 - tests are no package: the helper by its path

NOWHERE = "http://127.0.0.1:9/lost"  # the discard port: nothing answers


async def test_a_payment_and_a_link_whose_notifications_were_lost_are_applied_by_the_job(
    *, settings, database_url, store, clock, sql, temporal_env
) -> None:
    async with stack.live(settings, database_url, store, clock) as live:
        webhook = live.bank.notification_url
        started = await live.consent_and_pay(71)  # pays and links at once
        paid = live.payment_of(started["order_id"])
        assert (await live.pro(72)).status_code == 200  # a one-off the user never pays
        live.bank.notification_url = NOWHERE  # our webhook unreachable while they pay
        await live.bank.pay(paid)
        assert live.bank.undelivered, "the payment's and the link's notifications were lost"
        assert sql("SELECT count(*) FROM payments") == [(0,)]
        assert sql.one("SELECT status FROM sbp_account_links") == "PROCESSING"

        async with jobs_worker(temporal_env.client, live.settings, database_url, store) as jobs:
            # Minutes later a notification may still come: nobody is asked yet.
            soon = await jobs.run("agronom.ReconcilePayments", clock.now + timedelta(minutes=2))
            assert soon.counts == {}
            later = clock.now + timedelta(minutes=20)
            first = await jobs.run("agronom.ReconcilePayments", later)
            soon = await jobs.run("agronom.ReconcilePayments", later + timedelta(minutes=15))
            again = await jobs.run("agronom.ReconcilePayments", later + timedelta(minutes=25))
        # The unpaid: the one-off QR each /pro shows (71 saw one before agreeing to autopay).
        assert first.counts == {"payments_applied": 1, "payments_pending": 2, "links_applied": 1}
        assert soon.counts == {}, "an unpaid QR is asked about less and less often"
        assert again.counts == {"payments_pending": 2}, "only the unpaid are asked again"
        asked = [r["PaymentId"] for r in live.bank.requests("GetState")]
        assert len(asked) == 5 and asked.count(str(paid)) == 1, asked
        stack.assert_requests_documented(live.bank, "GetState", "GetAddAccountQrState")

        user = sql.one("SELECT id FROM users WHERE tg_id = 71")
        # A month of PRO from when it was learnt of: the user had none before.
        assert sql.one("SELECT pro_expires_at FROM users WHERE id = %s", user) == later + timedelta(
            days=31
        )
        assert sql("SELECT external_id, status::text FROM payments") == [(str(paid), "success")]
        [(key, status, token)] = sql(
            "SELECT request_key, status, account_token FROM sbp_account_links"
        )
        assert (status, token) == ("ACTIVE", live.bank.links[int(key)].account_token)
        assert sql.one("SELECT autopay_enabled FROM users WHERE id = %s", user) is True

        # The lost notifications arrive at last: answered OK, nothing applied twice.
        live.bank.notification_url = webhook
        for delivery in live.bank.undelivered:
            delivery.url = webhook
        assert set(await live.bank.redeliver()) == {"OK"}
        assert sql("SELECT count(*) FROM payments") == [(1,)]
        assert sql.one("SELECT pro_expires_at FROM users WHERE id = %s", user) == later + timedelta(
            days=31
        )
        events = [
            e for (e,) in sql("SELECT event FROM events WHERE user_id = %s ORDER BY id", user)
        ]
        assert events == ["autopay_consent", "payment_success", "autopay_linked"]


async def test_a_qr_never_paid_is_settled_when_the_bank_says_it_expired(
    *, settings, database_url, store, clock, sql, temporal_env
) -> None:
    async with stack.live(settings, database_url, store, clock) as live:
        started = (await live.pro(73)).json()
        live.bank.notification_url = NOWHERE
        await live.bank.expire(live.payment_of(started["order_id"]))
        async with jobs_worker(temporal_env.client, live.settings, database_url, store) as jobs:
            ran = await jobs.run("agronom.ReconcilePayments", clock.now + timedelta(hours=1))
            again = await jobs.run("agronom.ReconcilePayments", clock.now + timedelta(hours=2))
        assert ran.counts == {"payments_applied": 1}
        assert again.counts == {}, "settled: never asked again"
        assert sql("SELECT status::text FROM payments") == [("cancel",)]
        assert sql.one("SELECT pro_expires_at FROM users") is None
