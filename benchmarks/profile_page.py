"""The dashboard's profile page of an account with 10,000 posts: server time per page as a ratio
to the bare statements the page runs, replayed in the same run.

One Instagram profile is written straight into a fresh database of a temporary embedded
PostgreSQL (every migration applied): ``--posts`` posts (a year of them, carousels with three
media files each, the first stored), ``--days`` daily syncs with a profile snapshot each and a
post snapshot for every post younger than 30 days at that sync (the refresh window), and
``--followers`` followers of whom a tenth unfollowed and came back (follow events).

(a) The page: ``GET /bloggers/{id}`` through the app itself (``httpx.ASGITransport``: routing,
the store's reads, the SVG geometry, the template; no socket), alternating ``sort=time``,
``sort=engagement`` and a second page by cursor. (b) The bare statements: the SQL the page issued
(captured once per variant from SQLAlchemy), replayed on one psycopg connection. Both after a
warm-up, interleaved. Goal: page p95 < 300 ms. The ratio says what the page adds to its queries.

    uv run python benchmarks/profile_page.py [--posts 10000] [--days 60] [--followers 5000]
                                             [--requests 300]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy import event

from devstack import databases
from devstack.stack import ensure
from smcore.api.app import create_app
from smcore.settings import Settings
from smcore.store import db

console = Console(stderr=True)
GOAL_MS = 300.0


def populate(url: str, *, posts: int, days: int, followers: int) -> int:
    """The account and its history, in SQL; returns the profile's id."""
    with psycopg.connect(url) as conn:
        profile = conn.execute(
            "INSERT INTO social_profiles (platform, ext_id, username, full_name, bio, "
            "followers_count, follows_count, posts_count, engagement_rate) VALUES "
            "('instagram', '900', 'big_account', 'Big Account', 'ten thousand posts', "
            "%s, 300, %s, 0.031) RETURNING id",
            (followers, posts),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO job_calls (kind, status, platform, subject_id, params, started_at, "
            "finished_at) SELECT 'sync', 'succeeded', 'instagram', %(p)s, "
            "jsonb_build_object('username', 'big_account', 'observed_at', "
            "now() - make_interval(days => %(d)s - g)), now() - make_interval(days => %(d)s - g),"
            " now() - make_interval(days => %(d)s - g) FROM generate_series(1, %(d)s) g",
            {"p": profile, "d": days},
        )
        conn.execute(
            "INSERT INTO posts (platform, ext_id, social_profile_id, code, kind, caption, "
            "taken_at, likes_count, comments_count) SELECT 'instagram', 'p' || g, %(p)s, "
            "'C' || g, 'carousel', 'post number ' || g || ' #daily', "
            "now() - make_interval(hours => g * 24 * 365 / %(n)s), (g * 7919) %% 5000, "
            "(g * 104729) %% 300 FROM generate_series(1, %(n)s) g",
            {"p": profile, "n": posts},
        )
        conn.execute(
            "INSERT INTO media (post_id, ext_id, position, media_type, fetch_status, "
            "object_key, content_type) SELECT p.id, p.ext_id || '_' || i, i, 'photo', "
            "CASE WHEN i = 0 THEN 'stored' ELSE 'pending' END, "
            "CASE WHEN i = 0 THEN 'media/00/' || md5(p.ext_id) || '.jpg' END, "
            "CASE WHEN i = 0 THEN 'image/jpeg' ELSE '' END "
            "FROM posts p, generate_series(0, 2) i WHERE p.social_profile_id = %s",
            (profile,),
        )
        conn.execute(
            "INSERT INTO metric_snapshots (subject_type, subject_id, captured_at, followers, "
            "follows, posts, engagement_rate, job_call_id) SELECT 'profile', %(p)s, "
            "j.started_at, %(f)s - 5 * (%(d)s - row_number() OVER (ORDER BY j.id)), 300, %(n)s, "
            "0.03, j.id FROM job_calls j WHERE j.subject_id = %(p)s",
            {"p": profile, "f": followers, "d": days, "n": posts},
        )
        conn.execute(
            "INSERT INTO metric_snapshots (subject_type, subject_id, captured_at, likes, "
            "comments, job_call_id) SELECT 'post', p.id, j.started_at, "
            "p.likes_count * extract(epoch FROM j.started_at - p.taken_at) / 2592000, "
            "p.comments_count, j.id FROM job_calls j JOIN posts p ON p.social_profile_id = "
            "j.subject_id AND p.taken_at BETWEEN j.started_at - interval '30 days' AND "
            "j.started_at WHERE j.subject_id = %s",
            (profile,),
        )
        conn.execute(
            "INSERT INTO followers (platform, ext_id, username) SELECT 'instagram', 'f' || g, "
            "'fan_' || g FROM generate_series(1, %s) g",
            (followers,),
        )
        conn.execute(
            "INSERT INTO subscriptions (social_profile_id, follower_id, direction) "
            "SELECT %s, id, 'follower' FROM followers",
            (profile,),
        )
        conn.execute(
            "INSERT INTO follow_events (subscription_id, social_profile_id, direction, kind, "
            "observed_at, job_call_id) SELECT s.id, s.social_profile_id, 'follower', k.kind, "
            "now() - make_interval(days => (s.id %% %(d)s)::int, hours => k.h), NULL "
            "FROM subscriptions s, (VALUES ('follow', 0), ('unfollow', 12)) k(kind, h) "
            "WHERE s.social_profile_id = %(p)s AND s.id %% 10 = 0",
            {"p": profile, "d": days},
        )
        conn.execute("ANALYZE")
    return int(profile)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, profile: int, requests: int) -> dict[str, Any]:
    app = create_app(Settings(), database_url=url, temporal_address=None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
            first = await client.get(f"/bloggers/{profile}")
            first.raise_for_status()
            cursor = first.text.split("cursor=", 1)[1].split('"', 1)[0]
            paths = [
                f"/bloggers/{profile}?sort=time",
                f"/bloggers/{profile}?sort=engagement",
                f"/bloggers/{profile}?sort=time&cursor={cursor}",
            ]
            statements = await _capture(app, client, paths)
            page: list[float] = []
            bare: list[float] = []
            with psycopg.connect(url, autocommit=True) as conn:
                for i in track(range(requests + 30), description="profile pages", console=console):
                    path = paths[i % len(paths)]
                    started = time.perf_counter()
                    response = await client.get(path)
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    started = time.perf_counter()
                    for statement, parameters in statements[path]:
                        conn.execute(statement, parameters).fetchall()
                    bare_s = time.perf_counter() - started
                    if i >= 30:  # warm
                        page.append(elapsed * 1000)
                        bare.append(bare_s * 1000)
    posts_rows = first.text.count('<a href="/posts/')
    return {
        "page_p50_ms": round(statistics.median(page), 2),
        "page_p95_ms": round(percentile(page, 95), 2),
        "bare_p50_ms": round(statistics.median(bare), 2),
        "bare_p95_ms": round(percentile(bare, 95), 2),
        "ratio_p95": round(percentile(page, 95) / percentile(bare, 95), 2),
        "statements": len(statements[paths[0]]),
        "posts_on_page": posts_rows,
        "page_kb": round(len(first.content) / 1024, 1),
        "requests": len(page),
    }


async def _capture(
    app: Any, client: httpx.AsyncClient, paths: list[str]
) -> dict[str, list[tuple[str, Any]]]:
    """The statements each page variant issues, with their parameters."""
    engine = app.state.core.engine
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    captured = {}
    try:
        for path in paths:
            seen.clear()
            (await client.get(path)).raise_for_status()
            captured[path] = [s for s in seen if not s[0].startswith(("BEGIN", "COMMIT"))]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return captured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--followers", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-profile-page-"))
    try:
        with ensure(data_dir, temporal=False) as info:
            if info.database_url is None:
                raise SystemExit("the embedded PostgreSQL did not start")
            url = databases.create(info.database_url, "profile_page_bench")
            db.upgrade(url)
            with console.status(f"writing an account with {args.posts:,} posts"):
                profile = populate(url, posts=args.posts, days=args.days, followers=args.followers)
            figures = asyncio.run(measure(url, profile, args.requests))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    figures |= {"posts": args.posts, "days": args.days, "followers": args.followers}
    figures["goal_p95_ms"] = GOAL_MS
    figures["meets_goal"] = figures["page_p95_ms"] < GOAL_MS
    table = Table(title=f"Profile page, {args.posts:,} posts ({figures['requests']} requests)")
    for column in ("", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    table.add_row("page (server)", str(figures["page_p50_ms"]), str(figures["page_p95_ms"]))
    table.add_row("its bare SQL", str(figures["bare_p50_ms"]), str(figures["bare_p95_ms"]))
    console.print(table)
    console.print(
        f"page p95 = {figures['ratio_p95']}x its bare statements ({figures['statements']}); "
        f"goal p95 < {GOAL_MS:.0f} ms: {'met' if figures['meets_goal'] else 'MISSED'}"
    )
    print(json.dumps(figures))  # noqa: T201 - the benchmark's last line


if __name__ == "__main__":
    main()
