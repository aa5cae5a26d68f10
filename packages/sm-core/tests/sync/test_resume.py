"""A sync survives its worker being SIGKILLed, and a second sync fetches only what is new."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
from temporalio.testing import WorkflowEnvironment

from smcore.orchestration import client as orchestration
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.engine import UNIT_CONCURRENCY
from smcore.sync.models import SyncInput
from smcore.sync.service import create_job
from socialsim.testing import RunningSim, serve


def truth(sim: RunningSim, path: str) -> Any:
    return httpx.get(f"{sim.url}/_sim/truth/{path}", timeout=30).json()


def provider_env(sim: RunningSim) -> dict[str, str]:
    return {
        "ROCKET_API_HOST": sim.url,
        "ROCKET_API_KEY": sim.api_key,
        "RAPID_SCRAPER_API_HOST": sim.url,
        "RAPID_API_KEY": sim.api_key,
        "YOUTUBE_API_HOST": sim.url,
        "YOUTUBE_API_KEY": sim.api_key,
        "MEDIA_DOWNLOAD": "false",
    }


def scalar(database_url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, args).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def active(database_url: str, username: str, direction: str = "follower") -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
            "JOIN social_profiles p ON p.id = s.social_profile_id "
            "WHERE p.username = %s AND s.direction = %s AND s.active",
            (username, direction),
        ).fetchall()
    return {r[0] for r in rows}


async def new_job(database_url: str, **kwargs: Any) -> int:
    engine = db.async_engine(database_url, pool_size=1)
    try:
        return await create_job(engine, **kwargs)
    finally:
        await engine.dispose()


async def test_worker_killed_three_times_still_stores_exactly_the_truth(
    database_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    options = {
        "seed": 21,
        "profiles": 5,
        # Enough pages for three kills mid-work (15, 30, 45 calls in), few enough for CI.
        "giant_followers": 2000,
        "giant_posts": 30,
        "fault_rate": 0.1,
        "timeout_fault_s": 2,
    }
    with serve(**options) as sim:
        expected = truth(sim, "instagram/giant")
        address = temporal_env.client.service_client.config.target_host
        env = {
            **os.environ,
            **provider_env(sim),
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": address,
            "PROVIDER_READ_TIMEOUT_S": "1",
            "LOG_LEVEL": "WARNING",
        }

        def start_worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "smcore", "worker", "--concurrency", "4"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / "worker.log").open("ab"),
            )

        job_id = await new_job(database_url, platform="instagram", scope="all", username="giant")
        handle = await orchestration.start_sync(
            temporal_env.client,
            SyncInput(job_id, db.database_name(database_url)),
        )
        worker = start_worker()
        try:
            for kill in range(3):
                # Let it commit some pages, then kill it in the middle of its work.
                target = 15 * (kill + 1)
                while (
                    scalar(
                        database_url,
                        "SELECT count(*) FROM service_calls WHERE job_call_id = %s",
                        job_id,
                    )
                    or 0
                ) < target:
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                    await asyncio.sleep(0.1)
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                worker = start_worker()
            result = await asyncio.wait_for(handle.result(), timeout=300)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        stats = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()

    assert result.status == "succeeded", result.summary
    assert active(database_url, "giant") == set(expected["followers"])
    assert active(database_url, "giant", "following") == set(expected["followings"])
    with psycopg.connect(database_url) as conn:
        posts = dict(
            conn.execute(
                "SELECT p.ext_id, count(c.id) FROM posts p "
                "LEFT JOIN comments c ON c.post_id = p.id AND c.parent_id IS NULL "
                "WHERE p.product_type <> 'story' GROUP BY p.ext_id"
            ).fetchall()
        )
        duplicates = conn.execute(
            "SELECT count(*) - count(DISTINCT ext_id) FROM followers"
        ).fetchone()
    assert posts == {p["ext_id"]: p["comment_count"] for p in expected["posts"]}
    assert duplicates == (0,)
    # At most the pages in flight at each kill were fetched twice: one per listing, and the
    # comments stream pages UNIT_CONCURRENCY posts' listings at once.
    assert stats["repeated_ok"] <= 3 * UNIT_CONCURRENCY, stats


async def test_second_sync_fetches_only_new_posts_and_records_unfollows(
    database_url: str, temporal_env: WorkflowEnvironment
) -> None:
    with serve(seed=9, profiles=5, giant_followers=600, giant_posts=24) as sim:
        settings = Settings(**{k.lower(): v for k, v in provider_env(sim).items()})
        async with running_worker(settings, database_url=database_url, client=temporal_env.client):
            first = await new_job(database_url, platform="instagram", scope="all", username="giant")
            result = await (
                await orchestration.start_sync(
                    temporal_env.client,
                    SyncInput(first, db.database_name(database_url)),
                )
            ).result()
            assert result.status == "succeeded", result.summary
            before = truth(sim, "instagram/giant")
            httpx.post(
                f"{sim.url}/_sim/clock", json={"advance_hours": 72}, timeout=30
            ).raise_for_status()
            after = truth(sim, "instagram/giant")
            httpx.post(f"{sim.url}/_sim/stats/reset", timeout=30).raise_for_status()
            second = await new_job(
                database_url, platform="instagram", scope="all", username="giant"
            )
            result = await (
                await orchestration.start_sync(
                    temporal_env.client,
                    SyncInput(second, db.database_name(database_url)),
                )
            ).result()
            assert result.status == "succeeded", result.summary
            stats = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()

    new_posts = {p["ext_id"] for p in after["posts"]} - {p["ext_id"] for p in before["posts"]}
    gone = set(before["followers"]) - set(after["followers"])
    assert new_posts, "the simulated clock added posts"
    assert gone, "the simulated clock made some unfollow"
    assert result.summary["streams"]["posts"]["items"] <= len(new_posts) + 12, (
        "one page past the new ones at most"
    )
    media_pages = sum(
        v for k, v in stats["by_endpoint"].get("rocket user/get_media", {}).items() if k == "200"
    )
    assert media_pages == (len(new_posts) // 12) + 1
    assert active(database_url, "giant") == set(after["followers"])
    with psycopg.connect(database_url) as conn:
        unfollowed = {
            r[0]
            for r in conn.execute(
                "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
                "WHERE NOT s.active AND s.unfollowed_at IS NOT NULL AND s.direction = 'follower'"
            ).fetchall()
        }
        stored_posts = {
            r[0]
            for r in conn.execute(
                "SELECT ext_id FROM posts WHERE product_type <> 'story'"
            ).fetchall()
        }
    assert unfollowed == gone
    assert stored_posts == {p["ext_id"] for p in after["posts"]}


async def test_resume_continues_from_the_ledger_when_the_workflow_is_gone(
    database_url: str, temporal_env: WorkflowEnvironment
) -> None:
    """Terminate the workflow mid-sync (its history no longer drives anything), then resume."""
    with serve(seed=13, profiles=5, giant_followers=2500, giant_posts=12) as sim:
        expected = truth(sim, "instagram/giant")
        settings = Settings(**{k.lower(): v for k, v in provider_env(sim).items()})
        async with running_worker(settings, database_url=database_url, client=temporal_env.client):
            job_id = await new_job(
                database_url, platform="instagram", scope="subscriptions", username="giant"
            )
            request = SyncInput(job_id, db.database_name(database_url))
            handle = await orchestration.start_sync(temporal_env.client, request)
            while (
                scalar(
                    database_url,
                    "SELECT count(*) FROM service_calls WHERE job_call_id = %s",
                    job_id,
                )
                or 0
            ) < 20:
                await asyncio.sleep(0.05)
            await handle.terminate("simulating a lost workflow")
            committed = scalar(
                database_url, "SELECT count(*) FROM service_calls WHERE job_call_id = %s", job_id
            )
            assert (
                scalar(database_url, "SELECT status FROM job_calls WHERE id = %s", job_id)
                == "running"
            )
            resumed = await orchestration.start_sync(temporal_env.client, request)
            result = await resumed.result()
        stats = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()
    assert result.status == "succeeded", result.summary
    assert active(database_url, "giant") == set(expected["followers"])
    assert committed >= 20
    assert stats["repeated_ok"] <= 1, "only the page in flight at the termination came twice"
