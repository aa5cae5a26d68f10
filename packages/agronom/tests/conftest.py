"""Agronom's test fixtures: a migrated database per test on the session's real PostgreSQL, the
local OpenAI-compatible vision server, and the API served over its ASGI interface."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio

from agronom import auth
from agronom.api.app import create_app
from agronom.jobs.models import JobInput, JobResult
from agronom.jobs.worker import running_worker
from agronom.settings import Settings
from agronom.store import db
from agronom.store import objects as storage
from agrosim.server import ThreadedServer
from agrosim.vision import Faults, VisionSim
from devstack.pytest_plugin import DatabaseTemplates

BOT_SECRET = "test-bot-secret"
TBANK_PASSWORD = "test-tbank-password"
TERMINAL = "TestTerminalDEMO"
PARTNER_SECRET = "test-partner-secret"
ADMIN_KEY = "test-admin-key"
PSEUDONYM_SECRET = "test-pseudonym-secret"


@pytest.fixture(scope="session")
def agronom_template(database_templates: DatabaseTemplates) -> str:
    """A database with every migration applied, built once per session."""
    return database_templates.template("agronom", setup=db.upgrade)


@pytest.fixture
def database_url(database_templates: DatabaseTemplates, agronom_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    with database_templates.clone(agronom_template) as url:
        yield url


@pytest.fixture(scope="session")
def vision_server() -> Iterator[tuple[VisionSim, str]]:
    """The OpenAI-compatible vision server, real HTTP on loopback, for the whole session."""
    sim = VisionSim(api_key="test-openai-key")
    with ThreadedServer(sim.app()) as server:
        yield sim, server.url


@pytest.fixture
def vision(vision_server: tuple[VisionSim, str]) -> Iterator[VisionSim]:
    """The vision server with no faults armed (and none left armed after the test)."""
    sim = vision_server[0]
    sim.faults = Faults(slow_s=1.0)
    sim.on_request = None
    yield sim
    sim.faults = Faults()
    sim.on_request = None


@dataclass
class MovableClock:
    """Business time that tests move (naive UTC)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 3, 10, 12, 0, 0))


@pytest.fixture
def settings(vision_server: tuple[VisionSim, str], tmp_path: Path) -> Settings:
    return Settings(
        app_env="test",  # type: ignore[arg-type]
        openai_base_url=f"{vision_server[1]}/v1",
        openai_api_key="test-openai-key",  # type: ignore[arg-type]
        diagnosis_timeout_s=0.4,
        diagnosis_max_attempts=3,
        free_photos_per_month=3,
        pro_photos_per_month=50,
        bot_api_secret=BOT_SECRET,  # type: ignore[arg-type]
        tbank_terminal_key=TERMINAL,
        tbank_password=TBANK_PASSWORD,  # type: ignore[arg-type]
        partner_hmac_secret=PARTNER_SECRET,  # type: ignore[arg-type]
        pseudonym_secret=PSEUDONYM_SECRET,  # type: ignore[arg-type]
        api_keys=ADMIN_KEY,  # type: ignore[arg-type]
        storage_dir=tmp_path / "objects",
    )


def on_s3(settings: Settings, endpoint: str, bucket: str) -> Settings:
    """``settings`` with the object store on an S3 API server (moto on loopback in tests)."""
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "storage_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    )


@pytest.fixture
def store(settings: Settings) -> storage.ObjectStore:
    return storage.local(settings.storage_dir)


@pytest_asyncio.fixture
async def api(
    settings: Settings, database_url: str, store: storage.ObjectStore, clock: MovableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a fresh database, called through its ASGI interface."""
    app = create_app(settings, database_url=database_url, store=store, clock=clock)
    async with serving(app) as client:
        yield client


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` through its ASGI interface, its lifespan run around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


class Signer:
    """Signs requests for a Telegram user as the bot does: ``api.get(url, auth=sign(42))``
    signs that request's method, path and body with a fresh nonce (:class:`auth.BotAuth`)."""

    def __call__(
        self, tg_id: int, *, secret: str = BOT_SECRET, at: float | None = None
    ) -> auth.BotAuth:
        return auth.BotAuth(
            tg_id, secret=secret, wallclock=time.time if at is None else (lambda: at)
        )

    def header(
        self,
        tg_id: int,
        *,
        method: str,
        target: str,
        body: bytes = b"",
        secret: str = BOT_SECRET,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """One fixed header value, e.g. to replay it or to try it on another request."""
        value = auth.sign(
            tg_id,
            secret=secret,
            now=time.time(),
            method=method,
            target=target,
            body=body,
            nonce=nonce,
        )
        return {auth.HEADER: value}


@pytest.fixture
def sign() -> Signer:
    return Signer()


class Sql:
    """Plain SQL on the test's database: assertions read what is really stored."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]  # test SQL

    def one(self, query: str, *params: Any) -> Any:
        found = self(query, *params)
        assert len(found) == 1, found
        return found[0][0] if len(found[0]) == 1 else found[0]


@pytest.fixture
def sql(database_url: str) -> Sql:
    return Sql(database_url)


class Jobs:
    """Runs the scheduled jobs' workflows on a worker of their own task queue."""

    def __init__(self, client: Any, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def run(self, workflow: str, as_of: datetime) -> JobResult:
        result: JobResult = await self.client.execute_workflow(
            workflow,
            JobInput(as_of.isoformat()),
            id=f"test-{workflow}-{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue,
            result_type=JobResult,
        )
        return result


@asynccontextmanager
async def jobs_worker(
    client: Any, settings: Settings, database_url: str, store: storage.ObjectStore
) -> AsyncIterator[Jobs]:
    """The jobs worker (real Temporal) with these settings and store, for one test."""
    queue = f"agronom-test-{uuid.uuid4().hex[:8]}"
    async with running_worker(
        settings, database_url=database_url, client=client, store=store, task_queue=queue
    ):
        yield Jobs(client, queue)


@pytest_asyncio.fixture
async def jobs(
    temporal_env: Any, settings: Settings, database_url: str, store: storage.ObjectStore
) -> AsyncIterator[Jobs]:
    async with jobs_worker(temporal_env.client, settings, database_url, store) as running:
        yield running
