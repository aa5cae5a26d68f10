"""``sm-core demo``: the main job, end to end, on a machine with nothing configured.

The embedded stack (devstack), socialsim (unless real provider hosts are configured), a worker;
every profile of the simulated world and its YouTube channels synced through Temporal; then the
store checked against ``/_sim/truth`` (the simulator's clock does not move during the demo, so
the truth at its seed is what must be stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table

from smcore.settings import Settings

SIM_KEY = "demo-key"


@dataclass
class Target:
    platform: str
    key: str  # username or channel id
    job_id: int = 0
    status: str = "pending"
    pages: int = 0
    expected: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def simulator(seed: int, profiles: int, channels: int) -> Iterator[str]:
    """socialsim as a subprocess (its own package, spoken to over HTTP only)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialsim",
            "serve",
            "--port",
            "0",
            "--seed",
            str(seed),
            "--profiles",
            str(profiles),
            "--channels",
            str(channels),
            "--api-key",
            SIM_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(
                "socialsim did not start: is the socialsim package installed? (uv sync)"
            )
        yield str(json.loads(line)["url"])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def sim_settings(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "rocket_api_host": url,
            "rocket_api_key": SecretStr(SIM_KEY),
            "rapid_scraper_api_host": url,
            "rapid_api_key": SecretStr(SIM_KEY),
            "youtube_api_host": url,
            "youtube_api_key": SecretStr(SIM_KEY),
        }
    )


def targets_from_truth(url: str) -> list[Target]:
    with httpx.Client(base_url=url, timeout=60) as http:
        targets = [
            Target(
                "instagram",
                p["username"],
                expected=http.get(f"/_sim/truth/instagram/{p['username']}").json()
                if p["exists"]
                else {},
            )
            for p in http.get("/_sim/truth/instagram").json()["profiles"]
        ]
        targets += [
            Target(
                "youtube",
                c["channel_id"],
                expected=http.get(f"/_sim/truth/youtube/{c['channel_id']}").json(),
            )
            for c in http.get("/_sim/truth/youtube").json()["channels"]
        ]
    return targets


def verify(database_url: str, targets: list[Target]) -> list[str]:
    """What the store holds that differs from the truth (empty: everything matches)."""
    problems: list[str] = []
    with psycopg.connect(database_url) as conn:
        for t in targets:
            if t.platform == "instagram" and (
                not t.expected or t.expected["profile"]["is_private"]
            ):
                continue  # missing or private: only the profile (if any) can be stored
            ext_id = t.expected["profile"]["ext_id"] if t.platform == "instagram" else t.key
            row = conn.execute(
                "SELECT id FROM social_profiles WHERE platform = %s AND ext_id = %s",
                (t.platform, ext_id),
            ).fetchone()
            if row is None:
                problems.append(f"{t.platform} {t.key}: profile not stored")
                continue
            comments: dict[str, int] = dict(
                conn.execute(
                    "SELECT p.ext_id, count(c.id) FROM posts p "
                    "LEFT JOIN comments c ON c.post_id = p.id "
                    "WHERE p.social_profile_id = %s GROUP BY p.ext_id",
                    (row[0],),
                ).fetchall()
            )
            if t.platform == "instagram":
                followers = {
                    r[0]
                    for r in conn.execute(
                        "SELECT f.ext_id FROM subscriptions s "
                        "JOIN followers f ON f.id = s.follower_id "
                        "WHERE s.social_profile_id = %s AND s.direction = 'follower' AND s.active",
                        (row[0],),
                    ).fetchall()
                }
                if followers != set(t.expected["followers"]):
                    problems.append(
                        f"{t.key}: {len(followers)} followers stored, "
                        f"truth has {len(t.expected['followers'])}"
                    )
                want = {p["ext_id"]: p["comment_count"] for p in t.expected["posts"]}
            else:
                want = {
                    v["ext_id"]: 0 if v["comments_disabled"] else v["comment_thread_count"]
                    for v in t.expected["videos"]
                }
            if comments != want:
                problems.append(
                    f"{t.platform} {t.key}: posts or comment counts differ from the truth"
                )
    return problems


def _table(targets: list[Target], elapsed: float) -> Table:
    table = Table(title=f"sm-core demo · {elapsed:.0f}s")
    table.add_column("platform")
    table.add_column("profile")
    table.add_column("job", justify="right")
    table.add_column("pages", justify="right")
    table.add_column("status")
    colors = {
        "succeeded": "green",
        "skipped": "yellow",
        "partial": "red",
        "failed": "red",
        "running": "cyan",
    }
    for t in targets:
        color = colors.get(t.status, "dim")
        table.add_row(t.platform, t.key, str(t.job_id), str(t.pages), f"[{color}]{t.status}[/]")
    return table


async def run_demo(
    settings: Settings,
    database_url: str,
    temporal_address: str,
    namespace: str,
    *,
    seed: int,
    profiles: int,
    channels: int,
    console: Console,
    serve: bool = False,
) -> dict[str, Any]:
    """Sync the simulated world and check it; returns the summary."""
    from temporalio.client import Client  # noqa: PLC0415

    from smcore.orchestration import client as orchestration  # noqa: PLC0415
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415
    from smcore.store import db, ledger  # noqa: PLC0415
    from smcore.sync.service import create_batch  # noqa: PLC0415

    configured = bool(settings.rocket_api_host or settings.rapid_scraper_api_host)
    if configured:
        raise ValueError(
            "the demo syncs socialsim's world: unset ROCKET_API_HOST / RAPID_SCRAPER_API_HOST"
        )
    started = time.monotonic()
    with simulator(seed, profiles, channels) as url:
        settings = sim_settings(settings, url)
        targets = targets_from_truth(url)
        engine = db.async_engine(database_url, pool_size=4)
        client = await Client.connect(temporal_address, namespace=namespace)
        try:
            keys = [
                {"username": t.key} if t.platform == "instagram" else {"ext_id": t.key}
                for t in targets
            ]
            batch_id = await create_batch(
                engine,
                [
                    {"platform": t.platform, "scope": "all", **k}
                    for t, k in zip(targets, keys, strict=True)
                ],
            )
            async with engine.connect() as conn:
                ids = await ledger.children(conn, batch_id, after_id=0, limit=len(targets))
            for t, (job_id, _, _) in zip(targets, ids, strict=True):
                t.job_id = job_id
            async with running_worker(settings, database_url=database_url, client=client):
                handle = await orchestration.start_batch(
                    client, batch_id, db=engine.url.database or "", concurrency=8
                )
                finished = asyncio.ensure_future(handle.result())
                with Live(_table(targets, 0), console=console, refresh_per_second=4) as live:
                    while not finished.done():
                        await _poll(database_url, targets)
                        live.update(_table(targets, time.monotonic() - started))
                        await asyncio.wait([finished], timeout=0.5)
                    await _poll(database_url, targets)
                    live.update(_table(targets, time.monotonic() - started))
                finished.result()  # a batch that failed as a whole raises here
                if serve:
                    console.print("worker running; Ctrl-C to stop (the HTTP API is not built yet)")
                    await asyncio.Event().wait()
        finally:
            await engine.dispose()
        problems = verify(database_url, targets)
    return _summary(
        database_url,
        targets=targets,
        problems=problems,
        elapsed=time.monotonic() - started,
        seed=seed,
        profiles=profiles,
    )


async def _poll(database_url: str, targets: list[Target]) -> None:
    ids = [t.job_id for t in targets]

    def read() -> dict[int, tuple[str, int]]:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT j.id, j.status, count(s.id) FILTER (WHERE s.status = 'succeeded') "
                "FROM job_calls j LEFT JOIN service_calls s ON s.job_call_id = j.id "
                "WHERE j.id = ANY(%s) GROUP BY j.id",
                (ids,),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    state = await asyncio.to_thread(read)
    for t in targets:
        t.status, t.pages = state.get(t.job_id, (t.status, t.pages))


def _summary(
    database_url: str,
    *,
    targets: list[Target],
    problems: list[str],
    elapsed: float,
    seed: int,
    profiles: int,
) -> dict[str, Any]:
    ids = [t.job_id for t in targets]
    with psycopg.connect(database_url) as conn:
        calls, failed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM service_calls "
            "WHERE job_call_id = ANY(%s)",
            (ids,),
        ).fetchone() or (0, 0)
        followers = conn.execute(
            "SELECT count(*) FROM subscriptions WHERE active AND direction = 'follower'"
        ).fetchone()
        posts = conn.execute("SELECT count(*) FROM posts").fetchone()
        comments = conn.execute("SELECT count(*) FROM comments").fetchone()
    statuses: dict[str, int] = {}
    for t in targets:
        statuses[t.status] = statuses.get(t.status, 0) + 1
    return {
        "profiles": len(targets),
        "statuses": statuses,
        "followers": followers[0] if followers else 0,
        "posts": posts[0] if posts else 0,
        "comments": comments[0] if comments else 0,
        "calls": calls,
        "failures": failed,
        "elapsed_s": round(elapsed, 1),
        "verified": not problems,
        "problems": problems,
        "sim": {"seed": seed, "profiles": profiles},
    }
