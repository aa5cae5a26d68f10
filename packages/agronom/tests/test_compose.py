"""agronom's services in docker-compose.yml: each starts its process, passes the production
settings rule for that process, and is handed no secret another process owns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from agronom.settings import Settings
from devstack.settings import SettingsError

ROOT = Path(__file__).resolve().parents[3]
SERVICES = {
    "agronom-migrate": "migrate",
    "agronom-api": "api",
    "agronom-worker": "worker",
    "agronom-bot": "bot",
}
NOT_SETTINGS = {"START_MODE", "PORT"}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, object]]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, dict[str, object]] = data["services"]
    return found


def _env(service: dict[str, object]) -> dict[str, str]:
    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping"
    # ${VAR:?message} and ${VAR:-default} are compose's: stand in a value for each.
    return {k: re.sub(r"\$\{[^}]+\}", "from-env", str(v)) for k, v in env.items()}


def test_compose_runs_every_agronom_process(services) -> None:
    assert {n for n in services if n.startswith("agronom-")} == set(SERVICES)
    for name, mode in SERVICES.items():
        assert _env(services[name])["START_MODE"] == mode
        assert services[name]["build"] == {"context": ".", "args": {"APP": "agronom"}}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_passes_its_processs_production_rule_with_only_its_keys(
    services, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    process = SERVICES[name]
    env = _env(services[name])
    assert env["APP_ENV"] == "production"
    foreign = Settings.not_needed_by(process)
    handed = {k.lower() for k in env} - {k.lower() for k in NOT_SETTINGS}
    assert handed <= set(Settings.model_fields), handed - set(Settings.model_fields)
    assert not handed & foreign, f"{name} is handed another process's keys: {handed & foreign}"
    known = Settings.keys()
    for key in known:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Settings.load(process=process)
    # The rule bites: without one of the keys compose insists on, the same environment is
    # refused.
    raw = services[name]["environment"]
    assert isinstance(raw, dict)
    required = sorted(k for k, v in raw.items() if ":?" in str(v) and k not in NOT_SETTINGS)
    monkeypatch.delenv(required[0])
    with pytest.raises(SettingsError, match=required[0]):
        Settings.load(process=process)
