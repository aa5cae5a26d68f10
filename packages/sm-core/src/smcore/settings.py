"""SM Core settings: the seed's keys (``002_…`` section 3) on the shared SECRETS_MANAGER rule.

Built once at the entrypoint (:meth:`Settings.load`) and passed down. Keys the Rails seed had
that this stack does not need: ``REDIS_*`` (Temporal replaces Sidekiq and Redis) and
``NEW_RELIC_LICENSE_KEY`` (OpenTelemetry / Prometheus replace New Relic).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from devstack.settings import StackSettings


class Settings(StackSettings):
    """Everything SM Core reads from its environment."""

    db_name_prefix: ClassVar[str] = "sm_core"
    production_optional: ClassVar[frozenset[str]] = StackSettings.production_optional | {
        # Google's host is the only real one; the setting exists to point at socialsim.
        "youtube_api_host",
        # Tuning knobs with safe defaults, not secrets or addresses.
        "instagram_provider_priority",
        "rocket_available_methods",
        "scraper_available_methods",
        "rocket_rate_limit_rps",
        "scraper_rate_limit_rps",
        "youtube_rate_limit_rps",
        "provider_connect_timeout_s",
        "provider_read_timeout_s",
        "raw_retention_days",
        "provider_max_attempts",
        "log_level",
        "api_public_reads",
        "fleet_max_in_flight",
        "fleet_in_flight_per_rps",
        "fleet_batch_size",
        "youtube_daily_quota",
        "rocket_daily_quota",
        "scraper_daily_quota",
        # TikTok: the Research API is optional (granted to academic researchers only).
        "tiktok_research_api_host",
        "tiktok_research_client_key",
        "tiktok_research_client_secret",
        "tiktok_research_rate_limit_rps",
        "tiktok_research_daily_requests",
        "tiktok_research_daily_records",
        "tiktok_provider_priority",
        "tikapi23_available_methods",
        "tikwm_available_methods",
        "tikapi23_rate_limit_rps",
        "tikwm_rate_limit_rps",
        "tikapi23_daily_quota",
        "tikwm_daily_quota",
        # The Transform stage: media downloads and the analysis service are optional.
        "media_store_url",
        "media_s3_endpoint_url",
        "media_download",
        "media_max_per_sync",
        "media_max_bytes",
        "analysis_api_url",
        "analysis_api_key",
        "analysis_comments",
        "analysis_text_batch",
        "analysis_poll_initial_s",
        "analysis_poll_max_s",
        "analysis_wait_s",
        "analysis_job_timeout_s",
        "analysis_config",
        "analysis_predictions",
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

    tikapi23_api_key: SecretStr = Field(
        SecretStr(""), description="RapidAPI key for tiktok-api23 (TikTok provider `tikapi23`)"
    )
    tikapi23_api_host: str = Field(
        "", description="RapidAPI tiktok-api23 host, optionally with scheme and port"
    )
    tikwm_api_key: SecretStr = Field(
        SecretStr(""), description="RapidAPI key for tiktok-scraper7 (TikTok provider `tikwm`)"
    )
    tikwm_api_host: str = Field(
        "", description="RapidAPI tiktok-scraper7 (TikWM) host, optionally with scheme and port"
    )
    tiktok_research_api_host: str = Field(
        "https://open.tiktokapis.com", description="TikTok Research API host"
    )
    tiktok_research_client_key: str = Field(
        "", description="TikTok Research API client key (provider `research`)"
    )
    tiktok_research_client_secret: SecretStr = Field(
        SecretStr(""), description="TikTok Research API client secret"
    )

    instagram_provider_priority: str = Field(
        "rocket,scraper", description="Instagram providers in the order they are tried"
    )
    tiktok_provider_priority: str = Field(
        "tikapi23,tikwm",
        description="TikTok providers in the order they are tried (`research` only when listed)",
    )
    rocket_available_methods: str = Field(
        "", description="Methods `rocket` may serve, comma-separated [default: all]"
    )
    scraper_available_methods: str = Field(
        "", description="Methods `scraper` may serve, comma-separated [default: all]"
    )
    tikapi23_available_methods: str = Field(
        "", description="Methods `tikapi23` may serve, comma-separated [default: all]"
    )
    tikwm_available_methods: str = Field(
        "", description="Methods `tikwm` may serve, comma-separated [default: all]"
    )
    rocket_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to RocketAPI across all workers [default: no limit]"
    )
    scraper_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to the RapidAPI scraper across all workers"
    )
    youtube_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to the YouTube Data API across all workers"
    )
    tikapi23_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to tiktok-api23 across all workers"
    )
    tikwm_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to tiktok-scraper7 (TikWM) across all workers"
    )
    tiktok_research_rate_limit_rps: float | None = Field(
        None, gt=0, description="Requests/s to the TikTok Research API across all workers"
    )
    provider_connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout, seconds")
    provider_read_timeout_s: float = Field(10.0, gt=0, description="Read timeout, seconds")
    provider_max_attempts: int = Field(
        8, ge=1, description="Attempts per call on 5xx, timeouts and dropped connections"
    )
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR)")
    raw_retention_days: int = Field(
        90,
        gt=0,
        description="Days raw provider payloads are kept (whole months dropped by a daily job)",
    )
    api_keys: SecretStr = Field(
        SecretStr("dev-key"),
        description="Comma-separated keys accepted in X-API-Key by write endpoints",
    )
    api_public_reads: bool = Field(True, description="Read endpoints need no key")
    fleet_max_in_flight: int = Field(
        64, ge=1, description="Fleet accounts in flight per platform when its rate is unlimited"
    )
    fleet_in_flight_per_rps: float = Field(
        2.0,
        gt=0,
        description="Fleet accounts in flight per request/s of a platform's configured rate",
    )
    fleet_batch_size: int = Field(
        100, ge=1, le=1000, description="Accounts per batch the fleet dispatcher starts"
    )
    youtube_daily_quota: int = Field(
        10_000, ge=0, description="YouTube Data API units a day (fleet plan; 0: no quota)"
    )
    rocket_daily_quota: int = Field(
        0, ge=0, description="RocketAPI requests a day your plan allows (fleet plan; 0: none)"
    )
    scraper_daily_quota: int = Field(
        0, ge=0, description="RapidAPI scraper requests a day (fleet plan; 0: none)"
    )
    tikapi23_daily_quota: int = Field(
        0, ge=0, description="tiktok-api23 requests a day your plan allows (fleet plan; 0: none)"
    )
    tikwm_daily_quota: int = Field(
        0, ge=0, description="tiktok-scraper7 requests a day your plan allows (fleet plan; 0: none)"
    )
    tiktok_research_daily_requests: int = Field(
        1000, ge=0, description="TikTok Research API requests a day (reset at midnight UTC)"
    )
    tiktok_research_daily_records: int = Field(
        100_000, ge=0, description="TikTok Research API records a day (reset at midnight UTC)"
    )
    # ------------------------------------------------------------ the Transform stage
    media_store_url: str = Field(
        "",
        description="Where downloaded media are kept: file:///dir, a path, or s3://bucket/prefix "
        "[default: media/ in the devstack data directory]",
    )
    media_s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint for an s3:// media store that is not AWS (MinIO, Yandex)"
    )
    media_download: bool = Field(
        True, description="Download new media into the media store before their links expire"
    )
    media_max_per_sync: int = Field(
        0, ge=0, description="Media files one sync downloads, newest posts first (0: all)"
    )
    media_max_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest media file downloaded, bytes"
    )
    analysis_api_url: str = Field(
        "",
        description="The analysis service (trendflow serve), e.g. http://localhost:8100 "
        "[default: none, no analysis]",
    )
    analysis_api_key: SecretStr = Field(
        SecretStr(""), description="Bearer token for the analysis service, if it wants one"
    )
    analysis_comments: bool = Field(
        True, description="Send comments (not only captions and media) to text analysis"
    )
    analysis_text_batch: int = Field(
        100, ge=1, le=500, description="Captions or comments per text job"
    )
    analysis_poll_initial_s: float = Field(
        2.0, gt=0, description="First wait before polling an analysis job, seconds"
    )
    analysis_poll_max_s: float = Field(
        300.0, gt=0, description="Longest wait between polls (the backoff's cap), seconds"
    )
    analysis_wait_s: float = Field(
        6 * 3600.0,
        gt=0,
        description="How long a sync's Transform waits for analyses before leaving the rest "
        "to the next sync, seconds",
    )
    analysis_job_timeout_s: float = Field(
        3600.0, gt=0, description="An analysis job unfinished this long is failed as timed out"
    )
    analysis_config: str = Field(
        "", description="JSON object sent as every analysis job's config (overrides)"
    )
    analysis_predictions: bool = Field(
        False,
        description="Ask the analysis service for a forecast of views and likes of each post "
        "published in the 21 days before a sync (it needs TRENDFLOW_PREDICTION_MODEL)",
    )

    def media_store_location(self) -> str:
        """The media store's URL, defaulting to ``media/`` beside the embedded servers' data."""
        if self.media_store_url:
            return self.media_store_url
        base = self.devstack_data_dir or Path(".devstack")
        return str((base / "media").resolve())
