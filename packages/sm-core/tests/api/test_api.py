"""The HTTP API over a real migrated database (and real Temporal for starting syncs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from smcore.api.app import create_app
from smcore.settings import Settings

PROFILES = [
    # platform, ext_id, username, full_name, bio, followers
    ("instagram", "101", "anna_petrova", "Анна Петрова", "Фотограф из Москвы", 5000),
    ("instagram", "102", "anna_photo", "Anna Smith", "travel photographer", 90000),
    ("instagram", "103", "jose", "José García", "café lover, Madrid", 1200),
    ("youtube", "UCabc", "annacooks", "Anna Cooks", "recipes every week", 300000),
    ("instagram", "104", "bob", "Bob Stone", "", 10),
    ("instagram", "105", "marta.westbrook_87", "Marta Westbrook", "", 7000),
    ("instagram", "106", "west", "Kanye West", "", 50),
]


@pytest.fixture
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        for platform, ext, username, name, bio, followers in PROFILES:
            conn.execute(  # plain SQL: rows from any writer are searchable
                "INSERT INTO social_profiles "
                "(platform, ext_id, username, full_name, bio, followers_count) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (platform, ext, username, name, bio, followers),
            )
    return database_url


@pytest_asyncio.fixture
async def api(seeded: str, temporal_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    address = temporal_env.client.service_client.config.target_host
    app = create_app(Settings(api_keys="k1,k2"), database_url=seeded, temporal_address=address)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def usernames(api: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await api.get("/api/v1/bloggers", params=params)
    assert response.status_code == 200, response.text
    return [i["username"] for i in response.json()["items"]]


async def test_search_ranks_text_then_followers(api: httpx.AsyncClient) -> None:
    # "anna" twice (username and name) beats once; a prefix of "annacooks" and the name count.
    assert await usernames(api, q="anna") == ["anna_photo", "annacooks", "anna_petrova"]
    assert await usernames(api, q="anna", platform="instagram") == ["anna_photo", "anna_petrova"]
    # A whole word beats a prefix expansion, whatever the followers.
    assert await usernames(api, q="West") == ["west", "marta.westbrook_87"]
    assert await usernames(api, q="@west") == ["west", "marta.westbrook_87"]


async def test_search_finds_username_parts(api: httpx.AsyncClient) -> None:
    assert await usernames(api, q="westbrook 87") == ["marta.westbrook_87"]
    assert await usernames(api, q="@marta.westbrook_87") == ["marta.westbrook_87"]


async def test_search_handles_prefixes_handles_accents_and_typos(api: httpx.AsyncClient) -> None:
    assert (await usernames(api, q="pet"))[0] == "anna_petrova", "a prefix"
    assert await usernames(api, q="@jose") == ["jose"], "an @handle"
    assert await usernames(api, q="garcia cafe") == ["jose"], "accents ignored"
    assert "anna_petrova" in (await usernames(api, q="Анна Пертова"))[:5], "two swapped letters"
    assert "bob" in (await usernames(api, q="Bob Sotne"))[:5]


async def test_typos_are_corrected_word_by_word(api: httpx.AsyncClient) -> None:
    response = (await api.get("/api/v1/bloggers", params={"q": "Jsoé Gracía"})).json()
    assert [i["username"] for i in response["items"]] == ["jose"]
    assert response["corrected"] == "jose garcia"
    exact = (await api.get("/api/v1/bloggers", params={"q": "jose"})).json()
    assert exact["corrected"] is None
    nothing = (await api.get("/api/v1/bloggers", params={"q": "qqqxxz"})).json()
    assert nothing == {**nothing, "items": [], "total": 0, "corrected": None}


async def test_any_writer_keeps_the_typo_vocabulary(api: httpx.AsyncClient, seeded: str) -> None:
    with psycopg.connect(seeded) as conn:  # a writer that is not SM Core
        conn.execute(
            "INSERT INTO social_profiles (platform, ext_id, username, full_name) "
            "VALUES ('instagram', '900', 'zz', 'Gwendolyn Featherstonehaugh')"
        )
        conn.execute("UPDATE social_profiles SET full_name = 'Bob Stoneman' WHERE ext_id = '104'")
    assert await usernames(api, q="Gwendolyn Featherstonehuagh") == ["zz"]
    assert await usernames(api, q="Bob Stoenman") == ["bob"]


async def test_totals_count_every_match(api: httpx.AsyncClient) -> None:
    everyone = (await api.get("/api/v1/bloggers", params={"per_page": 1})).json()
    assert everyone["total"] == len(PROFILES) and everyone["total_exact"] is True
    past = (await api.get("/api/v1/bloggers", params={"q": "anna", "page": 9})).json()
    assert past["items"] == [] and past["total"] == 3
    deep = await api.get("/api/v1/bloggers", params={"page": 101, "per_page": 100})
    assert deep.status_code == 422 and "100" in str(deep.json()["detail"])


def test_the_sync_request_schema_lists_each_platforms_scopes() -> None:
    from typing import get_args  # noqa: PLC0415

    from smcore.api.syncs import SyncRequest  # noqa: PLC0415
    from smcore.sync.models import Platform  # noqa: PLC0415
    from smcore.sync.streams import scopes_of  # noqa: PLC0415

    models = get_args(get_args(SyncRequest)[0])
    assert {m.model_fields["platform"].annotation.__args__[0] for m in models} == set(Platform)
    for model in models:
        platform = model.model_fields["platform"].annotation.__args__[0]
        scopes = model.model_fields["scope"].annotation
        assert set(get_args(scopes)) == set(scopes_of(platform))


async def test_method_not_allowed_names_every_method(api: httpx.AsyncClient) -> None:
    response = await api.request("OPTIONS", "/api/v1/syncs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_search_pages_and_totals(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/v1/bloggers", params={"per_page": 2})).json()
    second = (await api.get("/api/v1/bloggers", params={"per_page": 2, "page": 2})).json()
    assert first["total"] == second["total"] == len(PROFILES)
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})


@pytest.mark.parametrize(
    "params", [{"per_page": 0}, {"per_page": 1000}, {"page": 0}, {"platform": "myspace"}]
)
async def test_bad_parameters_are_422(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await api.get("/api/v1/bloggers", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_blogger_detail_and_404(api: httpx.AsyncClient) -> None:
    found = (await api.get("/api/v1/bloggers", params={"q": "jose"})).json()["items"][0]
    detail = await api.get(f"/api/v1/bloggers/{found['id']}")
    assert detail.status_code == 200
    assert detail.json()["full_name"] == "José García"
    assert detail.json()["latest_metrics"] is None and detail.json()["last_sync"] is None
    assert (await api.get("/api/v1/bloggers/999999")).status_code == 404


async def test_starting_a_sync_needs_a_key_and_returns_202(api: httpx.AsyncClient) -> None:
    body = {"platform": "instagram", "username": "anna_petrova", "scope": "profile"}
    assert (await api.post("/api/v1/syncs", json=body)).status_code == 401
    assert (
        await api.post("/api/v1/syncs", json=body, headers={"X-API-Key": "nope"})
    ).status_code == 401
    bad = await api.post(
        "/api/v1/syncs",
        json={**body, "platform": "youtube", "scope": "subscriptions"},
        headers={"X-API-Key": "k2"},
    )
    assert bad.status_code == 422
    started = await api.post("/api/v1/syncs", json=body, headers={"X-API-Key": "k2"})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_call_id"]
    state = await api.get(f"/api/v1/syncs/{job_id}")
    assert state.status_code == 200
    assert state.json()["params"]["username"] == "anna_petrova"
    listed = await api.get("/api/v1/syncs", params={"platform": "instagram"})
    assert job_id in [j["id"] for j in listed.json()]
    assert (await api.get("/api/v1/syncs/999999")).status_code == 404


async def test_health_and_openapi(api: httpx.AsyncClient) -> None:
    health = await api.get("/health")
    assert health.status_code == 200
    assert health.json() == {"database": "ok", "temporal": "ok"}
    spec = (await api.get("/openapi.json")).json()
    assert {"/api/v1/bloggers", "/api/v1/bloggers/{blogger_id}", "/api/v1/syncs", "/health"} <= set(
        spec["paths"]
    )


async def test_health_says_which_part_is_down(seeded: str) -> None:
    app = create_app(Settings(), database_url=seeded, temporal_address="127.0.0.1:9")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["temporal"] != "ok"
