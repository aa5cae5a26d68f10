"""The API's contract: docs/API.md is the OpenAPI document rendered, and schemathesis finds no
server error and no schema violation against a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from smcore.api import docs
from smcore.api.app import create_app
from smcore.settings import Settings

ROOT = Path(__file__).resolve().parents[4]


def test_api_md_matches_the_openapi_document() -> None:
    written = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    expected = docs.render(docs.spec()).rstrip() + "\n"
    assert written == expected, (
        "docs/API.md is stale: uv run python -m smcore.api.docs > docs/API.md"
    )


@pytest.fixture
def live_api(database_url: str, temporal_env: WorkflowEnvironment) -> Iterator[str]:
    with psycopg.connect(database_url) as conn:
        for i, (name, bio) in enumerate([("Anna Petrova", "photo"), ("José García", "café")]):
            conn.execute(
                "INSERT INTO social_profiles (platform, ext_id, username, full_name, bio) "
                "VALUES ('instagram', %s, %s, %s, %s)",
                (str(i), f"user{i}", name, bio),
            )
    address = temporal_env.client.service_client.config.target_host
    app = create_app(
        Settings(api_keys="contract-key"),  # type: ignore[arg-type]
        database_url=database_url,
        temporal_address=address,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield url
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
            "--header",
            "X-API-Key: contract-key",
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
