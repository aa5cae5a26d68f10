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
import time
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
    demo = settings.model_copy(
        update={
            "free_photos_per_month": 3,
            "openai_api_key": _secret("demo-key"),
            "diagnosis_timeout_s": 5.0,
            "tbank_terminal_key": bank.terminal_key,
            "tbank_password": _secret(bank.password),
            "tbank_notification_url": f"http://127.0.0.1:{api_port}/v1/payments/sbp/webhook",
            "storage_backend": "local",
            "storage_dir": folder / "objects",
        }
    )
    store = storage.LocalStore(demo.storage_dir)
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
        store: storage.LocalStore,
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

    def headers(self) -> dict[str, str]:
        secret = self.settings.bot_api_secret.get_secret_value()
        return {auth.HEADER: auth.sign(self.tg_id, secret=secret, now=time.time())}

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()

    async def photo(self, image: bytes) -> httpx.Response:
        return await self.http.post(
            "/v1/ai/diagnose",
            headers=self.headers(),
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

    async def run(self, client: Any, queue: str) -> None:
        s = self.script
        limits = (await self.http.get("/v1/limits", headers=self.headers())).json()
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

        pro = (
            await self.http.post(
                "/v1/payments/sbp/pro", headers=self.headers(), json={"months": 1, "autopay": True}
            )
        ).json()
        payment_id = int(pro["payment_url"].rsplit("/", 1)[1])
        answers = await self.bank.pay(payment_id)
        replay = await self.http.post(
            "/v1/payments/sbp/webhook",
            json=self.bank.notification(self.bank.payments[payment_id], "CONFIRMED"),
        )
        limits = (await self.http.get("/v1/limits", headers=self.headers())).json()
        payments = self.sql("SELECT status::text FROM payments WHERE user_id = %s", user_id)
        s.step(
            "PRO by SBP",
            answers == ["OK", "OK"]
            and replay.text == "OK"
            and payments == [("success",)]
            and limits["plan"] == "pro"
            and limits["autopay_enabled"],
            f"order {pro['order_id']} {pro['amount']} kop.; T-Bank notified {answers}, replay "
            f"{replay.text}; payments {payments}; PRO until {limits['pro_expires_at']}",
        )
        fifth = await self.photo(photos.leaf(seed=7))
        s.step(
            "PRO quota",
            fifth.status_code == 200,
            f"photo {fifth.status_code}, {fifth.json().get('usage')}",
        )

        await self.http.put("/v1/ml/consent", headers=self.headers(), json={"enabled": True})
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

        cancel = await self.http.post("/v1/payments/sbp/autopay/cancel", headers=self.headers())
        s.step(
            "autopay cancel",
            cancel.json() == {"autopay_enabled": False, "changed": True},
            str(cancel.json()),
        )

        deleted = (
            await self.http.post("/v1/dsr/delete_user", headers=self.headers(), json={})
        ).json()
        left = {
            table: self.sql(f"SELECT count(*) FROM {table} WHERE user_id = %s", user_id)[0][0]  # noqa: S608
            for table in ("photos", "photo_usage", "events", "partner_orders")
        }
        objects = [o.key for o in await self.store.list("") if ref in o.key]
        kept = self.sql(
            "SELECT count(*) FROM payments WHERE external_id = %s AND user_id IS NULL",
            str(payment_id),
        )[0][0]
        s.step(
            "DSR delete",
            deleted["found"] and not any(left.values()) and not objects and kept == 1,
            f"{deleted}; rows left {left}; objects left {len(objects)}; "
            f"payment kept pseudonymised: {kept == 1}",
        )
