"""``sm-core demo``: the main job, end to end, on a machine with nothing configured.

The embedded stack (devstack), socialsim (unless real provider hosts are configured), a worker;
every Instagram profile, YouTube channel and TikTok account of the simulated world synced
through Temporal; then every stream checked against ``/_sim/truth`` (the simulator's clock does
not move during the demo, so the truth at its seed is what must be stored):

- Instagram: followers, followings, posts with their comment counts, reels and their plays,
  live stories, highlights and their stories, and for the posts of the refresh window their
  likers (up to 1,000 listed) and comment replies;
- YouTube: videos with their comment threads, and the replies of the window's threads;
- TikTok: followers (those listed: about 5,000 at most, the rest recorded as coverage),
  videos with their counts, comments, and the replies of the window's comments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table

from smcore.demo_analysis import analysis_service, enrichments, wait_for_transforms
from smcore.settings import Settings
from smcore.sync.models import DEFAULT_REFRESH_DAYS

SIM_KEY = "demo-key"
DEMO_MEDIA_PER_ACCOUNT = 1  # media files downloaded (and analysed) per synced account
ANALYSIS_TIMEOUT_S = 900.0


@dataclass
class Target:
    platform: str
    key: str  # username (Instagram, TikTok) or channel id (YouTube)
    job_id: int = 0
    status: str = "pending"
    pages: int = 0
    expected: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def simulator(seed: int, profiles: int, channels: int, tiktok_accounts: int) -> Iterator[str]:
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
            "--tiktok-accounts",
            str(tiktok_accounts),
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
            "tikapi23_api_host": url,
            "tikapi23_api_key": SecretStr(SIM_KEY),
            "tikwm_api_host": url,
            "tikwm_api_key": SecretStr(SIM_KEY),
        }
    )


def _transform_settings(settings: Settings, media_store: str) -> Settings:
    """The demo's Transform stage: each account's newest media file downloaded, captions (not
    comments) analysed, quick polls."""
    return settings.model_copy(
        update={
            "media_download": True,
            "media_store_url": media_store,
            "media_max_per_sync": DEMO_MEDIA_PER_ACCOUNT,
            "analysis_comments": False,
            "analysis_poll_initial_s": 1.0,
            "analysis_poll_max_s": 5.0,
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
        targets += [
            Target(
                "tiktok",
                a["username"],
                expected=http.get(f"/_sim/truth/tiktok/{a['username']}").json()
                if a["exists"]
                else {},
            )
            for a in http.get("/_sim/truth/tiktok").json()["accounts"]
        ]
    return targets


def verify(database_url: str, targets: list[Target], url: str) -> list[str]:
    """What the store holds that differs from the truth (empty: everything matches)."""
    problems: list[str] = []
    with psycopg.connect(database_url) as conn, httpx.Client(base_url=url, timeout=60) as http:
        for t in targets:
            if t.platform != "youtube" and (not t.expected or t.expected["profile"]["is_private"]):
                continue  # missing or private: only the profile (if any) can be stored
            ext_id = t.key if t.platform == "youtube" else t.expected["profile"]["ext_id"]
            row = conn.execute(
                "SELECT id FROM social_profiles WHERE platform = %s AND ext_id = %s",
                (t.platform, ext_id),
            ).fetchone()
            if row is None:
                problems.append(f"{t.platform} {t.key}: profile not stored")
                continue
            check = Check(conn, http, t, row[0])
            {"instagram": check.instagram, "youtube": check.youtube, "tiktok": check.tiktok}[
                t.platform
            ]()
            problems += check.problems
    return problems


@dataclass
class Check:
    """One profile's streams against the truth; what differs goes to ``problems``."""

    conn: psycopg.Connection[Any]
    http: httpx.Client
    target: Target
    profile_id: int
    problems: list[str] = field(default_factory=list)

    def rows(self, query: str, *args: Any) -> list[Any]:
        return self.conn.execute(query, (self.profile_id, *args)).fetchall()

    def same(self, what: str, stored: Any, truth: Any) -> None:
        if stored != truth:
            t = self.target
            self.problems.append(f"{t.platform} {t.key}: {what} differ from the truth")

    def window_start(self) -> datetime:
        """The refresh window of the profile's last sync (likers and replies are read for it)."""
        observed = self.conn.execute(
            "SELECT params->>'observed_at' FROM job_calls WHERE subject_id = %s "
            "ORDER BY id DESC LIMIT 1",
            (self.profile_id,),
        ).fetchone()
        if observed is None or observed[0] is None:
            raise RuntimeError(f"{self.target.key}: no sync of this profile read its clock")
        return datetime.fromisoformat(observed[0]) - timedelta(days=DEFAULT_REFRESH_DAYS)

    def followers(self, direction: str, want: list[str], cap: int | None = None) -> None:
        stored = {
            r[0]
            for r in self.rows(
                "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
                "WHERE s.social_profile_id = %s AND s.direction = %s AND s.active",
                direction,
            )
        }
        self.same(f"{direction}s", stored, set(want if cap is None else want[:cap]))

    def comments(self, want: dict[str, int]) -> None:
        """Top-level comments per post (or thread per video)."""
        stored = dict(
            self.rows(
                "SELECT p.ext_id, count(c.id) FROM posts p "
                "LEFT JOIN comments c ON c.post_id = p.id AND c.parent_id IS NULL "
                "WHERE p.social_profile_id = %s AND p.product_type <> 'story' GROUP BY p.ext_id"
            )
        )
        self.same("posts or their comment counts", stored, want)

    def replies(self, post: str, want: set[tuple[str, str]]) -> None:
        stored = {
            (r[0], r[1])
            for r in self.rows(
                "SELECT c.ext_id, parent.ext_id FROM posts p JOIN comments c ON c.post_id = p.id "
                "JOIN comments parent ON parent.id = c.parent_id "
                "WHERE p.social_profile_id = %s AND p.ext_id = %s",
                post,
            )
        }
        self.same(f"replies on {post}", stored, want)

    def instagram(self) -> None:
        t = self.target
        truth = t.expected
        self.followers("follower", truth["followers"])
        self.followers("following", truth["followings"])
        self.comments({p["ext_id"]: p["comment_count"] for p in truth["posts"]})
        reels = dict(
            self.rows(
                "SELECT ext_id, views_count FROM posts "
                "WHERE social_profile_id = %s AND product_type = 'clips'"
            )
        )
        plays = {p["ext_id"]: p["play_count"] for p in truth["posts"]}
        self.same("reels", reels, {r: plays[r] for r in truth["reels"]})
        stories = {
            r[0]
            for r in self.rows(
                "SELECT ext_id FROM posts WHERE social_profile_id = %s AND product_type = 'story'"
            )
        }
        in_highlights = {item for h in truth["highlights"] for item in h["items"]}
        self.same("stories", stories, {s["ext_id"] for s in truth["stories"]} | in_highlights)
        highlights = {
            r[0]: list(r[1])
            for r in self.rows(
                "SELECT h.ext_id, array_remove(array_agg(p.ext_id ORDER BY i.position), NULL) "
                "FROM highlights h LEFT JOIN highlight_items i ON i.highlight_id = h.id "
                "LEFT JOIN posts p ON p.id = i.post_id "
                "WHERE h.social_profile_id = %s GROUP BY h.ext_id"
            )
        }
        self.same("highlights", highlights, {h["ext_id"]: h["items"] for h in truth["highlights"]})
        start = self.window_start().timestamp()
        for post in truth["posts"]:
            if post["taken_at"] < start:
                continue
            detail = self.http.get(f"/_sim/truth/instagram/{t.key}/posts/{post['ext_id']}").json()
            likers = {
                r[0]
                for r in self.rows(
                    "SELECT l.liker_ext_id FROM posts p JOIN likes l ON l.post_id = p.id "
                    "WHERE p.social_profile_id = %s AND p.ext_id = %s",
                    post["ext_id"],
                )
            }
            self.same(
                f"likers of {post['ext_id']}",
                likers,
                set(detail["likers"][: detail["likers_listable"]]),
            )
            self.replies(
                post["ext_id"],
                {
                    (r["ext_id"], c["ext_id"])
                    for c in detail["comments"]
                    if not c["malformed"]
                    for r in c["replies"]
                },
            )

    def youtube(self) -> None:
        t = self.target
        videos = t.expected["videos"]
        self.comments(
            {
                v["ext_id"]: 0 if v["comments_disabled"] else v["comment_thread_count"]
                for v in videos
            }
        )
        start = self.window_start()
        for video in videos:
            if video["comments_disabled"] or datetime.fromisoformat(video["published_at"]) < start:
                continue
            detail = self.http.get(f"/_sim/truth/youtube/{t.key}/videos/{video['ext_id']}").json()
            self.replies(
                video["ext_id"],
                {(r["ext_id"], c["ext_id"]) for c in detail["comments"] for r in c["replies"]},
            )

    def tiktok(self) -> None:
        t = self.target
        truth = t.expected
        self.followers("follower", truth["followers"], truth["list_cap"])
        self.followers("following", truth["followings"], truth["list_cap"])
        comments = {
            v["ext_id"]: self.http.get(f"/_sim/truth/tiktok/{t.key}/videos/{v['ext_id']}").json()[
                "comments"
            ]
            if v["comment_count"]
            else []
            for v in truth["videos"]
        }
        self.comments({video: len(listed) for video, listed in comments.items()})
        start = self.window_start().timestamp()
        for video in truth["videos"]:
            if video["create_time"] < start or not video["comment_count"]:
                continue
            self.replies(
                video["ext_id"],
                {
                    (r["ext_id"], c["ext_id"])
                    for c in comments[video["ext_id"]]
                    for r in c["replies"]
                },
            )


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
    tiktok_accounts: int,
    console: Console,
    serve: bool = False,
    port: int = 8000,
    analysis: bool = True,
) -> dict[str, Any]:
    """Sync the simulated world and check it; returns the summary.

    With ``analysis``, TrendFlow's analysis service runs beside socialsim and each synced
    account's newest media file (``DEMO_MEDIA_PER_ACCOUNT``) and every caption are analysed;
    the enrichments are checked against what socialsim put into them."""
    from temporalio.client import Client  # noqa: PLC0415

    from smcore.orchestration import client as orchestration  # noqa: PLC0415
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415

    _refuse_configured(settings)
    started = time.monotonic()
    still_open = 0
    media_store = settings.media_store_location()
    with contextlib.ExitStack() as services:
        url = services.enter_context(simulator(seed, profiles, channels, tiktok_accounts))
        settings = _transform_settings(sim_settings(settings, url), media_store)
        if analysis:
            with console.status("starting the analysis service (trendflow serve)"):
                service = services.enter_context(
                    analysis_service(
                        database_url,
                        temporal_address,
                        namespace,
                        media_store,
                        (settings.devstack_data_dir or Path(".devstack")).resolve() / "trendflow",
                    )
                )
            settings = settings.model_copy(update={"analysis_api_url": service})
        targets = targets_from_truth(url)
        engine = db.async_engine(database_url, pool_size=4)
        client = await Client.connect(temporal_address, namespace=namespace)
        try:
            batch_id = await _create_batch(engine, targets)
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
                if analysis:
                    with console.status("analysing the sampled media and the captions"):
                        still_open = await wait_for_transforms(
                            database_url, [t.job_id for t in targets], ANALYSIS_TIMEOUT_S
                        )
                problems = verify(database_url, targets, url)
                enriched = enrichments(database_url, url) if analysis else None
                if serve:
                    await serve_dashboard(
                        settings, database_url, temporal_address, console, port=port
                    )
        finally:
            await engine.dispose()
        if enriched is not None:
            console.print(enriched.table())
            problems += enriched.problems
        if still_open:
            problems.append(f"{still_open} analyses still open after {ANALYSIS_TIMEOUT_S}s")
    summary = _summary(
        database_url,
        targets=targets,
        problems=problems,
        elapsed=time.monotonic() - started,
        seed=seed,
        profiles=profiles,
    )
    summary["enrichments"] = enriched.summary() if enriched else None
    return summary


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve_dashboard(
    settings: Settings, database_url: str, temporal_address: str, console: Console, *, port: int
) -> None:
    """The API and its dashboard over the demo's data until Ctrl-C (the worker and socialsim
    stay up, so syncs started from the dashboard run). Without ``API_KEYS`` a key is made for
    this run and printed: the dashboard's sign-in asks for one."""
    import uvicorn  # noqa: PLC0415

    from smcore.api.app import create_app  # noqa: PLC0415

    keys = settings.api_keys.get_secret_value()
    if not keys:
        keys = secrets.token_urlsafe(16)
        settings = settings.model_copy(update={"api_keys": SecretStr(keys)})
        said = True
    else:  # the development default is no secret; configured keys stay unsaid
        said = keys == Settings.model_fields["api_keys"].default.get_secret_value()
    app = create_app(settings, database_url=database_url, temporal_address=temporal_address)

    class Server(uvicorn.Server):
        listening = asyncio.Event()

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            self.listening.set()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Ctrl-C ends the serving, not the demo (uvicorn would raise it again after).
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.ensure_future(server.serve())
    listening = asyncio.ensure_future(server.listening.wait())
    await asyncio.wait([serving, listening], return_when=asyncio.FIRST_COMPLETED)
    listening.cancel()
    if server.started:  # the URL only once it answers
        console.print()
        console.print(
            f"[bold]Dashboard: http://127.0.0.1:{port}/[/] (API: /api/v1, OpenAPI: /docs)",
            "· sign in to start syncs with "
            + (f"the key [bold]{keys}[/]" if said else "one of API_KEYS")
            + " · Ctrl-C to stop",
            soft_wrap=True,
        )
    await serving


def _refuse_configured(settings: Settings) -> None:
    if (
        settings.rocket_api_host
        or settings.rapid_scraper_api_host
        or settings.tikapi23_api_host
        or settings.tikwm_api_host
    ):
        raise ValueError(
            "the demo syncs socialsim's world: unset ROCKET_API_HOST, RAPID_SCRAPER_API_HOST, "
            "TIKAPI23_API_HOST and TIKWM_API_HOST"
        )


async def _create_batch(engine: Any, targets: list[Target]) -> int:
    """One batch JobCall syncing every target (scope all); each target learns its job id."""
    from smcore.store import ledger  # noqa: PLC0415
    from smcore.sync.service import create_batch  # noqa: PLC0415

    keys = [{"ext_id": t.key} if t.platform == "youtube" else {"username": t.key} for t in targets]
    batch_id = await create_batch(
        engine,
        [{"platform": t.platform, "scope": "all", **k} for t, k in zip(targets, keys, strict=True)],
    )
    async with engine.connect() as conn:
        ids = await ledger.children(conn, batch_id, after_id=0, limit=len(targets))
    for t, (job_id, _, _) in zip(targets, ids, strict=True):
        t.job_id = job_id
    return batch_id


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
