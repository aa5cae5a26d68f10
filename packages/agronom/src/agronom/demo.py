"""``agronom demo``: a scripted round trip through the real stack, printing what happened.

Real parts: PostgreSQL and Temporal (embedded unless configured), the API under uvicorn on
loopback, the local OpenAI-compatible vision server, the T-Bank simulator sending signed
notifications, a local object store. The script plays the bot (signed user header) and checks
each step's effect in the database and the store.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from PIL import Image
from rich.console import Console
from rich.table import Table

from agronom import auth
from agronom.api.app import create_app
from agronom.jobs.models import JobInput, JobResult
from agronom.jobs.worker import running_worker
from agronom.settings import Settings
from agronom.store import db
from agronom.store import objects as storage
from agronom.users import service as users
from agrosim import photos
from agrosim.server import ThreadedServer, free_port
from agrosim.tbank import TBankSim
from agrosim.vision import VisionSim


class Script:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.steps: list[tuple[str, bool, str]] = []

    def step(self, name: str, ok: bool, detail: str) -> None:
        self.steps.append((name, ok, detail))
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(f"{mark} [bold]{name}[/]: {detail}", highlight=False)


async def run_demo(
    settings: Settings, database_url: str, temporal_address: str, console: Console
) -> dict[str, Any]:
    from temporalio.client import Client  # noqa: PLC0415

    db.upgrade(database_url)
    folder = Path(tempfile.mkdtemp(prefix="agronom-demo-"))
    vision = VisionSim(api_key="demo-key")
    api_port = free_port()
    bank = TBankSim(terminal_key="AgronomDEMO", password=secrets.token_hex(8))
    # The terminal's notification URL (T-Bank's settings): link notices always go there.
    bank.notification_url = f"http://127.0.0.1:{api_port}/v1/payments/sbp/webhook"
    demo = settings.model_copy(
        update={
            "free_photos_per_month": 3,
            "openai_api_key": _secret("demo-key"),
            "diagnosis_timeout_s": 5.0,
            "tbank_terminal_key": bank.terminal_key,
            "tbank_password": _secret(bank.password),
            "tbank_notification_url": f"http://127.0.0.1:{api_port}/v1/payments/sbp/webhook",
            "tbank_autopay_notification_url": (
                f"http://127.0.0.1:{api_port}/v1/payments/sbp/autopay/webhook"
            ),
            "storage_backend": "local",
            "storage_dir": folder / "objects",
        }
    )
    store = storage.local(demo.storage_dir)
    script = Script(console)
    tg_id = 10**9 + secrets.randbelow(10**9)  # a fresh user every run
    with ThreadedServer(vision.app()) as vision_server, ThreadedServer(bank.app()) as bank_server:
        bank.base_url = bank_server.url
        demo = demo.model_copy(
            update={
                "openai_base_url": f"{vision_server.url}/v1",
                "tbank_api_base": f"{bank_server.url}/v2",
            }
        )
        app = create_app(demo, database_url=database_url, store=store)
        with ThreadedServer(app, port=api_port) as api_server:
            console.print(
                f"API {api_server.url} · vision model {vision_server.url} · "
                f"T-Bank simulator {bank_server.url} · objects in {folder}",
                highlight=False,
            )
            client = await Client.connect(temporal_address, namespace=demo.temporal_namespace)
            queue = f"agronom-demo-{uuid.uuid4().hex[:8]}"
            async with (
                running_worker(
                    demo, database_url=database_url, client=client, store=store, task_queue=queue
                ),
                httpx.AsyncClient(base_url=api_server.url, timeout=30) as http,
            ):
                context = _Context(
                    http=http,
                    settings=demo,
                    database_url=database_url,
                    store=store,
                    tg_id=tg_id,
                    script=script,
                    vision=vision,
                    bank=bank,
                )
                await context.run(client, queue)
    summary = {
        "ok": all(ok for _, ok, _ in script.steps),
        "steps": len(script.steps),
        "failed": [name for name, ok, _ in script.steps if not ok],
        "tg_id": tg_id,
    }
    table = Table(title="Pocket Agronomist demo")
    table.add_column("step")
    table.add_column("result")
    for name, ok, _ in script.steps:
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAILED[/]")
    console.print(table)
    return summary


def _secret(value: str) -> Any:
    from pydantic import SecretStr  # noqa: PLC0415

    return SecretStr(value)


class _Context:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        settings: Settings,
        database_url: str,
        store: storage.ObjectStore,
        tg_id: int,
        script: Script,
        vision: VisionSim,
        bank: TBankSim,
    ) -> None:
        self.http = http
        self.settings = settings
        self.database_url = database_url
        self.store = store
        self.tg_id = tg_id
        self.script = script
        self.vision = vision
        self.bank = bank
        self.first_payment = 0  # T-Bank's PaymentId of the first PRO payment

    def signed(self) -> auth.BotAuth:
        """Signs each request as the bot does (method, path, body, time, a fresh nonce)."""
        return auth.BotAuth(self.tg_id, secret=self.settings.bot_api_secret.get_secret_value())

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()

    async def photo(self, image: bytes) -> httpx.Response:
        return await self.http.post(
            "/v1/ai/diagnose",
            auth=self.signed(),
            files={"image": ("leaf.jpg", image, "image/jpeg")},
            data={"file_id": f"demo-{uuid.uuid4().hex[:6]}"},
        )

    async def job(self, client: Any, queue: str, workflow: str, as_of: datetime) -> JobResult:
        result: JobResult = await client.execute_workflow(
            workflow,
            JobInput(as_of.isoformat()),
            id=f"demo-{workflow}-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            result_type=JobResult,
        )
        return result

    async def pro_by_sbp(self, client: Any, queue: str, user_id: int) -> None:
        """T-Bank as documented: autopay refused without consent; with it, one SBP
        confirmation pays and links the account (Init recurrent + GetQr; payment, receipt and
        LINKACCOUNT notifications); the autopay job charges the link (Init + ChargeQr); an
        operator's refund takes that month back."""
        s, url = self.script, "/v1/payments/sbp/pro"
        refused = await self.http.post(url, auth=self.signed(), json={"autopay": True})
        shown = (await self.http.post(url, auth=self.signed(), json={})).json()
        consent = {
            "autopay": True,
            "autopay_consent": True,
            "autopay_terms_version": shown["autopay_terms_version"],
        }
        pro = (await self.http.post(url, auth=self.signed(), json=consent)).json()
        s.step(
            "autopay consent",
            refused.status_code == 400 and pro.get("mode") == "pay_and_link",
            f"without consent {refused.status_code}; terms {shown['autopay_terms_version']}: "
            f"{shown['autopay_terms']}; with it {pro.get('mode')} at {pro.get('payment_url')}",
        )
        payment_id = next(
            p.payment_id for p in self.bank.payments.values() if p.order_id == pro["order_id"]
        )
        self.first_payment = payment_id
        answers = await self.bank.pay(payment_id)
        replay = await self.http.post(
            "/v1/payments/sbp/webhook",
            json=self.bank.notification(self.bank.payments[payment_id], "CONFIRMED"),
        )
        limits = (await self.http.get("/v1/limits", auth=self.signed())).json()
        payments = self.sql("SELECT status::text FROM payments WHERE user_id = %s", user_id)
        link = self.sql("SELECT status FROM sbp_account_links WHERE user_id = %s", user_id)
        s.step(
            "PRO by SBP, account linked",
            answers == ["OK"] * 4
            and replay.text == "OK"
            and payments == [("success",)]
            and link == [("ACTIVE",)]
            and limits["plan"] == "pro"
            and limits["autopay_enabled"],
            f"order {pro['order_id']} {pro['amount']} kop.; T-Bank notified {answers} "
            f"(payment, receipt, LINKACCOUNT), replay {replay.text}; payments {payments}; "
            f"link {link}; PRO until {limits['pro_expires_at']}",
        )
        expires = datetime.fromisoformat(limits["pro_expires_at"]).replace(tzinfo=None)
        charged = await self.job(client, queue, "agronom.Autopay", expires - timedelta(hours=3))
        after = (await self.http.get("/v1/limits", auth=self.signed())).json()
        charge_ids = [x.request["PaymentId"] for x in self.bank.exchanges if x.method == "ChargeQr"]
        s.step(
            "autopay charge",
            charged.counts == {"due": 1, "charged": 1, "failed": 0}
            and after["pro_expires_at"] > limits["pro_expires_at"],
            f"job {charged.counts}: Init recurrent + ChargeQr {charge_ids}; "
            f"PRO until {after['pro_expires_at']}",
        )
        key = self.settings.api_keys.get_secret_value().split(",")[0].strip()
        refund = await self.http.post(
            "/v1/payments/sbp/refund",
            headers={"X-API-Key": key},
            json={"payment_id": str(charge_ids[-1]) if charge_ids else "0"},
        )
        back = (await self.http.get("/v1/limits", auth=self.signed())).json()
        s.step(
            "refund",
            refund.status_code == 200 and back["pro_expires_at"] == limits["pro_expires_at"],
            f"{refund.json()}; PRO back to {back['pro_expires_at']}",
        )

    async def run(self, client: Any, queue: str) -> None:
        s = self.script
        limits = (await self.http.get("/v1/limits", auth=self.signed())).json()
        s.step("new user", limits["plan"] == "free", f"tg_id {self.tg_id}, {limits}")

        sick = await self.photo(photos.leaf(spots="brown", gps=True))
        body = sick.json()
        s.step(
            "diagnosis",
            sick.status_code == 200 and body.get("disease") == "late_blight",
            f"{body.get('crop')} / {body.get('disease')} ({body.get('confidence')}); "
            f"protocol: {body.get('protocol', {}).get('summary')}",
        )
        user_id = self.sql("SELECT id FROM users WHERE tg_id = %s", self.tg_id)[0][0]
        ref = users.ref(user_id, secret=self.settings.pseudonym_secret.get_secret_value())
        stored = await self.store.list(f"{storage.PHOTOS}{ref}/")
        exif = len(Image.open(io.BytesIO(await self.store.get(stored[0].key))).getexif())
        s.step(
            "EXIF stripped", len(stored) == 1 and exif == 0, f"stored photo has {exif} EXIF tags"
        )

        wall = await self.photo(photos.wall())
        s.step("no leaf", wall.status_code == 422, f"{wall.status_code} {wall.json()}")

        self.vision.faults.fail_next = 1
        retried = await self.photo(photos.leaf(spots="white"))
        row = self.sql(
            "SELECT status::text, retry_attempts FROM photos WHERE id = %s",
            retried.json().get("photo_id"),
        )
        s.step(
            "model retry",
            retried.status_code == 200 and retried.json()["retry_attempts"] == 1,
            f"503 once, then {retried.json().get('disease')}; photo row {row}",
        )

        third = await self.photo(photos.leaf(seed=5))
        fourth = await self.photo(photos.leaf(seed=6))
        s.step(
            "free quota",
            third.status_code == 200 and fourth.status_code == 429,
            f"3rd photo {third.status_code}, 4th {fourth.status_code} "
            f"{fourth.json().get('error_code')}",
        )

        await self.pro_by_sbp(client, queue, user_id)
        fifth = await self.photo(photos.leaf(seed=7))
        s.step(
            "PRO quota",
            fifth.status_code == 200,
            f"photo {fifth.status_code}, {fifth.json().get('usage')}",
        )

        await self.http.put("/v1/ml/consent", auth=self.signed(), json={"enabled": True})
        now = datetime.now(UTC).replace(tzinfo=None)
        dataset = await self.job(client, queue, "agronom.MlDataset", now)
        s.step("ML dataset", dataset.counts.get("copied", 0) >= 4, f"job {dataset.counts}")
        export = await self.job(client, queue, "agronom.MetricsExport", now + timedelta(days=1))
        s.step("metrics export", export.counts["active_users"] >= 1, f"job {export.counts}")
        first_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=5)
        reset = await self.job(client, queue, "agronom.QuotaReset", first_next)
        s.step(
            "quota reset", reset.counts["opened"] >= 1, f"job as of {first_next}: {reset.counts}"
        )

        cancel = await self.http.post("/v1/payments/sbp/autopay/cancel", auth=self.signed())
        s.step(
            "autopay cancel",
            cancel.json() == {"autopay_enabled": False, "changed": True},
            str(cancel.json()),
        )

        deleted = (await self.http.post("/v1/dsr/delete_user", auth=self.signed(), json={})).json()
        left = {
            table: self.sql(f"SELECT count(*) FROM {table} WHERE user_id = %s", user_id)[0][0]  # noqa: S608
            for table in ("photos", "photo_usage", "events", "partner_orders", "sbp_account_links")
        }
        objects = [o.key for o in await self.store.list("") if ref in o.key]
        kept = self.sql(
            "SELECT count(*) FROM payments WHERE external_id = %s AND user_id IS NULL",
            str(self.first_payment),
        )[0][0]
        s.step(
            "DSR delete",
            deleted["found"] and not any(left.values()) and not objects and kept == 1,
            f"{deleted}; rows left {left}; objects left {len(objects)}; "
            f"payment kept pseudonymised: {kept == 1}",
        )
