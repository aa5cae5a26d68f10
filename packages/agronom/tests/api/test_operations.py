"""What operators see: /health names each dependency, /metrics counts requests and reads the
stored state, every response carries a request id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from agronom.api.app import create_app
from agronom.store import objects as storage
from agrosim import photos
from agrosim.server import free_port

from ..conftest import serving  # noqa: TID252 - the tests' shared helper


@asynccontextmanager
async def served(settings, database_url, store, **options) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(
        create_app(settings, database_url=database_url, store=store, **options)
    ) as client:
        yield client


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_health_checks_database_object_store_and_temporal(
    settings, database_url, store, temporal_env
) -> None:
    address = temporal_env.client.service_client.config.target_host
    async with served(settings, database_url, store, temporal_address=address) as api:
        response = await api.get("/health")
    assert response.status_code == 200, response.text
    assert response.json() == {"database": "ok", "object_store": "ok", "temporal": "ok"}

    async with served(settings, database_url, store) as api:
        assert (await api.get("/health")).json()["temporal"] == "not configured"


async def test_health_says_which_dependency_is_down(settings, database_url, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    broken_store = storage.local(blocked / "objects")
    nowhere = f"127.0.0.1:{free_port()}"
    async with served(settings, database_url, broken_store, temporal_address=nowhere) as api:
        response = await api.get("/health")
    assert response.status_code == 503
    checks = response.json()
    assert checks["database"] == "ok"
    assert checks["object_store"].startswith("error: ")
    assert checks["temporal"].startswith("error: ")


async def test_metrics_count_requests_and_read_payments_and_open_dsr_requests(
    api, sql, clock, sign
) -> None:
    assert (await api.get("/v1/limits", auth=sign(5))).status_code == 200
    sql(
        "INSERT INTO payments (user_id, amount, currency, status, provider, external_id, "
        "autopay, created_at, updated_at) VALUES "
        "(NULL, 19900, 'RUB', 'success', 'SBP:Tinkoff', 'p1', false, now(), now()), "
        "(NULL, 19900, 'RUB', 'success', 'SBP:Tinkoff', 'p2', false, now(), now()), "
        "(NULL, 19900, 'RUB', 'fail', 'SBP:Tinkoff', 'p3', false, now(), now()) RETURNING id"
    )
    asked = clock() - timedelta(days=2)
    sql(
        "INSERT INTO events (user_id, event, ts) "
        "SELECT id, 'dsr_requested', %s FROM users RETURNING id",
        asked,
    )
    response = await api.get("/metrics")
    assert response.status_code == 200
    text = response.text
    payments = _samples(text, "agronom_payments")
    assert payments[(("provider", "SBP:Tinkoff"), ("status", "success"))] == 2
    assert payments[(("provider", "SBP:Tinkoff"), ("status", "fail"))] == 1
    age = _samples(text, "agronom_dsr_oldest_open_request_age_seconds")[()]
    assert age == timedelta(days=2).total_seconds()
    requests = _samples(text, "agronom_http_request_duration_seconds_count")
    limits = [v for k, v in requests.items() if ("route", "/v1/limits") in k]
    assert limits and sum(limits) >= 1


async def test_every_response_carries_a_request_id(api) -> None:
    given = await api.get("/health", headers={"X-Request-ID": "trace-42"})
    assert given.headers["X-Request-ID"] == "trace-42"
    made = await api.get("/health")
    assert len(made.headers["X-Request-ID"]) == 32
    odd = await api.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert odd.headers["X-Request-ID"] != "bad id with spaces"


async def test_metrics_count_diagnoses_by_outcome_and_time_the_model(api, sign, vision) -> None:
    before = (await api.get("/metrics")).text
    ok = await api.post(
        "/v1/ai/diagnose",
        auth=sign(6),
        files={"image": ("leaf.jpg", photos.leaf(spots="brown"), "image/jpeg")},
    )
    assert ok.status_code == 200, ok.text
    no_leaf = await api.post(
        "/v1/ai/diagnose", auth=sign(6), files={"image": ("w.jpg", photos.wall(), "image/jpeg")}
    )
    assert no_leaf.status_code == 422
    after = (await api.get("/metrics")).text

    def grew(name: str, label: tuple[str, str]) -> float:
        old = _samples(before, name).get((label,), 0.0)
        return _samples(after, name).get((label,), 0.0) - old

    assert grew("agronom_diagnoses_total", ("outcome", "ok")) == 1
    assert grew("agronom_diagnoses_total", ("outcome", "NO_LEAF")) == 1
    assert grew("agronom_model_call_duration_seconds_count", ("outcome", "ok")) == 1
    assert grew("agronom_refusals_total", ("reason", "no_leaf")) == 1
