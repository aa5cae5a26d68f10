"""SM Core settings: the seed's keys (``002_…`` section 3) on the shared SECRETS_MANAGER rule.

Built once at the entrypoint (:meth:`Settings.load`) and passed down. Keys the Rails seed had
that this stack does not need: ``REDIS_*`` (Temporal replaces Sidekiq and Redis) and
``NEW_RELIC_LICENSE_KEY`` (OpenTelemetry / Prometheus replace New Relic).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from devstack.settings import StackSettings


class Settings(StackSettings):
    """Everything SM Core reads from its environment."""

    db_name_prefix: ClassVar[str] = "sm_core"
    production_optional: ClassVar[frozenset[str]] = StackSettings.production_optional | {
        # Google's host is the only real one; the setting exists to point at socialsim.
        "youtube_api_host",
    }

    rocket_api_key: SecretStr = Field(
        SecretStr(""), description="RocketAPI key (Instagram provider `rocket`)"
    )
    rocket_api_host: str = Field("", description="RocketAPI host, optionally with scheme and port")
    rapid_api_key: SecretStr = Field(
        SecretStr(""), description="RapidAPI key (Instagram provider `scraper`)"
    )
    rapid_scraper_api_host: str = Field("", description="RapidAPI Instagram scraper host")
    youtube_api_key: SecretStr = Field(SecretStr(""), description="YouTube Data API v3 key")
    youtube_api_host: str = Field(
        "https://www.googleapis.com", description="YouTube Data API v3 host"
    )
