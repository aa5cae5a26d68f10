"""The SECRETS_MANAGER rule: defaults in development/test, every key required in production."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import psycopg
import pytest
from pydantic import Field, SecretStr

from devstack import Stack
from devstack.errors import SettingsError
from devstack.settings import StackSettings, endpoints


class AppSettings(StackSettings):
    db_name_prefix: ClassVar[str] = "demo_app"
    partner_key: SecretStr = Field(SecretStr(""), description="a secret an app adds")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for field in AppSettings.model_fields:
        monkeypatch.delenv(AppSettings.key(field), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_development_has_a_default_for_every_key() -> None:
    settings = AppSettings.load()
    assert settings.app_env == "development"
    assert settings.configured_database_url() is None, "no DB_HOST: the embedded server is meant"
    assert settings.temporal_address is None
    assert settings.database_name() == "demo_app_development"


def test_production_names_the_missing_keys_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(SettingsError) as caught:
        AppSettings.load()
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.key == "DB_HOST"
    for key in (
        "DB_HOST",
        "DB_PORT",
        "DB_USERNAME",
        "DB_PASSWORD",
        "TEMPORAL_ADDRESS",
        "PARTNER_KEY",
    ):
        assert key in message
    assert "DB_NAME" not in message, "the seed gives DB_NAME a default in every environment"


def test_production_accepts_database_url_instead_of_db_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/x")
    with pytest.raises(SettingsError) as caught:
        AppSettings.load()
    assert caught.value.key == "TEMPORAL_ADDRESS"
    assert "DB_HOST" not in str(caught.value)

    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("PARTNER_KEY", "s3cret")
    settings = AppSettings.load()
    assert settings.configured_database_url() == "postgresql://u:p@db.internal:5432/x"
    assert settings.database_name() == "demo_app_production"


def test_db_keys_build_a_quoted_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PORT", "6432")
    monkeypatch.setenv("DB_USERNAME", "sm")
    monkeypatch.setenv("DB_PASSWORD", "p@ss:/word")
    settings = AppSettings.load()
    assert settings.configured_database_url() == (
        "postgresql://sm:p%40ss%3A%2Fword@db.internal:6432/demo_app_development"
    )


def test_invalid_value_is_one_line_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PORT", "five")
    with pytest.raises(SettingsError) as caught:
        AppSettings.load()
    assert caught.value.key == "DB_PORT"
    assert "\n" not in str(caught.value)


def test_dotenv_is_read_in_development_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PARTNER_KEY=from-dotenv\nTEMPORAL_ADDRESS=t:1\n")
    assert AppSettings.load().partner_key.get_secret_value() == "from-dotenv"
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(SettingsError) as caught:
        AppSettings.load()
    assert "PARTNER_KEY" in str(caught.value)
    assert "TEMPORAL_ADDRESS" in str(caught.value)


def test_configured_servers_start_nothing_embedded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "must-not-exist"
    monkeypatch.setenv("DEVSTACK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.internal/x")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    with endpoints(AppSettings.load()) as ep:
        assert ep.database_url == "postgresql://u@db.internal/x"
        assert ep.temporal_address == "temporal.internal:7233"
        assert not ep.embedded_postgres
        assert not ep.embedded_temporal
    assert not data_dir.exists()


def test_unconfigured_database_starts_embedded_and_creates_the_app_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "stack"
    monkeypatch.setenv("DEVSTACK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("APP_ENV", "test")
    with endpoints(AppSettings.load(), temporal=False) as ep:
        assert ep.embedded_postgres
        with psycopg.connect(ep.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("demo_app_test",)
    # It started the server, so it stopped it.
    assert not Stack(data_dir).status().postgres.running
