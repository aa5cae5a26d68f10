"""Profile syncs end to end: socialsim → providers → Temporal workflows → PostgreSQL, vs truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from smcore.orchestration import client as orchestration
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import SyncInput
from smcore.sync.service import create_job
from smcore.sync.streams import plan
from socialsim.testing import RunningSim, serve


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with serve(seed=0, profiles=40, channels=3, giant_followers=900, giant_posts=30) as running:
        yield running


def truth(sim: RunningSim, path: str) -> Any:
    return httpx.get(f"{sim.url}/_sim/truth/{path}", timeout=30).json()


@pytest_asyncio.fixture
async def worker(
    sim: RunningSim,
    database_url: str,
    temporal_env: WorkflowEnvironment,
    sim_settings: Callable[..., Settings],
) -> AsyncIterator[Any]:
    async with running_worker(
        sim_settings(sim), database_url=database_url, client=temporal_env.client
    ) as w:
        yield w


async def sync(
    database_url: str, env: WorkflowEnvironment, platform: Any, scope: Any = "all", **target: Any
) -> tuple[int, Any]:
    engine = db.async_engine(database_url, pool_size=1)
    try:
        job_id = await create_job(engine, platform=platform, scope=scope, **target)
    finally:
        await engine.dispose()
    handle = await orchestration.start_sync(
        env.client, SyncInput(job_id, db.database_name(database_url))
    )
    return job_id, await handle.result()


def stored(database_url: str, query: str, *args: Any) -> list[Any]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


async def test_instagram_profile_sync_stores_the_truth(
    sim: RunningSim, database_url: str, temporal_env: WorkflowEnvironment, worker: Any
) -> None:
    expected = truth(sim, "instagram/giant")
    job_id, result = await sync(database_url, temporal_env, "instagram", username="giant")
    assert result.status == "succeeded", result.summary
    profile_id = stored(
        database_url,
        "SELECT id FROM social_profiles WHERE ext_id = %s",
        expected["profile"]["ext_id"],
    )[0][0]
    followers = stored(
        database_url,
        "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
        "WHERE s.social_profile_id = %s AND s.direction = 'follower' AND s.active",
        profile_id,
    )
    assert sorted(r[0] for r in followers) == sorted(expected["followers"])
    followings = stored(
        database_url,
        "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
        "WHERE s.social_profile_id = %s AND s.direction = 'following' AND s.active",
        profile_id,
    )
    assert sorted(r[0] for r in followings) == sorted(expected["followings"])
    posts = dict(
        stored(
            database_url,
            "SELECT p.ext_id, count(c.id) FROM posts p "
            "LEFT JOIN comments c ON c.post_id = p.id AND c.parent_id IS NULL "
            "WHERE p.social_profile_id = %s AND p.product_type <> 'story' GROUP BY p.ext_id",
            profile_id,
        )
    )
    assert posts == {p["ext_id"]: p["comment_count"] for p in expected["posts"]}
    # The ledger: one job, one ServiceCall per page, each with its raw payload.
    calls = stored(
        database_url,
        "SELECT count(*), count(DISTINCT r.id) FROM service_calls s "
        "LEFT JOIN raw_payloads r ON r.service_call_id = s.id WHERE s.job_call_id = %s",
        job_id,
    )[0]
    assert calls[0] > 1000 // 50 and calls[0] == calls[1]
    status = stored(database_url, "SELECT status, subject_id FROM job_calls WHERE id = %s", job_id)[
        0
    ]
    assert status == ("succeeded", profile_id)


async def test_youtube_channel_sync_stores_videos_and_comments(
    sim: RunningSim, database_url: str, temporal_env: WorkflowEnvironment, worker: Any
) -> None:
    channel_id = truth(sim, "youtube")["channels"][0]["channel_id"]
    expected = truth(sim, f"youtube/{channel_id}")
    _, result = await sync(database_url, temporal_env, "youtube", ext_id=channel_id)
    assert result.status == "succeeded", result.summary
    videos = dict(
        stored(
            database_url,
            "SELECT p.ext_id, p.views_count FROM posts p "
            "JOIN social_profiles s ON s.id = p.social_profile_id WHERE s.ext_id = %s",
            channel_id,
        )
    )
    assert videos == {v["ext_id"]: v["view_count"] for v in expected["videos"]}
    threads = dict(
        stored(
            database_url,
            "SELECT p.ext_id, count(c.id) FROM posts p "
            "LEFT JOIN comments c ON c.post_id = p.id AND c.parent_id IS NULL "
            "JOIN social_profiles s ON s.id = p.social_profile_id WHERE s.ext_id = %s "
            "GROUP BY p.ext_id",
            channel_id,
        )
    )
    assert threads == {
        v["ext_id"]: (0 if v["comments_disabled"] else v["comment_thread_count"])
        for v in expected["videos"]
    }


async def test_private_and_missing_profiles_end_skipped(
    sim: RunningSim, database_url: str, temporal_env: WorkflowEnvironment, worker: Any
) -> None:
    index = truth(sim, "instagram")["profiles"]
    private = next(p for p in index if p["exists"] and p["is_private"])
    missing = next(p for p in index if not p["exists"])
    _, private_result = await sync(
        database_url, temporal_env, "instagram", username=private["username"]
    )
    _, missing_result = await sync(
        database_url, temporal_env, "instagram", username=missing["username"]
    )
    assert private_result.status == "skipped"
    assert missing_result.status == "skipped"
    assert stored(
        database_url,
        "SELECT is_private FROM social_profiles WHERE username = %s",
        private["username"],
    ) == [(True,)]


def public_profile(sim: RunningSim) -> str:
    index = truth(sim, "instagram")["profiles"]
    return str(
        next(p for p in index if p["exists"] and not p["is_private"] and p["username"] != "giant")[
            "username"
        ]
    )


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def grew(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_pages_calls_waits_and_quota_pauses(
    sim: RunningSim,
    database_url: str,
    temporal_env: WorkflowEnvironment,
    sim_settings: Callable[..., Settings],
) -> None:
    from smcore.api.app import create_app  # noqa: PLC0415
    from smcore.providers import Providers  # noqa: PLC0415
    from smcore.providers.ratelimit import PostgresRateLimiter  # noqa: PLC0415
    from smcore.sync.service import SyncService  # noqa: PLC0415

    app = create_app(Settings(), database_url=database_url, temporal_address=None)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        before = scrape((await api.get("/metrics")).text)
        username = public_profile(sim)
        async with running_worker(
            sim_settings(sim, rocket_rate_limit_rps=500.0),
            database_url=database_url,
            client=temporal_env.client,
        ):
            _, result = await sync(
                database_url, temporal_env, "instagram", "posts", username=username
            )
        assert result.status == "succeeded", result.summary
        pages = stored(
            database_url, "SELECT count(*) FROM service_calls WHERE status = 'succeeded'"
        )
        assert (await api.get("/api/v1/bloggers", params={"q": username})).status_code == 200

        # A YouTube quota that runs out: the stream pauses and says so.
        with serve(seed=2, profiles=2, channels=1, quota=1) as quota_sim:
            channel = truth(quota_sim, "youtube")["channels"][0]["channel_id"]
            settings = sim_settings(quota_sim)
            engine = db.async_engine(database_url, pool_size=2)
            limiter = PostgresRateLimiter(engine, {})
            try:
                job = await create_job(engine, platform="youtube", scope="all", ext_id=channel)
                async with Providers.from_settings(settings, limiter=limiter) as providers:
                    service = SyncService(engine, providers, limiter=limiter)
                    outcomes = [await service.run(job, s) for s in ("channel", "uploads")]
            finally:
                await engine.dispose()
        assert outcomes[-1].status == "waiting"

        text = (await api.get("/metrics")).text
        after = scrape(text)
    assert grew(before, after, "smcore_pages_synced_total", platform="instagram", stream="profile")
    stored_pages = pages[0][0]
    synced = sum(
        grew(before, after, "smcore_pages_synced_total", platform="instagram", stream=stream)
        for stream in plan("instagram", "posts")
    )
    assert synced == stored_pages
    assert (
        grew(before, after, "smcore_provider_calls_total", provider="rocket", status="ok") >= synced
    )
    assert grew(before, after, "smcore_provider_calls_total", provider="youtube", status="ok") >= 1
    assert (
        grew(
            before,
            after,
            "smcore_provider_calls_total",
            provider="youtube",
            status="quota_exhausted",
        )
        >= 1
    )
    assert grew(before, after, "smcore_quota_pauses_total", provider="youtube") == 1
    assert grew(
        before, after, "smcore_rate_limit_wait_seconds_count", provider="rocket", reason="limiter"
    ) == grew(before, after, "smcore_provider_calls_total", provider="rocket", status="ok")
    route = {"method": "GET", "route": "/api/v1/bloggers", "status": "200"}
    assert grew(before, after, "smcore_http_request_duration_seconds_count", **route) == 1
    assert "# TYPE smcore_http_request_duration_seconds histogram" in text
