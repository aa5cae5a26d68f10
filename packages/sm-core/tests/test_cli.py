"""`sm-core` start-up: the settings rule; `demo` on configured or embedded servers."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from devstack import Stack
from devstack.processes import free_port
from devstack.pytest_plugin import environ_without
from smcore.settings import Settings

SM_CORE = [sys.executable, "-m", "smcore"]


def sm_core(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SM_CORE, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment minus every key SM Core reads."""
    return environ_without(Settings, tmp_path / "stack")


def test_production_without_keys_stops_with_one_line(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    result = sm_core("config", env={**base_env, "APP_ENV": "production"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for key in (
        "DB_HOST",
        "TEMPORAL_ADDRESS",
        "ROCKET_API_KEY",
        "RAPID_API_KEY",
        "RAPID_SCRAPER_API_HOST",
        "YOUTUBE_API_KEY",
        "TIKAPI23_API_KEY",
        "TIKWM_API_HOST",
    ):
        assert key in lines[0]


def test_production_with_every_key_starts_and_masks_secrets(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **base_env,
        "APP_ENV": "production",
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "DB_USERNAME": "sm",
        "DB_PASSWORD": "pw-secret",
        "TEMPORAL_ADDRESS": "temporal.internal:7233",
        "ROCKET_API_KEY": "rk-secret",
        "ROCKET_API_HOST": "rocket.example",
        "RAPID_API_KEY": "rp-secret",
        "RAPID_SCRAPER_API_HOST": "scraper.example",
        "YOUTUBE_API_KEY": "yt-secret",
        "TIKAPI23_API_KEY": "tt-secret",
        "TIKAPI23_API_HOST": "tiktok-api23.example",
        "TIKWM_API_KEY": "tw-secret",
        "TIKWM_API_HOST": "tiktok-scraper7.example",
        "API_KEYS": "api-secret",
    }
    result = sm_core("config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DB_HOST=db.internal" in result.stdout
    assert "secret" not in result.stdout


def test_demo_on_configured_servers_starts_nothing_embedded_and_serves_the_dashboard(
    base_env: dict[str, str],
    tmp_path: Path,
    database_url: str,
    temporal_env: WorkflowEnvironment,
    trendflow_models: Path,
) -> None:
    address = temporal_env.client.service_client.config.target_host
    env = {
        **base_env,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": address,
        # The analysis service's detectors, installed as a user would (no download here).
        "TRENDFLOW_MODELS_DIR": str(trendflow_models),
        "TRENDFLOW_MODEL_DOWNLOAD": "false",
        "COLUMNS": "200",
    }
    port = free_port()  # handed to the demo
    world = ["--profiles", "3", "--channels", "1", "--tiktok-accounts", "1", "--seed", "4"]
    demo = subprocess.Popen(
        [*SM_CORE, "demo", *world, "--json", "--serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # --serve: once the world is synced and checked, the dashboard serves its data.
        assert demo.stderr is not None
        said = ""
        for line in demo.stderr:
            said += line
            if "Dashboard: " in line:
                break
        found = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+/).* with the key (\S+)", said)
        assert found and found.group(1) == f"http://127.0.0.1:{port}/", said[-3000:]
        url, key = found.groups()
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "user_0001" in page.text, "the demo's profiles are listed"
        signed = httpx.post(f"{url}login", data={"key": key, "next": "/syncs"})
        assert signed.status_code == 303 and "smcore_session" in signed.cookies
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["verified"] is True, summary["problems"]
    assert summary["sim"] == {"seed": 4, "profiles": 3}
    assert summary["profiles"] >= 4 and summary["followers"] > 0 and summary["comments"] > 0
    assert summary["statuses"].get("partial") == 1, "tt_giant's followers stop at the cap"
    # The enrichments of its sampled media and its captions equal what socialsim put in them
    # (a mismatch is a problem above, so here: that every kind of check ran).
    enriched = summary["enrichments"]
    for check in ("faces", "words on screen", "caption languages", "caption mentions"):
        assert enriched[check]["of"] > 0 and enriched[check]["matched"] == enriched[check]["of"]
    # Nothing embedded started (the data folder holds only the demo's media and analysis runs).
    data_dir = Path(base_env["DEVSTACK_DATA_DIR"])
    assert not (data_dir / "stack.json").exists(), "nothing embedded started"
    assert not (data_dir / "postgres").exists() and not (data_dir / "temporal").exists()


def test_demo_without_configuration_runs_on_the_embedded_stack_and_leaves_it_up(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    stack = Stack(Path(base_env["DEVSTACK_DATA_DIR"]))
    try:
        result = sm_core(
            "demo",
            # The embedded stack's life is what this checks (the demo's every platform is
            # checked on configured servers above): one Instagram profile, nothing else.
            "--profiles",
            "1",
            "--channels",
            "0",
            "--tiktok-accounts",
            "0",
            "--no-analysis",
            "--json",
            env=base_env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["verified"] is True, summary["problems"]
        assert summary["enrichments"] is None, "--no-analysis: no analysis service"
        status = stack.status()
        assert status.postgres.running and status.temporal.running, "left up with the data"
    finally:
        stack.down()
