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
from devstack.settings import SettingsError

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
    assert summary["ok"] is True and summary["failed"] == [] and summary["steps"] == 16
    for step in ("diagnosis", "EXIF stripped", "free quota", "PRO by SBP", "DSR delete"):
        assert step in result.stdout
    assert not (tmp_path / "stack").exists(), "configured servers: nothing embedded started"


BOT_ONLY = {
    "APP_ENV": "production",
    "BOT_API_SECRET": "b" * 32,
    "API_BASE_URL": "http://127.0.0.1:1",
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "TELEGRAM_API_BASE": "http://127.0.0.1:1",
    "TELEGRAM_WEBHOOK_SECRET": "w" * 32,
}


def test_production_refuses_to_poll_telegram(base_env, tmp_path) -> None:
    """The bot's own keys, and nothing else (no database, no bank, no model), pass the
    settings check; without TELEGRAM_WEBHOOK_URL it stops before any request."""
    result = agronom("bot", env={**base_env, **BOT_ONLY}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "TELEGRAM_WEBHOOK_URL" in result.stderr and "long polling" in result.stderr


def test_each_process_requires_only_its_own_secrets(base_env, tmp_path) -> None:
    env = {**base_env, **BOT_ONLY, "TELEGRAM_WEBHOOK_URL": "https://bot.example/hook"}
    api = agronom("api", env=env, cwd=tmp_path)
    assert api.returncode == 2
    for needed in ("DB_HOST", "TBANK_PASSWORD", "OPENAI_API_KEY", "PARTNER_HMAC_SECRET"):
        assert needed in api.stderr
    for foreign in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        assert foreign not in api.stderr, "the API never reads the bot's token"
    worker = agronom("worker", env=env, cwd=tmp_path)
    assert worker.returncode == 2
    assert "TBANK_PASSWORD" in worker.stderr and "TEMPORAL_ADDRESS" in worker.stderr
    for foreign in ("OPENAI_API_KEY", "PARTNER_HMAC_SECRET", "BOT_API_SECRET", "API_KEYS"):
        assert foreign not in worker.stderr, f"the worker never reads {foreign}"
    keys = {k.lower(): v for k, v in {**BOT_ONLY, "TELEGRAM_WEBHOOK_URL": "https://b/h"}.items()}
    assert Settings.load(process="bot", **keys).telegram_webhook_url == "https://b/h"
    with pytest.raises(SettingsError, match="DB_HOST"):
        Settings.load(process="api", **keys)
