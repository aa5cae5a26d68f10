"""PRO for Telegram Stars through the fake Telegram: the /pro link is a 30-day XTR
subscription, the pre-checkout is answered in time, a payment gives PRO once, a renewal
prolongs it, and a refund takes it back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest
from sqlalchemy.ext.asyncio import async_sessionmaker

from agronom.bot import handlers, reconcile, runner
from agronom.bot.backend import AgronomClient
from agronom.exports import service as exports
from agronom.store import db
from agrosim.server import free_port

from ..conftest import BOT_SECRET  # noqa: TID252 - tests are no package
from .conftest import SUBSCRIPTION_PERIOD, Bench, Chat, message  # noqa: TID252 - no package

NOW = datetime(2026, 3, 10, 12, 0, 0)  # the clock fixture's
MONTH = timedelta(seconds=SUBSCRIPTION_PERIOD)


def _buttons(reply: dict) -> dict[str, dict]:
    return {b["text"]: b for row in reply["reply_markup"]["inline_keyboard"] for b in row}


async def _link(chat: Chat) -> str:
    """The Stars button's link of the bot's /pro answer."""
    await chat.say("/pro")
    return str(_buttons(chat.telegram.sent()[-1])["Оплатить 150 ⭐"]["url"])


async def _limits(bench: Bench, tg_id: int) -> dict:
    return await bench.dp["api"].limits(tg_id)


async def test_pro_offers_a_stars_subscription_beside_sbp(bench: Bench, tbank_server: str) -> None:
    link = await _link(bench.chat(7001))
    reply = bench.telegram.sent()[-1]
    assert {"Оплатить через СБП", "Оплатить 150 ⭐"} <= set(_buttons(reply))
    assert "150 ⭐" in reply["text"] and "199 ₽" in reply["text"]
    invoice = bench.telegram.invoices[link]
    assert invoice["currency"] == "XTR"
    assert invoice["prices"] == [{"label": "PRO", "amount": 150}]
    assert invoice["subscription_period"] == str(SUBSCRIPTION_PERIOD)
    assert invoice["payload"].startswith("ps:u")
    assert "provider_token" not in invoice, "Stars need none"


async def test_a_stars_purchase_gives_pro_once(bench: Bench, sql) -> None:
    chat = bench.chat(7002)
    link = await _link(chat)
    charge = await chat.pay(link)
    assert charge is not None
    assert bench.telegram.answers()[-1] == {"pre_checkout_query_id": "pcq-2", "ok": "true"}
    thanks = "Спасибо! Оплата 150 ⭐ получена, PRO до 2026-04-09."
    assert bench.telegram.sent()[-1]["text"] == thanks
    limits = await _limits(bench, 7002)
    assert limits["plan"] == "pro"
    assert limits["pro_expires_at"].startswith("2026-04-09T12:00")
    assert limits["autopay_enabled"] is False, "Stars renewals are Telegram's, not our autopay"
    row = (150, "XTR", "success", "TelegramStars", charge, False, None, 1)
    payments = "SELECT amount, currency, status::text, provider, external_id, autopay, "
    payments += "autopay_binding_id, prolong_months FROM payments"
    assert sql(payments) == [row]

    # Telegram (or our webhook) delivers the same message again: nothing changes.
    replies = len(bench.telegram.sent())
    paid = bench.telegram.charge(7002, link)
    paid["successful_payment"]["telegram_payment_charge_id"] = charge
    await bench.feed(message=paid)
    assert sql(payments) == [row]
    assert (await _limits(bench, 7002))["pro_expires_at"] == limits["pro_expires_at"]
    assert len(bench.telegram.sent()) == replies, "no second thank-you, and no hint"


async def test_a_renewal_prolongs_and_a_refund_takes_back_what_its_charge_gave(
    bench: Bench, sql
) -> None:
    chat = bench.chat(7003)
    link = await _link(chat)
    first = await chat.pay(link)
    assert first is not None
    renewal = await chat.renew(link, first)
    expires = sql.one("SELECT pro_expires_at FROM users WHERE tg_id = 7003")
    assert expires == NOW + 2 * MONTH
    assert sql("SELECT external_id, autopay FROM payments ORDER BY id") == [
        (first, False),
        (renewal, True),
    ]

    # Support refunds the renewal with the bot's token; Telegram tells the bot.
    assert await bench.bot.refund_star_payment(user_id=7003, telegram_payment_charge_id=renewal)
    assert await bench.deliver() == 1
    assert sql.one("SELECT pro_expires_at FROM users WHERE tg_id = 7003") == NOW + MONTH
    assert bench.telegram.sent()[-1]["text"] == "Возврат 150 ⭐ оформлен. PRO до 2026-04-09."
    cancels = "SELECT external_id, amount, currency FROM payments WHERE status = 'cancel'"
    assert sql(cancels) == [(renewal, 150, "XTR")]
    assert sql.one("SELECT count(*) FROM events WHERE event = 'stars_refund'") == 1

    # A second refund is refused by Telegram; a replayed refund message changes nothing.
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bench.bot.refund_star_payment(user_id=7003, telegram_payment_charge_id=renewal)
    refunded = {
        "currency": "XTR",
        "total_amount": 150,
        "invoice_payload": bench.telegram.invoices[link]["payload"],
        "telegram_payment_charge_id": renewal,
    }
    replies = len(bench.telegram.sent())
    await bench.feed(message=message(7003, 99, refunded_payment=refunded))
    assert sql(cancels) == [(renewal, 150, "XTR")]
    assert len(bench.telegram.sent()) == replies

    # Refunding the first charge too ends PRO now.
    assert await bench.bot.refund_star_payment(user_id=7003, telegram_payment_charge_id=first)
    await bench.deliver()
    assert (await _limits(bench, 7003))["plan"] == "free"


async def test_the_pre_checkout_refuses_another_users_invoice(bench: Bench, sql) -> None:
    link = await _link(bench.chat(7004))
    assert await bench.chat(7005).pay(link) is None
    answer = bench.telegram.answers()[-1]
    assert answer["ok"] == "false"
    assert answer["error_message"] == handlers.CHECKOUT_REFUSED["foreign"]
    assert sql("SELECT * FROM payments") == []


async def test_the_pre_checkout_says_no_in_time_when_the_api_is_down(bench: Bench, sql) -> None:
    link = await _link(bench.chat(7006))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as dead:
        down = Bench(
            runner.dispatcher(AgronomClient(dead, secret=BOT_SECRET)),
            bench.bot,
            bench.telegram,
            dead,
        )
        assert await down.chat(7006).pay(link) is None
    answer = bench.telegram.answers()[-1]
    assert answer["ok"] == "false"
    assert answer["error_message"] == handlers.CHECKOUT_FAILED
    assert sql("SELECT * FROM payments") == []


async def test_paysupport_and_terms_answer(bench: Bench) -> None:
    chat = bench.chat(7007)
    assert await chat.say("/paysupport") == handlers.PAYSUPPORT
    assert await chat.say("/terms") == handlers.TERMS


async def test_the_daily_export_counts_stars_apart_from_roubles(
    bench: Bench, sql, database_url: str, store
) -> None:
    chat = bench.chat(7008)
    assert await chat.pay(await _link(chat)) is not None
    sql(
        "INSERT INTO payments (amount, currency, status, provider, external_id, created_at) "
        "VALUES (19900, 'RUB', 'success', 'SBP:Tinkoff', 'tb-1', %s) RETURNING id",
        NOW,
    )
    engine = db.async_engine(database_url)
    try:
        async with async_sessionmaker(engine).begin() as session:
            await exports.export_day(session, store, NOW.date(), secret="s")
    finally:
        await engine.dispose()
    written = await store.get(f"exports/daily/{NOW.date()}/metrics.csv")
    metrics = {k: int(v) for k, v in csv.reader(io.StringIO(written.decode())) if v.isdigit()}
    assert metrics["revenue_kopeks"] == 19900
    assert metrics["revenue_stars"] == 150
    assert metrics["payments_success"] == 2


async def test_payments_whose_messages_were_lost_are_read_back_from_telegrams_ledger(
    bench: Bench, sql
) -> None:
    """The bot was down: Telegram took the Stars but the successful_payment message never
    reached the API, and later a refund's message neither. Reading the bot's Star transactions
    records each once; a second run finds nothing new."""
    chat = bench.chat(7010)
    link = await _link(chat)
    query = bench.telegram.checkout(7010, link)
    await bench.feed(pre_checkout_query=query)
    lost = bench.telegram.charge(7010, link)  # the message is never fed to the bot
    charge = lost["successful_payment"]["telegram_payment_charge_id"]
    kept = await bench.chat(7011).pay(await _link(bench.chat(7011)))  # delivered as usual
    assert sql("SELECT external_id FROM payments") == [(kept,)]

    stars = reconcile.StarsLedger(bench.bot, bench.dp["api"])
    first = await stars.reconcile()
    assert first == {"recorded": 1, "known": 1}
    assert sql("SELECT external_id, status::text, currency FROM payments ORDER BY id") == [
        (kept, "success", "XTR"),
        (charge, "success", "XTR"),
    ]
    assert (await _limits(bench, 7010))["plan"] == "pro"

    # Support refunds it while the bot is down: the refund's message is lost too.
    assert await bench.bot.refund_star_payment(user_id=7010, telegram_payment_charge_id=charge)
    bench.telegram.pending.clear()
    assert await stars.reconcile() == {"recorded": 1, "known": 2}
    assert (await _limits(bench, 7010))["plan"] == "free"
    assert sql("SELECT count(*) FROM payments WHERE status = 'cancel'") == [(1,)]
    assert stars.start == 0, "the window still starts at the first transaction"
    # Outside the window nothing is read again.
    later = datetime.now(UTC) + reconcile.WINDOW + timedelta(minutes=1)
    assert await stars.reconcile(now=later) == {}
    assert stars.start == len(bench.telegram.ledger)
