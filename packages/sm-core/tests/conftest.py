"""SM Core's test fixtures: a migrated database per test, the shared fixtures folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.pytest_plugin import DatabaseTemplates
from smcore.settings import Settings
from smcore.store import db
from socialsim.testing import RunningSim

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def smcore_template(database_templates: DatabaseTemplates) -> str:
    """A database with every migration applied, built once per session."""
    return database_templates.template("smcore", setup=db.upgrade)


@pytest.fixture
def database_url(database_templates: DatabaseTemplates, smcore_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    with database_templates.clone(smcore_template) as url:
        yield url


@pytest.fixture(scope="session")
def youtube_fixtures() -> Path:
    """Genuine recorded YouTube Data API v3 responses (``../shared/fixtures``), used as they are."""
    path = FIXTURES / "youtube-data-api-v3"
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: the shared fixtures must sit beside the repository")
    return path


def _sim_settings(sim: RunningSim, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rocket_api_host": sim.url,
        "rocket_api_key": sim.api_key,
        "rapid_scraper_api_host": sim.url,
        "rapid_api_key": sim.api_key,
        "youtube_api_host": sim.url,
        "youtube_api_key": sim.api_key,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="session")
def sim_settings() -> Callable[..., Settings]:
    """``sim_settings(sim, **overrides)``: SM Core's settings with every provider at ``sim``."""
    return _sim_settings
