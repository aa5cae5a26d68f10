"""The autopay job on the T-Bank simulator: linked SBP accounts are charged before PRO ends, as
T-Bank documents it (a recurrent SBP Init with its receipt, then ChargeQr with the AccountToken
of the link), and the results arrive as notifications at the live API."""

from __future__ import annotations

from datetime import datetime

from ..conftest import ADMIN_KEY, jobs_worker  # noqa: TID252 - tests are no package
from ..payments import stack  # noqa: TID252 - tests are no package: the helper by its path


async def test_a_full_autopay_cycle_link_pay_charge_a_month_later_and_refund(
    *, settings, database_url, store, clock, sql, temporal_env
) -> None:
    async with stack.live(settings, database_url, store, clock) as live:
        started = await live.consent_and_pay(61)
        first = live.payment_of(started["order_id"])
        assert await live.bank.pay(first) == ["OK"] * 4  # pays and links at once
        [(key, status, token)] = sql(
            "SELECT request_key, status, account_token FROM sbp_account_links"
        )
        assert (status, token) == ("ACTIVE", live.bank.links[int(key)].account_token)
        assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 4, 10, 12, 0)

        clock.now = datetime(2026, 4, 10, 9, 0)  # a month later, the morning PRO ends
        async with jobs_worker(temporal_env.client, live.settings, database_url, store) as jobs:
            charged = await jobs.run("agronom.Autopay", clock.now)
            again = await jobs.run("agronom.Autopay", clock.now)
        assert charged.counts == {"due": 1, "charged": 1, "failed": 0}
        assert again.counts == {"due": 0, "charged": 0, "failed": 0}, "once a day"
        assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 5, 10, 12, 0)

        stack.assert_requests_documented(live.bank, "Init", "GetQr", "ChargeQr")
        [_, _, init] = live.bank.requests("Init")  # the /pro shown, the first, the charge
        assert (init["Recurrent"], init["DATA"]) == ("Y", {"QR": "true"})
        assert init["NotificationURL"].endswith("/v1/payments/sbp/autopay/webhook")
        assert init["Receipt"]["Items"][0]["Amount"] == init["Amount"] == 19900
        [charge] = live.bank.requests("ChargeQr")
        assert charge["AccountToken"] == token, "the token of the link table"
        charge_id = charge["PaymentId"]
        assert live.bank.payments[int(charge_id)].history[-1] == "CONFIRMED"
        assert sql(
            "SELECT external_id, status::text, autopay, autopay_binding_id FROM payments "
            "ORDER BY id"
        ) == [(str(first), "success", False, key), (charge_id, "success", True, key)]

        refund = await live.api.post(
            "/v1/payments/sbp/refund",
            json={"payment_id": charge_id},
            headers={"X-API-Key": ADMIN_KEY},
        )
        assert refund.json()["status"] == "REFUNDED"
        assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 4, 10, 12, 0)
        events = [e for (e,) in sql("SELECT event FROM events ORDER BY id")]
        assert events == [
            "autopay_consent",
            "payment_success",
            "autopay_linked",
            "autopay_charge",
            "payment_success",
            "payment_refund",
        ]
        assert live.bank.undelivered == []


async def test_rejected_and_refused_charges_record_autopay_fail(
    *, settings, database_url, store, clock, sql, temporal_env
) -> None:
    async with stack.live(settings, database_url, store, clock) as live:
        users = {}
        for name, tg_id in (("declined", 62), ("dead", 63), ("unlinked", 64)):
            started = await live.consent_and_pay(tg_id)
            await live.bank.pay(live.payment_of(started["order_id"]))
            users[name] = sql.one("SELECT id FROM users WHERE tg_id = %s", tg_id)
        paid = (await live.pro(65)).json()  # a one-off payer: nothing to charge
        await live.bank.pay(live.payment_of(paid["order_id"]))
        tokens = dict(sql("SELECT user_id, account_token FROM sbp_account_links"))
        live.bank.declined_accounts.add(tokens[users["declined"]])
        dead = next(x for x in live.bank.links.values() if x.account_token == tokens[users["dead"]])
        dead.status = "INACTIVE"  # switched off at the bank; its notice never reached us
        await live.bank.deactivate(tokens[users["unlinked"]])  # noticed: autopay off

        clock.now = datetime(2026, 4, 10, 9, 0)
        async with jobs_worker(temporal_env.client, live.settings, database_url, store) as jobs:
            result = await jobs.run("agronom.Autopay", clock.now)
        assert result.counts == {"due": 2, "charged": 0, "failed": 2}
        refusals = [
            x.answer.get("ErrorCode") for x in live.bank.exchanges if x.method == "ChargeQr"
        ]
        assert sorted(refusals) == ["0", "3015"], "REJECTED (answered), AccountToken status"
        assert sql("SELECT user_id, status::text FROM payments WHERE autopay ORDER BY user_id") == [
            (users["declined"], "fail")
        ], "the REJECTED charge's notification"
        events = sql("SELECT user_id, event FROM events WHERE event = 'autopay_fail' ORDER BY id")
        assert sorted(events) == sorted(
            [
                (users["unlinked"], "autopay_fail"),
                (users["declined"], "autopay_fail"),
                (users["dead"], "autopay_fail"),
            ]
        )
        state = dict(sql("SELECT id, autopay_enabled FROM users WHERE tg_id IN (62, 63, 64)"))
        assert state == {users["declined"]: True, users["dead"]: False, users["unlinked"]: False}
        assert (
            sql.one("SELECT status FROM sbp_account_links WHERE user_id = %s", users["dead"])
            == "INACTIVE"
        )
        expiry = sql.one("SELECT pro_expires_at FROM users WHERE id = %s", users["declined"])
        assert expiry == datetime(2026, 4, 10, 12, 0), "not prolonged"


async def test_a_charge_whose_answer_was_lost_is_not_recorded_as_failed(
    *, settings, database_url, store, clock, sql, temporal_env
) -> None:
    """ChargeQr went through at the bank but its answer never came back (a proxy's timeout):
    the job records no failure; the charge's notification prolongs PRO, as it would have."""
    async with stack.live(settings, database_url, store, clock) as live:
        started = await live.consent_and_pay(66)
        await live.bank.pay(live.payment_of(started["order_id"]))
        live.bank.lost_answers.add("ChargeQr")
        clock.now = datetime(2026, 4, 10, 9, 0)
        async with jobs_worker(temporal_env.client, live.settings, database_url, store) as jobs:
            result = await jobs.run("agronom.Autopay", clock.now)
        assert result.counts == {"due": 1, "charged": 0, "failed": 0, "unknown": 1}
        [charge] = live.bank.requests("ChargeQr")
        assert live.bank.payments[int(charge["PaymentId"])].history[-1] == "CONFIRMED"
        assert sql.one("SELECT pro_expires_at FROM users") == datetime(2026, 5, 10, 12, 0)
        assert sql("SELECT event FROM events WHERE event = 'autopay_fail'") == []
        assert sql.one("SELECT autopay_enabled FROM users") is True
        assert sql.one(
            "SELECT settled_at IS NOT NULL FROM payment_attempts WHERE payment_id = %s",
            charge["PaymentId"],
        ), "settled by its notification: the reconcile job has nothing to ask"
