"""The agronom console script: version, the production settings rule, and the demo round trip
on configured servers (the session's PostgreSQL and Temporal)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from agronom.settings import Settings
from devstack.pytest_plugin import environ_without

SCRIPT = Path(sys.executable).parent / "agronom"


def agronom(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment minus every key agronom reads."""
    return environ_without(Settings, tmp_path / "stack")


def test_console_script_reports_the_installed_version(base_env, tmp_path) -> None:
    result = agronom("--version", env=base_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agronom {}".format(version("agronom"))


def test_production_without_keys_stops_with_one_line(base_env, tmp_path) -> None:
    result = agronom("config", env={**base_env, "APP_ENV": "production"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for key in ("DB_HOST", "TEMPORAL_ADDRESS", "OPENAI_API_KEY", "TBANK_PASSWORD", "S3_BUCKET"):
        assert key in lines[0]
    assert "FREE_PHOTOS_PER_MONTH" not in lines[0], "product knobs keep their defaults"


def test_demo_round_trip_on_configured_servers(
    base_env, tmp_path, database_url, temporal_env: WorkflowEnvironment
) -> None:
    env = {
        **base_env,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
    }
    result = agronom("demo", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True and summary["failed"] == [] and summary["steps"] == 13
    for step in ("diagnosis", "EXIF stripped", "free quota", "PRO by SBP", "DSR delete"):
        assert step in result.stdout
    assert not (tmp_path / "stack").exists(), "configured servers: nothing embedded started"


def test_production_refuses_to_poll_telegram(base_env, tmp_path) -> None:
    """Every production key set but TELEGRAM_WEBHOOK_URL: the bot stops before any request."""
    production = {
        "APP_ENV": "production",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "1",
        "DB_USERNAME": "agronom",
        "DB_PASSWORD": "x",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
        "OPENAI_API_KEY": "k",
        "OPENAI_MODEL": "m",
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": "b",
        "S3_ACCESS_KEY_ID": "a",
        "S3_SECRET_ACCESS_KEY": "s",
        "BOT_API_SECRET": "b" * 32,
        "PSEUDONYM_SECRET": "p" * 32,
        "PARTNER_HMAC_SECRET": "h" * 32,
        "API_KEYS": "op-key",
        "TBANK_TERMINAL_KEY": "t",
        "TBANK_PASSWORD": "pw",
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_WEBHOOK_SECRET": "w" * 32,
    }
    result = agronom("bot", env={**base_env, **production}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "TELEGRAM_WEBHOOK_URL" in result.stderr and "long polling" in result.stderr
