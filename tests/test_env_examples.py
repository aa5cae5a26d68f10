"""Each app's ``.env.example`` lists exactly the keys its settings class reads, each with its
meaning; the keys it marks "required in production" are the ones production requires; and the
keys it sets load as that app's settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from agronom.settings import Settings as AgronomSettings
from devstack.settings import StackSettings
from smcore.settings import Settings as SmCoreSettings
from trendflow.settings import Settings as TrendflowSettings

ROOT = Path(__file__).resolve().parents[1]
APPS: dict[str, type[BaseSettings]] = {
    "sm-core": SmCoreSettings,
    "agronom": AgronomSettings,
    "trendflow": TrendflowSettings,
}
KEY_LINE = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
REQUIRED = "required in production"


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    active: bool  # `KEY=value`, not `# KEY=value`
    meaning: str  # the comment lines just above it


def parse(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    comment: list[str] = []
    for line in path.read_text().splitlines():
        match = KEY_LINE.match(line)
        if match:
            entries.append(Entry(match[2], match[3], not match[1], " ".join(comment)))
            comment = []
        elif line.startswith("#") and not line.startswith("# ---"):
            comment.append(line.lstrip("# ").strip())
        else:
            comment = []
    return entries


def described(settings: type[BaseSettings]) -> dict[str, str | None]:
    """Every environment key the class reads, with its field's description."""
    prefix = settings.model_config.get("env_prefix") or ""
    return {
        f"{prefix}{info.alias or name}".upper(): info.description
        for name, info in settings.model_fields.items()
    }


@pytest.fixture(params=sorted(APPS))
def app(request: pytest.FixtureRequest) -> tuple[type[BaseSettings], list[Entry]]:
    path = ROOT / "packages" / request.param / ".env.example"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return APPS[request.param], parse(path)


def test_every_key_is_listed_once_and_none_other(
    app: tuple[type[BaseSettings], list[Entry]],
) -> None:
    settings, entries = app
    listed = [e.key for e in entries]
    assert len(listed) == len(set(listed)), "a key listed twice"
    keys = described(settings)
    missing = {key: keys[key] for key in keys.keys() - set(listed)}
    assert not missing, f"add to .env.example: {missing}"
    assert not set(listed) - keys.keys(), "keys the settings do not read"


def test_every_key_says_what_it_means(app: tuple[type[BaseSettings], list[Entry]]) -> None:
    _, entries = app
    assert not [e.key for e in entries if len(e.meaning) < 10]


def test_the_production_marks_are_the_production_rule(
    app: tuple[type[BaseSettings], list[Entry]],
) -> None:
    settings, entries = app
    marked = {e.key for e in entries if REQUIRED in e.meaning}
    if not issubclass(settings, StackSettings):
        assert not marked, "this app has no production rule"
        return
    # DATABASE_URL or the DB_* keys: the DB_* keys carry the mark, with "unless DATABASE_URL".
    required = {
        settings.key(name)
        for name in settings.model_fields
        if name not in settings.production_optional and name != "database_url"
    }
    assert marked == required


def test_the_keys_it_sets_load(
    app: tuple[type[BaseSettings], list[Entry]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Copied to .env as it is, the file starts the app in development."""
    settings, entries = app
    for key in described(settings):
        monkeypatch.delenv(key, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{e.key}={e.value}\n" for e in entries if e.active))
    loaded = settings(_env_file=env_file)  # type: ignore[call-arg]  # pydantic-settings init kwarg
    for entry in entries:
        if entry.active:
            value = getattr(loaded, entry.key.lower().removeprefix("trendflow_"))
            shown = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            assert str(shown) == entry.value, entry.key
