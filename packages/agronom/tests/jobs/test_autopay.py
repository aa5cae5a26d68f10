"""The autopay job: bound SBP accounts are charged before PRO ends, through the T-Bank
simulator, whose notifications reach the live API's autopay webhook."""

from __future__ import annotations

from datetime import datetime

from agronom.api.app import create_app
from agronom.jobs.models import JobResult
from agronom.payments import tbank
from agrosim.server import ThreadedServer
from agrosim.tbank import TBankSim

from ..conftest import TBANK_PASSWORD, TERMINAL, jobs_worker  # noqa: TID252


async def test_autopay_charges_due_users_once_and_records_success_and_failure(
    *, settings, database_url, store, clock, sign, sql, temporal_env
) -> None:
    bank = TBankSim(terminal_key=TERMINAL, password=TBANK_PASSWORD)
    bank.declined_accounts.add("sim-account-B")
    with ThreadedServer(bank.app()) as bank_server:
        api_app = create_app(settings, database_url=database_url, store=store, clock=clock)
        with ThreadedServer(api_app) as api_server:
            cfg = settings.model_copy(
                update={
                    "tbank_api_base": f"{bank_server.url}/v2",
                    "tbank_autopay_notification_url": (
                        f"{api_server.url}/v1/payments/sbp/autopay/webhook"
                    ),
                }
            )
            import httpx  # noqa: PLC0415

            async with httpx.AsyncClient(base_url=api_server.url) as api:
                ids = {}
                for name, tg_id, account in (
                    ("A", 61, "sim-account-A"),
                    ("B", 62, "sim-account-B"),
                    ("C", 63, None),
                ):
                    await api.get("/v1/limits", headers=sign(tg_id))
                    ids[name] = sql.one("SELECT id FROM users WHERE tg_id = %s", tg_id)
                    body = {
                        "TerminalKey": TERMINAL,
                        "OrderId": f"u{ids[name]}-m1-first",
                        "Success": True,
                        "Status": "CONFIRMED",
                        "PaymentId": 500 + tg_id,
                        "Amount": 19900,
                    }
                    if account:
                        body["AccountToken"] = account
                    body["Token"] = tbank.token(body, TBANK_PASSWORD)
                    assert (await api.post("/v1/payments/sbp/webhook", json=body)).text == "OK"

            clock.now = datetime(2026, 4, 10, 0, 0)  # PRO ends at 12:00 today
            async with jobs_worker(temporal_env.client, cfg, database_url, store) as jobs:

                async def run() -> JobResult:
                    return await jobs.run("agronom.Autopay", clock.now)

                first = await run()
                again = await run()
    assert first.counts == {"due": 2, "charged": 2, "failed": 0}, "C has no binding"
    assert again.counts == {"due": 0, "charged": 0, "failed": 0}, "once a day"
    expiry = dict(sql("SELECT id, pro_expires_at FROM users"))
    assert expiry[ids["A"]] == datetime(2026, 5, 10, 12, 0), "A prolonged by a month"
    assert expiry[ids["B"]] == datetime(2026, 4, 10, 12, 0), "B declined: unchanged"
    charges = sql(
        "SELECT user_id, status::text, autopay, amount FROM payments WHERE autopay ORDER BY user_id"
    )
    assert charges == [(ids["A"], "success", True, 19900), (ids["B"], "fail", True, 19900)]
    events = sql("SELECT user_id, event FROM events WHERE event LIKE 'autopay%%' ORDER BY id")
    assert (ids["B"], "autopay_fail") in events
    assert [e for e in events if e[1] == "autopay_charge"] == [
        (ids["A"], "autopay_charge"),
        (ids["B"], "autopay_charge"),
    ]
