"""The API's contract: docs/trendflow-api.md is the OpenAPI document rendered, and schemathesis
finds no server error and no schema violation against the live API on real PostgreSQL and
Temporal. No worker: the jobs schemathesis posts (texts of up to 500 x 20,000 characters) would
cost minutes to run, and running jobs is test_jobs.py's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from devstack.processes import free_port
from devstack.pytest_plugin import DatabaseTemplates
from trendflow.service import docs
from trendflow.service.app import create_app
from trendflow.settings import Settings

from ..conftest import Env  # noqa: TID252 - the package's shared fixtures

ROOT = Path(__file__).resolve().parents[4]


def test_the_api_page_matches_the_openapi_document() -> None:
    written = (ROOT / "docs" / "trendflow-api.md").read_text(encoding="utf-8")
    expected = docs.render(docs.spec()).rstrip() + "\n"
    assert written == expected, (
        "docs/trendflow-api.md is stale: "
        "uv run python -m trendflow.service.docs > docs/trendflow-api.md"
    )


@pytest.fixture
def live_api(
    tmp_path: Path,
    database_templates: DatabaseTemplates,
    jobs_template: str,
    temporal_env: WorkflowEnvironment,
    env: Env,
    *,
    ladder_model: Path,
) -> Iterator[str]:
    """The API (no worker, a prediction model) served by uvicorn on loopback, in this process."""
    settings = Settings(
        models_dir=env.models_dir,
        model_download=False,
        config=env.config,
        data_dir=tmp_path,
        prediction_model=ladder_model,
    )
    address = temporal_env.client.service_client.config.target_host
    with database_templates.clone(jobs_template) as url:
        app = create_app(settings, database_url=url, temporal_address=address)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_schemathesis_finds_no_server_error_or_schema_violation(live_api: str) -> None:
    assert httpx.get(f"{live_api}/health", timeout=10).status_code == 200
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    run = subprocess.run(
        [
            st,
            "run",
            f"{live_api}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
