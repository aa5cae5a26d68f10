"""Pages/s a batch sync sustains against a rate-limited provider, as a fraction of that rate;
rows/s of SM Core's follower upserts, as a ratio to a bare COPY of the same rows.

Sync, end to end: socialsim serves RocketAPI limited to R requests/s (a token bucket with a
quarter second's worth of burst; above it, 429 with Retry-After). SM Core's Temporal worker
runs in this process, on an embedded PostgreSQL and a Temporal dev server started in a
temporary directory (the user's .devstack is left alone), with the client's shared rate limit
set to R (``--no-client-limit``: none, the client only obeys 429s). It syncs 8 public Instagram
profiles (scope ``all``: profile, followers, followings, posts, comments) as one batch, 8 at
once, so up to 8 requests are in flight. The 8 profiles are the ones whose page counts (from
socialsim's truth) are closest to R x --seconds / 8: they finish together, so no single long
profile's tail sets the time. Pages/s = succeeded ServiceCalls (one per provider page) / wall
seconds from the batch's start to its result. Goal: >= 0.9 x R. Every job must end
``succeeded`` and socialsim's stats give the requests served and the 429s among them. To tell
pacing from CPU, the table also gives the cores each process kept busy during the sync and,
from the ledger, the mean time per page spent fetching (limiter wait, HTTP, parsing) and
storing (the page's transaction, until the job's next page starts).

Upserts vs COPY, the database alone (no provider waits): the (profile, direction, account)
rows the sync stored for followers and followings, read back, then written into fresh migrated
databases (their social_profiles copied in beforehand, untimed) by five writers, each round
into fresh clones, best of --rounds each:

  upsert_pages        ``smcore.store.rows.upsert_accounts`` (one statement a page: accounts,
                      subscriptions and follow events) in pages of 50 accounts, one
                      transaction per page on SM Core's async engine, one page after another:
                      what a followers stream does per page, without the ledger rows
                      (ServiceCall, raw payload) it writes in the same transaction;
  upsert_pages_again  the same pages a second time into that database, timed alone: a re-sync
                      that finds every row stored and unchanged;
  copy_pages          ``COPY followers`` and ``COPY subscriptions`` (psycopg ``cursor.copy``)
                      of the same pages, one transaction per page on the same engine: the
                      floor for a page written in its own transaction;
  upsert_batch        ``upsert_accounts`` once per (profile, direction) with its whole list,
                      all in one transaction;
  copy_all            one COPY followers and one COPY subscriptions of all rows in one
                      transaction on a plain psycopg connection.

All end with the same rows (checked); rows = subscriptions written (each with its account).
Ratios of rows/s (best of each): upsert_pages / copy_all (the figure the issue started from:
it charges the upserts a transaction per page and the COPY one in all), upsert_pages /
copy_pages and upsert_pages_again / copy_pages (page size, like for like), upsert_batch /
copy_all (bulk, like for like). Goal: >= 0.5; the table marks the ratios that meet it.

    uv run python benchmarks/sync.py [--rate-limit 40] [--seconds 40] [--seed 1] [--rounds 3]
                                     [--world-profiles 200] [--no-client-limit]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.client import Client

from devstack import Stack, databases, logs
from smcore.orchestration.client import start_batch
from smcore.orchestration.worker import running_worker
from smcore.providers.models import Account
from smcore.settings import Settings
from smcore.store import db, rows
from smcore.sync.models import JobResult
from smcore.sync.service import create_batch
from socialsim.testing import serve

KEY = "bench-key"
PROFILES = 8
PAGE = 50  # accounts per followers page, as RocketAPI serves them
SYNC_TABLES = (
    "followers",
    "subscriptions",
    "posts",
    "media",
    "comments",
    "metric_snapshots",
    "raw_payloads",
)
FOLLOWER_COLUMNS = (
    "id",
    "platform",
    "ext_id",
    "username",
    "full_name",
    "avatar",
    "is_private",
    "is_verified",
    "raw_data",
)
SUBSCRIPTION_COLUMNS = ("social_profile_id", "follower_id", "direction", "last_seen_job_call_id")
BENCH_JOB = 1  # last_seen_job_call_id of the re-written rows (no foreign key)

T = TypeVar("T")


class BenchmarkError(Exception):
    """The benchmark cannot give figures (said on stderr, exit status 1)."""


@dataclass(frozen=True)
class Target:
    username: str
    pages: int  # provider pages a complete sync takes, from the truth


# ---------------------------------------------------------------------------------- the world
def pages_of(truth: dict[str, Any]) -> int:
    """Provider pages of a complete ``all`` sync: profile, 50 followers / 50 followings / 12
    posts a page (an empty list still takes one), 20 comments a page (none: no request)."""
    profile = truth["profile"]
    return int(
        1
        + max(1, math.ceil(profile["followers_count"] / 50))
        + max(1, math.ceil(profile["follows_count"] / 50))
        + max(1, math.ceil(profile["posts_count"] / 12))
        + sum(math.ceil(post["comment_count"] / 20) for post in truth["posts"])
    )


async def choose(url: str, per_profile: float) -> list[Target]:
    """The public profiles whose page counts are closest to ``per_profile``."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        index = (await http.get("/_sim/truth/instagram")).json()["profiles"]
        names = [p["username"] for p in index if p["exists"] and not p["is_private"]]
        gate = asyncio.Semaphore(4)

        async def one(name: str) -> Target:
            async with gate:
                truth = (await http.get(f"/_sim/truth/instagram/{name}")).json()
            return Target(name, pages_of(truth))

        targets = await asyncio.gather(*(one(name) for name in names))
    if len(targets) < PROFILES:
        raise BenchmarkError(
            f"the world has {len(targets)} public profiles: raise --world-profiles"
        )
    targets.sort(key=lambda t: abs(math.log(t.pages / per_profile)))
    return sorted(targets[:PROFILES], key=lambda t: -t.pages)


# ---------------------------------------------------------------------------------- the sync
def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """CPU seconds of a process, with its children's (PostgreSQL's backends) unless told not."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        if not children:
            return times.user + times.system
        # user, system, and what its ended children used (children_user, children_system)
        total = sum(times[:4])
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(child.cpu_times()[:2])
    except psutil.NoSuchProcess:
        return 0.0
    return total


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per process; this process's own only (socialsim is its child)."""
    own = os.getpid()
    return {name: cpu_seconds(pid, children=pid != own) for name, pid in pids.items()}


@dataclass(frozen=True)
class SyncFigures:
    seconds: float
    pages: int
    other_calls: int  # ServiceCalls not succeeded (failed pages, restarts)
    ledger_seconds: float  # first page started → last page finished
    page_ms: tuple[float, float]  # mean per page: fetching, then storing until the next fetch
    requests: int
    http_429: int
    rows: dict[str, int]
    results: list[JobResult]
    cpu: dict[str, float]  # CPU seconds per process during the sync


async def watch(task: Awaitable[T], url: str, console: Console, started: float) -> T:
    """Await ``task``, showing the pages committed so far."""
    job = asyncio.ensure_future(task)
    with console.status("syncing…") as status:
        while True:
            done, _ = await asyncio.wait({job}, timeout=1.0)
            if done:
                return job.result()
            pages = await asyncio.to_thread(
                scalar, url, "SELECT count(*) FROM service_calls WHERE status = 'succeeded'"
            )
            elapsed = time.perf_counter() - started
            status.update(f"syncing: {pages} pages in {elapsed:.0f} s ({pages / elapsed:.1f}/s)")


def child_results(url: str, batch_id: int) -> list[JobResult]:
    """Each child JobCall of the batch, as it ended."""
    with psycopg.connect(url) as conn:
        rows_ = conn.execute(
            "SELECT id, status, result_summary FROM job_calls WHERE parent_job_call_id = %s",
            (batch_id,),
        ).fetchall()
    return [JobResult(r[0], r[1], r[2]) for r in rows_]


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def ledger_figures(url: str) -> tuple[int, int, float, tuple[float, float], dict[str, int]]:
    """Pages, other calls, the ledger's span, mean ms per page fetching and storing, rows."""
    with psycopg.connect(url) as conn:
        ok, other, span = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'),"
            " count(*) FILTER (WHERE status <> 'succeeded'),"
            " EXTRACT(EPOCH FROM max(finished_at) - min(started_at))::float8 FROM service_calls"
        ).fetchone() or (0, 0, 0.0)
        # started_at: before the fetch (limiter, HTTP, parsing); finished_at: now() in the
        # page's transaction, i.e. when storing began; the next page of the job starts after.
        fetch_ms, store_ms = conn.execute(
            "SELECT 1000 * avg(EXTRACT(EPOCH FROM finished_at - started_at))::float8,"
            " 1000 * avg(EXTRACT(EPOCH FROM next_start - finished_at))::float8 FROM ("
            "  SELECT started_at, finished_at, lead(started_at)"
            "   OVER (PARTITION BY job_call_id ORDER BY id) AS next_start"
            "  FROM service_calls WHERE status = 'succeeded') AS pages"
        ).fetchone() or (0.0, 0.0)
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]  # noqa: S608 - our table names
            for table in SYNC_TABLES
        }
    return int(ok), int(other), float(span or 0.0), (fetch_ms or 0.0, store_ms or 0.0), counts


async def run_sync(
    url: str,
    temporal_address: str,
    sim_url: str,
    targets: list[Target],
    *,
    pids: dict[str, int],
    rate: float,
    client_limit: bool,
    console: Console,
) -> SyncFigures:
    engine = db.async_engine(url, pool_size=1)
    try:
        batch_id = await create_batch(
            engine,
            [{"platform": "instagram", "scope": "all", "username": t.username} for t in targets],
        )
    finally:
        await engine.dispose()
    settings = Settings(  # type: ignore[call-arg]
        rocket_api_host=sim_url,
        rocket_api_key=SecretStr(KEY),
        rapid_scraper_api_host=sim_url,
        rapid_api_key=SecretStr(KEY),
        instagram_provider_priority="rocket",
        rocket_rate_limit_rps=rate if client_limit else None,
    )
    client = await Client.connect(temporal_address)
    async with (
        httpx.AsyncClient(base_url=sim_url, timeout=30) as http,
        running_worker(settings, database_url=url, client=client, max_concurrent_activities=16),
    ):
        (await http.post("/_sim/stats/reset")).raise_for_status()
        cpu_before = cpu_snapshot(pids)
        started = time.perf_counter()
        handle = await start_batch(client, batch_id, db=db.database_name(url), concurrency=PROFILES)
        await watch(handle.result(), url, console, started)
        seconds = time.perf_counter() - started
        cpu = {k: v - cpu_before[k] for k, v in cpu_snapshot(pids).items()}
        stats = (await http.get("/_sim/stats")).json()
    results = await asyncio.to_thread(child_results, url, batch_id)
    failed = [r for r in results if r.status != "succeeded"]
    if failed:
        details = "\n".join(f"  job {r.job_call_id}: {r.status} {r.summary}" for r in failed)
        raise BenchmarkError(f"{len(failed)} of {len(results)} syncs did not succeed:\n{details}")
    pages, other, span, per_page, counts = await asyncio.to_thread(ledger_figures, url)
    http_429 = sum(codes.get("429", 0) for codes in stats["by_endpoint"].values())
    return SyncFigures(
        seconds=seconds,
        pages=pages,
        other_calls=other,
        ledger_seconds=span,
        page_ms=per_page,
        requests=stats["total"],
        http_429=http_429,
        rows=counts,
        results=results,
        cpu=cpu,
    )


# ---------------------------------------------------------------------------------- upserts vs COPY
@dataclass(frozen=True)
class Exported:
    profiles: bytes  # social_profiles, COPY text format
    subscriptions: list[tuple[int, str, tuple[Any, ...]]]  # (profile id, direction, follower)


def export(url: str) -> Exported:
    """The follower and following rows the sync stored, in the order it stored them."""
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY social_profiles TO STDOUT") as copy:
            profiles = b"".join(bytes(chunk) for chunk in copy)
        found = conn.execute(
            "SELECT s.social_profile_id, s.direction, f.id, f.platform, f.ext_id, f.username,"
            " f.full_name, f.avatar, f.is_private, f.is_verified, f.raw_data"
            " FROM subscriptions s JOIN followers f ON f.id = s.follower_id ORDER BY s.id"
        ).fetchall()
    return Exported(profiles, [(r[0], r[1], tuple(r[2:])) for r in found])


def prepare_template(server: str, name: str, exported: Exported) -> None:
    """A migrated database holding the synced profiles: what both writers start from."""
    url = databases.create(server, name)
    db.upgrade(url)
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy("COPY social_profiles FROM STDIN") as copy,
    ):
        copy.write(exported.profiles)


Page = tuple[int, str, list[tuple[Any, ...]]]  # profile id, direction, followers (exported)


def grouped_lists(exported: Exported) -> list[Page]:
    """Each profile's followers, and each one's followings, whole, in the order stored."""
    grouped: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
    for profile_id, direction, f in exported.subscriptions:
        grouped.setdefault((profile_id, direction), []).append(f)
    return [(profile_id, direction, found) for (profile_id, direction), found in grouped.items()]


def paged(lists: list[Page]) -> list[Page]:
    """The lists as the provider hands them over, 50 accounts a page."""
    return [
        (profile_id, direction, found[i : i + PAGE])
        for profile_id, direction, found in lists
        for i in range(0, len(found), PAGE)
    ]


def accounts_of(found: list[tuple[Any, ...]]) -> list[Account]:
    """Exported followers as the provider layer hands them over."""
    return [
        Account(
            ext_id=f[2],
            username=f[3],
            full_name=f[4],
            avatar_url=f[5] or None,
            is_private=f[6],
            is_verified=f[7],
            raw=f[8],
        )
        for f in found
    ]


async def upsert(url: str, chunks: list[Page], *, per_chunk: bool, again: bool = False) -> float:
    """SM Core's upserts of ``chunks``: one transaction per chunk (``per_chunk``) or one for
    all; ``again``: a second pass over rows already stored (a re-sync that finds them
    unchanged), timed alone. Returns the seconds the timed pass took."""
    calls = [(p, d, accounts_of(found)) for p, d, found in chunks]
    engine = db.async_engine(url, pool_size=1)

    async def write(conn: AsyncConnection, job: int, call: tuple[int, str, list[Account]]) -> None:
        profile_id, direction, accounts = call
        await rows.upsert_accounts(
            conn,
            "instagram",
            profile_id,
            direction,
            accounts,
            job_id=job,
            previous_pass=None,  # a first pass, as the sync's
        )

    async def one_pass(job: int) -> float:
        started = time.perf_counter()
        if per_chunk:
            for call in calls:
                async with engine.begin() as conn:
                    await write(conn, job, call)
        else:
            async with engine.begin() as conn:
                for call in calls:
                    await write(conn, job, call)
        return time.perf_counter() - started

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # connected before the clock starts
        seconds = await one_pass(BENCH_JOB)
        return await one_pass(BENCH_JOB + 1) if again else seconds
    finally:
        await engine.dispose()


def copy_rows(
    chunks: list[Page],
) -> list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Per chunk, the follower rows not in an earlier chunk and the subscription rows."""
    done: set[int] = set()
    out = []
    for profile_id, direction, found in chunks:
        followers = []
        for f in found:
            if f[0] not in done:
                done.add(f[0])
                followers.append((*f[:-1], Jsonb(f[-1])))
        out.append((followers, [(profile_id, f[0], direction, BENCH_JOB) for f in found]))
    return out


COPY_FOLLOWERS = f"COPY followers ({', '.join(FOLLOWER_COLUMNS)}) FROM STDIN"
COPY_SUBSCRIPTIONS = f"COPY subscriptions ({', '.join(SUBSCRIPTION_COLUMNS)}) FROM STDIN"


def copy_all(url: str, exported: Exported) -> float:
    """A bare COPY of the same rows in one transaction; returns the seconds it took."""
    followers = {f[0]: (*f[:-1], Jsonb(f[-1])) for _, _, f in exported.subscriptions}
    subscriptions = [(p, f[0], d, BENCH_JOB) for p, d, f in exported.subscriptions]
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        cursor = conn.cursor()
        started = time.perf_counter()
        with cursor.copy(COPY_FOLLOWERS) as copy:
            for row in followers.values():
                copy.write_row(row)
        with cursor.copy(COPY_SUBSCRIPTIONS) as copy:
            for row in subscriptions:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


async def copy_pages(url: str, pages: list[Page]) -> float:
    """A bare COPY of the same pages, one transaction per page on SM Core's async engine, as
    the upserts': what a page would cost if storing it were a COPY. Returns the seconds."""
    chunks = copy_rows(pages)
    engine = db.async_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))  # connected before the clock starts
        started = time.perf_counter()
        for followers, subscriptions in chunks:
            async with engine.begin() as conn:
                raw: Any = (await conn.get_raw_connection()).driver_connection  # psycopg's
                async with raw.cursor() as cursor:
                    if followers:
                        async with cursor.copy(COPY_FOLLOWERS) as copy:
                            for row in followers:
                                await copy.write_row(row)
                    async with cursor.copy(COPY_SUBSCRIPTIONS) as copy:
                        for row in subscriptions:
                            await copy.write_row(row)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def stored_counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        followers = conn.execute("SELECT count(*) FROM followers").fetchone()
        subscriptions = conn.execute("SELECT count(*) FROM subscriptions").fetchone()
    return (followers[0] if followers else 0, subscriptions[0] if subscriptions else 0)


# What each writer does; every round runs them one after another, each into a fresh clone.
WRITERS = {
    "upsert_pages": "upsert_accounts, pages of 50, a transaction each",
    "upsert_pages_again": "  the same again (a re-sync: rows stored, unchanged)",
    "copy_pages": "bare COPY, pages of 50, a transaction each",
    "upsert_batch": "upsert_accounts, whole lists, one transaction",
    "copy_all": "bare COPY, all rows, one transaction",
}


GOAL_RATIO = 0.5
# Ratios of rows/s (best of the rounds), name → (label, (upserts, the COPY they are held to)).
RATIOS = {
    # As the issue measured it (0.11 before the bulk rewrite): production's pages against one
    # COPY of everything, so it also charges the upserts a transaction per page.
    "upsert_vs_copy_ratio": ("upsert pages / one COPY of all", ("upsert_pages", "copy_all")),
    # Like for like at page size: the same transactions, only the statements differ.
    "page_ratio": ("upsert pages / COPY pages", ("upsert_pages", "copy_pages")),
    "resync_page_ratio": ("re-sync pages / COPY pages", ("upsert_pages_again", "copy_pages")),
    # Like for like in bulk: one transaction each.
    "batch_ratio": ("upsert whole lists / one COPY of all", ("upsert_batch", "copy_all")),
}


def ratios_of(best: dict[str, float]) -> dict[str, float]:
    return {name: best[a] / best[b] for name, (_, (a, b)) in RATIOS.items()}


async def upserts_vs_copy(
    server: str, source_url: str, rounds: int, console: Console
) -> tuple[int, dict[str, list[float]]]:
    """Rows, and rows/s of each writer per round, each round into fresh clones."""
    exported = await asyncio.to_thread(export, source_url)
    template = "bench_rows_template"
    await asyncio.to_thread(prepare_template, server, template, exported)
    lists = grouped_lists(exported)
    pages = paged(lists)
    expected = (len({f[0] for _, _, f in exported.subscriptions}), len(exported.subscriptions))
    rps: dict[str, list[float]] = {name: [] for name in WRITERS}
    with console.status("upserts vs COPY…"):
        for round_no in range(rounds):
            for name in WRITERS:
                clone = f"bench_{name}_{round_no}"
                url = await asyncio.to_thread(databases.create, server, clone, template=template)
                try:
                    if name == "upsert_pages":
                        seconds = await upsert(url, pages, per_chunk=True)
                    elif name == "upsert_pages_again":
                        seconds = await upsert(url, pages, per_chunk=True, again=True)
                    elif name == "upsert_batch":
                        seconds = await upsert(url, lists, per_chunk=False)
                    elif name == "copy_pages":
                        seconds = await copy_pages(url, pages)
                    else:
                        seconds = await asyncio.to_thread(copy_all, url, exported)
                    got = await asyncio.to_thread(stored_counts, url)
                finally:
                    await asyncio.to_thread(databases.drop, server, clone)
                if got != expected:
                    raise BenchmarkError(
                        f"{name} stored {got} (followers, subscriptions), not {expected}"
                    )
                rps[name].append(len(exported.subscriptions) / seconds)
    return len(exported.subscriptions), rps


# ---------------------------------------------------------------------------------- main
def report(
    console: Console,
    *,
    rate: float,
    client_limit: bool,
    targets: list[Target],
    sync: SyncFigures,
    upsert_rows: int,
    writer_rps: dict[str, list[float]],
) -> dict[str, Any]:
    pages_per_s = sync.pages / sync.seconds
    expected_pages = sum(t.pages for t in targets)
    limit = f"client limit {rate:g}/s" if client_limit else "no client limit"
    table = Table(title=f"{PROFILES} profiles vs socialsim at {rate:g} req/s ({limit})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("profiles (pages each)", " ".join(f"{t.username}:{t.pages}" for t in targets))
    table.add_row("pages synced / expected from truth", f"{sync.pages:,} / {expected_pages:,}")
    table.add_row("ServiceCalls not succeeded", f"{sync.other_calls:,}")
    table.add_row("wall seconds (batch start → results)", f"{sync.seconds:.1f}")
    table.add_row("pages/s (wall)", f"{pages_per_s:.1f}")
    table.add_row("fraction of the rate (goal ≥ 0.9)", f"{pages_per_s / rate:.3f}")
    table.add_row("pages/s over the ledger span", f"{sync.pages / sync.ledger_seconds:.1f}")
    table.add_row(
        "mean ms per page: fetch / store (+ next)",
        f"{sync.page_ms[0]:.0f} / {sync.page_ms[1]:.0f}",
    )
    table.add_row("requests served / 429s", f"{sync.requests:,} / {sync.http_429:,}")
    cores = psutil.cpu_count() or 1
    for name, used in sync.cpu.items():
        table.add_row(f"CPU of {name} (cores busy)", f"{used / sync.seconds:.2f} of {cores}")
    for name, count in sync.rows.items():
        table.add_row(f"rows in {name}", f"{count:,}")
    synced_rows = sum(sync.rows.values())
    table.add_row(
        "rows written/s during the sync (all above)", f"{synced_rows / sync.seconds:,.0f}"
    )
    table.add_row("", "")
    table.add_row("follower rows re-written", f"{upsert_rows:,}")
    best = {name: max(r) for name, r in writer_rps.items()}
    for name, label in WRITERS.items():
        runs = " ".join(f"{r:,.0f}" for r in writer_rps[name])
        table.add_row(f"rows/s: {label}", f"{runs} (best {best[name]:,.0f})")
    ratios = ratios_of(best)
    for name, (label, _) in RATIOS.items():
        mark = " ✓" if ratios[name] >= GOAL_RATIO else ""
        table.add_row(f"{label} (best of each; goal ≥ {GOAL_RATIO})", f"{ratios[name]:.3f}{mark}")
    console.print(table)
    return {
        "benchmark": "sync",
        "rate_limit_rps": rate,
        "client_limit": client_limit,
        "profiles": len(targets),
        "pages": sync.pages,
        "expected_pages": expected_pages,
        "seconds": round(sync.seconds, 2),
        "pages_per_s": round(pages_per_s, 2),
        "fraction_of_rate": round(pages_per_s / rate, 3),
        "goal": 0.9,
        "requests": sync.requests,
        "http_429": sync.http_429,
        "page_fetch_ms": round(sync.page_ms[0], 1),
        "page_store_ms": round(sync.page_ms[1], 1),
        "sync_rows": sync.rows,
        "sync_rows_per_s": round(synced_rows / sync.seconds, 1),
        "cpu_cores_busy": {k: round(v / sync.seconds, 2) for k, v in sync.cpu.items()},
        "upsert_rows": upsert_rows,
        "upsert_rows_per_s": round(best["upsert_pages"], 1),
        "copy_rows_per_s": round(best["copy_all"], 1),
        "writer_rows_per_s": {name: round(rps, 1) for name, rps in best.items()},
        **{name: round(ratio, 3) for name, ratio in ratios.items()},
        "ratio_goal": GOAL_RATIO,
    }


async def main(
    *, rate: float, seconds: float, seed: int, world_profiles: int, rounds: int, client_limit: bool
) -> dict[str, Any]:
    console = Console(stderr=True)
    logs.configure("WARNING")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    stack = Stack(data_dir)
    try:
        with serve(seed=seed, profiles=world_profiles, rate_limit=rate, api_key=KEY) as sim:
            with console.status("starting PostgreSQL and Temporal, reading socialsim's truth…"):
                info, targets = await asyncio.gather(
                    asyncio.to_thread(stack.up), choose(sim.url, rate * seconds / PROFILES)
                )
            server, temporal_address = info.database_url, info.temporal_address
            if server is None or temporal_address is None:
                raise BenchmarkError(f"the stack did not start: {info.notes}")
            pids = {
                "this process (the worker)": os.getpid(),
                "socialsim": sim.pid,
                "postgres": info.postgres.pid or 0,
                "temporal": info.temporal.pid or 0,
            }
            url = await asyncio.to_thread(databases.create, server, "bench_sync")
            await asyncio.to_thread(db.upgrade, url)
            sync = await run_sync(
                url,
                temporal_address,
                sim.url,
                targets,
                pids=pids,
                rate=rate,
                client_limit=client_limit,
                console=console,
            )
        upsert_rows, writer_rps = await upserts_vs_copy(server, url, rounds, console)
    finally:
        stack.down()
        shutil.rmtree(data_dir, ignore_errors=True)
    return report(
        console,
        rate=rate,
        client_limit=client_limit,
        targets=targets,
        sync=sync,
        upsert_rows=upsert_rows,
        writer_rps=writer_rps,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate-limit", type=float, default=40.0, help="R: socialsim's req/s")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long a sync should take")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world-profiles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of upserts vs COPY")
    parser.add_argument(
        "--no-client-limit",
        action="store_true",
        help="no client-side shared limit: the client only obeys socialsim's 429s",
    )
    args = parser.parse_args()
    try:
        figures = asyncio.run(
            main(
                rate=args.rate_limit,
                seconds=args.seconds,
                seed=args.seed,
                world_profiles=args.world_profiles,
                rounds=args.rounds,
                client_limit=not args.no_client_limit,
            )
        )
    except BenchmarkError as exc:
        raise SystemExit(f"sync benchmark: {exc}") from None
    print(json.dumps(figures))  # noqa: T201 - the benchmark's output
