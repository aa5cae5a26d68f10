"""Monitoring on the demo world: two syncs 72 simulated hours apart, checked against the truth.

socialsim serves the demo's world (``sm-core demo``'s defaults: seed 7, 20 profiles, 3
channels). SM Core syncs every profile and channel as one batch (scope ``all``, the default
30-day refresh window), the simulator's clock moves 72 hours (new posts, new comments, counts
that grow, follows and unfollows), and a second batch syncs them again. Then, per profile:

- every post inside the refresh window (as of the second sync, by the provider's clock) has
  the truth's counts now and exactly the truth's comments now, and two metric snapshots (one,
  if it was published between the syncs);
- every post outside the window is as the first sync left it (one snapshot);
- the follower list equals the truth, and every unfollow between the syncs is a recorded event.

Figures: provider requests of the second sync against the first (the cost of staying current,
as a ratio to the cost of the first backfill measured in the same run), posts refreshed, and
mismatches (0 expected). An embedded PostgreSQL and Temporal dev server run in a temporary
directory (the user's .devstack is left alone).

    uv run python benchmarks/monitoring.py [--seed 7] [--profiles 20] [--channels 3]
                                           [--hours 72] [--refresh-days 30]

The last line is one JSON object with the figures; exit code 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from devstack import Stack, databases, logs
from smcore.orchestration.client import start_batch
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.service import create_batch
from socialsim.testing import serve

KEY = "bench-key"


def targets(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"platform": "instagram", "scope": "all", "username": p["username"]}
        for p in http.get("/_sim/truth/instagram").json()["profiles"]
    ]
    found += [
        {"platform": "youtube", "scope": "all", "ext_id": c["channel_id"]}
        for c in http.get("/_sim/truth/youtube").json()["channels"]
    ]
    return found


def truth_now(http: httpx.Client) -> dict[str, Any]:
    """Every public Instagram profile's truth, by username."""
    return {
        p["username"]: http.get(f"/_sim/truth/instagram/{p['username']}").json()
        for p in http.get("/_sim/truth/instagram").json()["profiles"]
        if p["exists"] and not p["is_private"]
    }


def control(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST to one of the simulator's control endpoints."""
    response = http.post(path, json=body)
    response.raise_for_status()
    return response.json()


def served(http: httpx.Client) -> int:
    """Requests the simulator's APIs served since the last stats reset."""
    response = http.get("/_sim/stats")
    response.raise_for_status()
    return int(response.json()["total"])


async def sync_all(
    url: str, client: Client, jobs: list[dict[str, Any]], refresh_days: float
) -> int:
    engine = db.async_engine(url, pool_size=1)
    try:
        batch = await create_batch(engine, [{**j, "refresh_days": refresh_days} for j in jobs])
    finally:
        await engine.dispose()
    result = await (
        await start_batch(client, batch, db=db.database_name(url), concurrency=8)
    ).result()
    if result.counts.get("failed") or result.counts.get("partial"):
        raise SystemExit(f"a sync did not succeed: {result.counts}")
    return batch


def check(
    url: str, http: httpx.Client, before: dict[str, Any], refresh_days: float
) -> dict[str, Any]:
    """Compare the store with the truth now; returns the figures."""
    inside = outside = mismatches = new_posts = 0
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        observed = conn.execute(
            "SELECT max((params->>'observed_at')::timestamptz) FROM job_calls WHERE kind = 'sync'"
        ).fetchone()
        assert observed is not None  # noqa: S101 - the syncs above wrote it
        window = observed[0] - timedelta(days=refresh_days)
        for entry in http.get("/_sim/truth/instagram").json()["profiles"]:
            if not entry["exists"] or entry["is_private"]:
                continue
            name = entry["username"]
            truth = http.get(f"/_sim/truth/instagram/{name}").json()
            was = {p["ext_id"]: p for p in before[name]["posts"]}
            rows = {
                r[0]: r[1:]
                for r in conn.execute(
                    "SELECT p.ext_id, p.id, p.likes_count, p.comments_count, "
                    "(SELECT count(*) FROM metric_snapshots m WHERE m.subject_type = 'post' "
                    "AND m.subject_id = p.id) FROM posts p JOIN social_profiles s "
                    "ON s.id = p.social_profile_id WHERE s.username = %s",
                    (name,),
                ).fetchall()
            }
            for post in truth["posts"]:
                if post["ext_id"] not in rows:
                    problems.append(f"{name}: post {post['ext_id']} not stored")
                    continue
                post_id, likes, comments, snapshots = rows[post["ext_id"]]
                published = datetime.fromtimestamp(post["taken_at"], observed[0].tzinfo)
                old = was.get(post["ext_id"])
                new_posts += old is None
                if published >= window:
                    inside += 1
                    stored = {
                        r[0]
                        for r in conn.execute(
                            "SELECT ext_id FROM comments WHERE post_id = %s", (post_id,)
                        ).fetchall()
                    }
                    listed = http.get(f"/_sim/truth/instagram/{name}/posts/{post['ext_id']}")
                    want = {c["ext_id"] for c in listed.json()["comments"]}
                    ok = (likes, comments) == (post["like_count"], post["comment_count"])
                    ok = ok and stored == want and snapshots == (1 if old is None else 2)
                else:
                    outside += 1
                    ok = old is not None and (likes, comments, snapshots) == (
                        old["like_count"],
                        old["comment_count"],
                        1,
                    )
                if not ok:
                    mismatches += 1
                    problems.append(f"{name}: post {post['ext_id']} differs")
            followers = {
                r[0]
                for r in conn.execute(
                    "SELECT f.ext_id FROM subscriptions su JOIN followers f ON f.id = "
                    "su.follower_id JOIN social_profiles s ON s.id = su.social_profile_id "
                    "WHERE s.username = %s AND su.direction = 'follower' AND su.active",
                    (name,),
                ).fetchall()
            }
            if followers != set(truth["followers"]):
                mismatches += 1
                problems.append(f"{name}: followers differ from the truth")
        unfollow_events = conn.execute(
            "SELECT count(*) FROM follow_events WHERE kind = 'unfollow' AND direction = 'follower'"
        ).fetchone()
    gone = sum(
        len(
            set(before[n]["followers"])
            - set(http.get(f"/_sim/truth/instagram/{n}").json()["followers"])
        )
        for n in before
    )
    return {
        "posts_in_window": inside,
        "posts_outside_window": outside,
        "new_posts": new_posts,
        "unfollows_truth": gone,
        "unfollow_events": unfollow_events[0] if unfollow_events else 0,
        "mismatches": mismatches + (gone != (unfollow_events[0] if unfollow_events else 0)),
        "problems": problems[:20],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console(stderr=True)
    logs.configure("WARNING")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    stack = Stack(data_dir)
    try:
        with (
            serve(
                seed=args.seed, profiles=args.profiles, channels=args.channels, api_key=KEY
            ) as sim,
            httpx.Client(base_url=sim.url, timeout=60) as http,
        ):
            with console.status("starting PostgreSQL and Temporal…"):
                info = await asyncio.to_thread(stack.up)
            if info.database_url is None or info.temporal_address is None:
                raise SystemExit(f"the stack did not start: {info.notes}")
            url = await asyncio.to_thread(databases.create, info.database_url, "bench_monitoring")
            await asyncio.to_thread(db.upgrade, url)
            settings = Settings(  # type: ignore[call-arg]  # the rest are development defaults
                rocket_api_host=sim.url,
                rocket_api_key=SecretStr(KEY),
                rapid_scraper_api_host=sim.url,
                rapid_api_key=SecretStr(KEY),
                youtube_api_host=sim.url,
                youtube_api_key=SecretStr(KEY),
            )
            client = await Client.connect(info.temporal_address)
            jobs = await asyncio.to_thread(targets, http)
            requests = []
            async with running_worker(settings, database_url=url, client=client):
                for round_ in (1, 2):
                    if round_ == 2:
                        before = await asyncio.to_thread(truth_now, http)
                        await asyncio.to_thread(
                            control, http, "/_sim/clock", {"advance_hours": args.hours}
                        )
                    await asyncio.to_thread(control, http, "/_sim/stats/reset")
                    with console.status(f"sync {round_}: {len(jobs)} profiles and channels…"):
                        await sync_all(url, client, jobs, args.refresh_days)
                    requests.append(await asyncio.to_thread(served, http))
            figures = await asyncio.to_thread(check, url, http, before, args.refresh_days)
    finally:
        stack.down()
        shutil.rmtree(data_dir, ignore_errors=True)
    figures |= {
        "requests_first_sync": requests[0],
        "requests_second_sync": requests[1],
        "second_to_first_ratio": round(requests[1] / requests[0], 3),
        "hours": args.hours,
        "refresh_days": args.refresh_days,
    }
    table = Table(title=f"monitoring: two syncs {args.hours:g} h apart (demo world)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        if key != "problems":
            table.add_row(key, str(value))
    console.print(table)
    for problem in figures["problems"]:
        console.print(f"[red]{problem}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--hours", type=float, default=72.0)
    parser.add_argument("--refresh-days", type=float, default=30.0)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))  # noqa: T201 - the benchmark's last line
    sys.exit(1 if result["mismatches"] else 0)
