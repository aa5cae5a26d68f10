"""Fleet throughput: N monitored accounts imported from a CSV, a full pass and a refresh pass
by the fleet dispatcher at an unlimited provider rate, held against a bare loop over the engine.

socialsim serves a world of N Instagram profiles (no channels). A CSV of every existing profile
(``platform,username,cadence,scope``) is written with ``--bad-rows`` bad rows at known lines
(a bad username, an unknown platform, a cadence under the minimum, a row short of fields) and
imported with ``smcore.fleet.accounts`` (timed); the bad lines it reports must be exactly the
injected ones, and every other row must be added.

The worker runs in a process of its own (``running_worker(..., dispatch=True)``, ``--concurrency``
activities and sync slots, the fleet's room twice that: ``sim_settings``), so its RSS, sampled
every 0.5 s, is the worker's alone. Pass 1: the dispatcher is woken and every account syncs
once (done when each has closed a sync since the pass began). Pass 2, the refresh: the
simulator's clock moves 24 hours, every account is made due at once, the dispatcher is woken,
and every account syncs again. A pass's time runs from the wake to the last account's close
(the database's clock).

Per pass: accounts/s and accounts/hour, provider calls/s (socialsim's stats, reset per pass),
accounts by last status, and the cores each process kept busy. After each pass a random sample
of ``--sample`` accounts is checked against the simulator's truth: followers, follows and posts
counts, and one profile snapshot per pass (exit code 1 on any mismatch).

The bare loop, in the same run: the worker is stopped, the clock moves 24 hours again, and
``--bare-accounts`` of the accounts are synced by ``SyncService`` directly (``create_job``,
``start``, ``run`` per stream, ``finish``), ``--concurrency`` at once, on an engine and provider
client set up as the worker's, without Temporal: the same pages (provider calls per account are
given for both). The orchestration ratio = bare seconds per account / refresh pass seconds per
account (goal >= 0.8: orchestration costs at most a fifth). Database size per 1,000 accounts:
``pg_database_size`` after the two passes / N x 1,000 (it holds the migrated schema's fixed
few MB, so at small N the growth per 1,000 accounts, import and each pass, says more).

``--pass-timeout``: a pass still running then is stopped there and its figures are of the
accounts done (``complete`` false); nothing after it runs but the bare loop, whose ratio is then
taken against that pass. So a world too large to sync in the time at hand still gives rates.

Goals: ratio >= 0.8; a profile-only pass >= 20 accounts/s (10^6 accounts a day is ~12/s).
Memory must not grow with N: run it for two sizes and compare ``worker_peak_rss_mb``.
``--scope all`` syncs followers, followings, posts and comments of each account too: far slower.

An embedded PostgreSQL and Temporal dev server run in a temporary directory (the user's
.devstack is left alone); everything started is stopped and the directory removed.

    uv run python benchmarks/fleet.py [--profiles 5000] [--scope profile|all] [--concurrency 64]
                                      [--bad-rows 3] [--sample 200] [--seed 1]
                                      [--bare-accounts 2000] [--pass-timeout 7200]

The last line is one JSON object with the figures; exit code 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from devstack import Stack, databases, logs
from smcore.fleet import accounts
from smcore.orchestration.client import wake_fleet
from smcore.orchestration.worker import POOL_SPARE, pool_size, running_worker
from smcore.providers import Providers
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import FinishInput, StreamOutcome
from smcore.sync.service import SyncService, create_job
from socialsim.testing import serve

KEY = "bench-key"
DATABASE = "bench_fleet"
GOAL_RATIO = 0.8
GOAL_PROFILE_RATE = 20.0  # accounts/s of a profile-only pass
RSS_EVERY_S = 0.5
POLL_S = 1.0
WORKER_STOP_S = 60.0
ROOM_PER_SLOT = 2  # the fleet's room per sync slot of the worker (sim_settings)
Scope = Literal["profile", "all"]
# One of each kind of bad row, used in turn; {n} makes each distinct.
BAD_ROWS = (
    "instagram,not a name {n}!,1d,{scope}",  # not an Instagram username
    "myspace,someone_{n},1d,{scope}",  # an unknown platform
    "instagram,cadence_{n},2m,{scope}",  # under the five-minute minimum
    "instagram,short_row_{n}",  # fields missing
)


class BenchmarkError(Exception):
    """The benchmark cannot give figures (said on stderr, exit status 1)."""


# ---------------------------------------------------------------------------------- helpers
def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def scalar(url: str, sql: str, *args: Any) -> Any:
    found = query(url, sql, *args)
    return found[0][0] if found else None


def cpu_seconds(pid: int, *, children: bool) -> float:
    """CPU seconds of a process, with its children's (PostgreSQL's backends) if told: the live
    ones' and those that ended (a backend's time is its parent's once reaped)."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system
        if children:
            total += times.children_user + times.children_system
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += sum(child.cpu_times()[:2])
    except psutil.NoSuchProcess:
        return 0.0
    return total


@dataclass(frozen=True)
class Watched:
    """A process whose CPU the table gives (with its children: PostgreSQL's backends)."""

    pid: int
    children: bool


def cpu_snapshot(watched: dict[str, Watched]) -> dict[str, float]:
    return {name: cpu_seconds(w.pid, children=w.children) for name, w in watched.items()}


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    root = psutil.Process(pid)
    total = int(root.memory_info().rss)
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += int(child.memory_info().rss)
    return total


class Sampler:
    """The worker's RSS every 0.5 s (peak per phase) and the load average, in a thread."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.phase = "start"
        self.peak: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self.load: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(RSS_EVERY_S):
            self.load.append(os.getloadavg()[0])
            if self.pid is None:
                continue
            try:
                rss = rss_bytes(self.pid)
            except psutil.NoSuchProcess:
                continue
            self.first.setdefault(self.phase, rss)
            self.peak[self.phase] = max(self.peak.get(self.phase, 0), rss)


# ---------------------------------------------------------------------------------- the fleet
def sim_settings(sim_url: str, concurrency: int) -> dict[str, Any]:
    """SM Core's settings at the simulator, no rate limits, the fleet's room ``ROOM_PER_SLOT``
    times the worker's sync slots (``concurrency``): syncs beyond the slots wait in the worker,
    ready, until a slot frees, so the slots do not stand empty until the dispatcher's next
    round (SM Core's defaults: room 64 a platform, 16 slots a worker). The syncs that run at
    once are ``concurrency``, as many as the bare loop's."""
    return {
        "rocket_api_host": sim_url,
        "rocket_api_key": SecretStr(KEY),
        "rapid_scraper_api_host": sim_url,
        "rapid_api_key": SecretStr(KEY),
        "youtube_api_host": sim_url,
        "youtube_api_key": SecretStr(KEY),
        "fleet_max_in_flight": ROOM_PER_SLOT * concurrency,
    }


def write_csv(path: Path, names: list[str], scope: Scope, bad: int) -> list[int]:
    """The fleet's import file; returns the lines of the bad rows in it."""
    at = {(i + 1) * len(names) // (bad + 1) + i for i in range(bad)}
    lines = ["platform,username,cadence,scope"]
    bad_lines: list[int] = []
    good = iter(names)
    for i in range(len(names) + bad):
        if i in at:
            template = BAD_ROWS[len(bad_lines) % len(BAD_ROWS)]
            lines.append(template.format(n=len(bad_lines), scope=scope))
            bad_lines.append(len(lines))
        else:
            lines.append(f"instagram,{next(good)},1d,{scope}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad_lines


async def import_file(url: str, path: Path) -> tuple[accounts.ImportReport, float]:
    """Read and import the file as ``sm-core fleet import`` does; the report and seconds."""
    engine = db.async_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(accounts.read(f))
        report = await accounts.import_rows(engine, rows)
        return report, time.perf_counter() - started
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker process is given (picklable: it crosses into a spawned interpreter)."""

    overrides: dict[str, Any]
    database_url: str
    temporal_address: str
    concurrency: int
    log: Path  # its stdout and stderr, shown if it dies


def worker_main(spec: WorkerSpec, ready: EventType, stop: EventType) -> None:
    """The worker process: ``running_worker(..., dispatch=True)`` until ``stop`` is set."""
    with spec.log.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    logs.configure("WARNING")

    async def run() -> None:
        client = await Client.connect(spec.temporal_address)
        async with running_worker(
            Settings(**spec.overrides),
            database_url=spec.database_url,
            client=client,
            max_concurrent_activities=spec.concurrency,
            dispatch=True,
        ):
            ready.set()
            await asyncio.to_thread(stop.wait)

    asyncio.run(run())


class WorkerProcess:
    """The worker in a spawned process (a fresh interpreter: its RSS is the worker's alone)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.log = spec.log
        spawn = multiprocessing.get_context("spawn")
        self._ready, self._stop = spawn.Event(), spawn.Event()
        self._process = spawn.Process(
            target=worker_main, args=(spec, self._ready, self._stop), name="fleet-worker"
        )

    def start(self) -> int:
        """Start it and wait until it polls its task queue; its pid."""
        self._process.start()
        while not self._ready.wait(0.5):
            self.check()
        assert self._process.pid is not None  # noqa: S101 - started above
        return self._process.pid

    def check(self) -> None:
        """Raise if the worker is gone (its exit code and the end of its output)."""
        if self._process.is_alive():
            return
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise BenchmarkError(f"the worker exited (code {self._process.exitcode}):\n{tail}")

    def stop(self) -> None:
        """Stop it (a graceful shutdown first), whatever state it is in."""
        if self._process.pid is None:
            return
        self._stop.set()
        self._process.join(WORKER_STOP_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


@dataclass
class PassFigures:
    accounts: int
    complete: bool  # every account synced (not stopped at --pass-timeout)
    seconds: float
    calls: int
    statuses: dict[str, int]
    cpu: dict[str, float]  # CPU seconds per process during the pass
    load: float  # mean 1-minute load average during the pass
    calls_per_account: float = field(init=False)

    def __post_init__(self) -> None:
        self.calls_per_account = self.calls / max(1, self.accounts)

    @property
    def per_s(self) -> float:
        return self.accounts / self.seconds

    def figures(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "complete": self.complete,
            "seconds": round(self.seconds, 2),
            "accounts_per_s": round(self.per_s, 2),
            "accounts_per_hour": round(self.per_s * 3600),
            "provider_calls": self.calls,
            "calls_per_s": round(self.calls / self.seconds, 2),
            "calls_per_account": round(self.calls_per_account, 3),
            "statuses": self.statuses,
            "failed": self.statuses.get("failed", 0) + self.statuses.get("partial", 0),
            "skipped": self.statuses.get("skipped", 0),
            "cpu_cores_busy": {k: round(v / self.seconds, 2) for k, v in self.cpu.items()},
            "load_avg_1m": round(self.load, 2),
        }


def served(http: httpx.Client) -> int:
    response = http.get("/_sim/stats")
    response.raise_for_status()
    return int(response.json()["total"])


def control(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> None:
    http.post(path, json=body).raise_for_status()


_CLOSED_SINCE = (
    "SELECT count(*) FROM sync_schedules "
    "WHERE running_job_call_id IS NULL AND last_finished_at >= %s"
)


async def fleet_pass(
    url: str,
    client: Client,
    http: httpx.Client,
    worker: WorkerProcess,
    *,
    total: int,
    refresh: bool,
    watched: dict[str, Watched],
    sampler: Sampler,
    timeout_s: float,
    console: Console,
) -> PassFigures:
    """Wake the dispatcher (a refresh: every account due now) and wait until every account
    has closed a sync since, or ``timeout_s`` passed (then the figures are of the accounts
    done so far, ``complete`` false)."""
    await asyncio.to_thread(control, http, "/_sim/stats/reset")
    if refresh:
        began = await asyncio.to_thread(
            scalar, url, "UPDATE sync_schedules SET next_due_at = now() RETURNING now()"
        )
    else:
        began = await asyncio.to_thread(scalar, url, "SELECT now()")
    load_from = len(sampler.load)
    cpu_before = cpu_snapshot(watched)
    wall = time.monotonic()
    if not await wake_fleet(client, db.database_name(url)):
        raise BenchmarkError("the fleet dispatcher is not running")
    label = "refresh pass" if refresh else "full pass"
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[rate]}"), console=console) as progress:
        task = progress.add_task(label, total=total, rate="")
        while True:
            done = int(await asyncio.to_thread(scalar, url, _CLOSED_SINCE, began))
            elapsed = time.monotonic() - wall
            progress.update(task, completed=done, rate=f"{done / max(elapsed, 1e-9):.1f}/s")
            if done >= total:
                break
            worker.check()
            if elapsed > timeout_s:
                console.print(f"[yellow]{label}: stopped at --pass-timeout, {done} of {total}")
                break
            await asyncio.sleep(POLL_S)
    cpu = {k: v - cpu_before[k] for k, v in cpu_snapshot(watched).items()}
    complete = done >= total
    seconds = (
        float(
            await asyncio.to_thread(
                scalar,
                url,
                "SELECT EXTRACT(EPOCH FROM max(last_finished_at) - %s)::float8 FROM sync_schedules",
                began,
            )
        )
        if complete
        else time.monotonic() - wall
    )
    statuses = dict(
        await asyncio.to_thread(
            query,
            url,
            "SELECT last_status, count(*) FROM sync_schedules WHERE last_finished_at >= %s "
            "GROUP BY last_status ORDER BY 1",
            began,
        )
    )
    load = sampler.load[load_from:] or [os.getloadavg()[0]]
    return PassFigures(
        accounts=done,
        complete=complete,
        seconds=seconds,
        calls=await asyncio.to_thread(served, http),
        statuses={str(k): int(v) for k, v in statuses.items()},
        cpu=cpu,
        load=sum(load) / len(load),
    )


# ---------------------------------------------------------------------------------- the bare loop
async def bare_loop(
    url: str,
    http: httpx.Client,
    settings: Settings,
    names: list[str],
    *,
    scope: Scope,
    concurrency: int,
    watched: dict[str, Watched],
    sampler: Sampler,
    console: Console,
) -> PassFigures:
    """The same syncs straight over ``SyncService``, ``concurrency`` at once, no Temporal."""
    engine = db.async_engine(url, pool_size=pool_size(concurrency), max_overflow=POOL_SPARE)
    statuses: dict[str, int] = {}
    try:
        async with Providers.from_settings(settings) as providers:
            service = SyncService(engine, providers)
            gate = asyncio.Semaphore(concurrency)

            async def stream(job_id: int, name: str) -> StreamOutcome:
                while True:
                    outcome = await service.run(job_id, name)
                    if outcome.status != "waiting":
                        return outcome
                    await asyncio.sleep(max(1.0, outcome.retry_after_s or 30.0))

            async def one(name: str) -> None:
                async with gate:
                    job_id = await create_job(
                        engine, platform="instagram", scope=scope, username=name
                    )
                    started = await service.start(job_id, None)
                    outcomes: list[StreamOutcome] = []
                    for s in started.streams:
                        outcome = await stream(job_id, s)
                        outcomes.append(outcome)
                        if s == started.streams[0] and outcome.status in ("skipped", "failed"):
                            break  # no profile: nothing else to sync, as the workflow
                    result = await service.finish(FinishInput(job_id, outcomes))
                    statuses[result.status] = statuses.get(result.status, 0) + 1
                    progress.advance(task)

            async with engine.connect():
                pass  # connected before the clock starts, as the worker's engine is
            await asyncio.to_thread(control, http, "/_sim/stats/reset")
            load_from = len(sampler.load)
            cpu_before = cpu_snapshot(watched)
            columns = (TextColumn("bare loop"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
                task = progress.add_task("bare", total=len(names))
                started_at = time.perf_counter()
                await asyncio.gather(*(one(n) for n in names))
                seconds = time.perf_counter() - started_at
            cpu = {k: v - cpu_before[k] for k, v in cpu_snapshot(watched).items()}
    finally:
        await engine.dispose()
    load = sampler.load[load_from:] or [os.getloadavg()[0]]
    return PassFigures(
        accounts=len(names),
        complete=True,
        seconds=seconds,
        calls=await asyncio.to_thread(served, http),
        statuses=statuses,
        cpu=cpu,
        load=sum(load) / len(load),
    )


# ---------------------------------------------------------------------------------- checks
_STORED = (
    "SELECT p.followers_count, p.follows_count, p.posts_count, "
    "(SELECT count(*) FROM metric_snapshots m WHERE m.subject_type = 'profile' "
    "AND m.subject_id = p.id) FROM social_profiles p "
    "WHERE p.platform = 'instagram' AND p.username = %s"
)


def check_sample(url: str, http: httpx.Client, names: list[str], passes: int) -> list[str]:
    """Each sampled account's stored counts against the simulator's truth now, and one
    profile snapshot per pass; the differences found."""
    problems = []
    with psycopg.connect(url) as conn:
        for name in names:
            response = http.get(f"/_sim/truth/instagram/{name}")
            response.raise_for_status()
            truth = response.json()["profile"]
            want = (truth["followers_count"], truth["follows_count"], truth["posts_count"], passes)
            stored = conn.execute(_STORED, (name,)).fetchall()
            if stored != [want]:
                problems.append(f"pass {passes}: {name} stored {stored}, truth {want}")
    return problems


# ---------------------------------------------------------------------------------- main
@dataclass
class Run:
    accounts: int
    import_s: float
    bad_lines: list[int]
    passes: list[PassFigures]
    bare: PassFigures
    db_bytes: dict[str, int]
    rss: Sampler
    problems: list[str]
    sampled: int


@dataclass
class Bench:
    """What one run works with, once the simulator and the stack are up."""

    args: argparse.Namespace
    console: Console
    url: str
    temporal_address: str
    http: httpx.Client
    overrides: dict[str, Any]
    watched: dict[str, Watched]
    sampler: Sampler
    names: list[str]


async def import_fleet(bench: Bench, csv_path: Path) -> tuple[float, list[int]]:
    """Write the CSV, import it; the seconds it took and the bad lines it reported."""
    injected = write_csv(csv_path, bench.names, bench.args.scope, bench.args.bad_rows)
    with bench.console.status(f"importing {len(bench.names):,} accounts…"):
        report_, seconds = await import_file(bench.url, csv_path)
    reported = [b.line for b in report_.bad]
    if reported != injected or report_.added != len(bench.names):
        raise BenchmarkError(
            f"import: bad lines {reported} (injected {injected}), "
            f"{report_.added} added of {len(bench.names)}"
        )
    return seconds, reported


async def exercise(bench: Bench, worker: WorkerProcess, data_dir: Path) -> Run:
    """Import, the two passes with their checks, the bare loop."""
    args, url, http, sampler = bench.args, bench.url, bench.http, bench.sampler
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible sample, not a secret
    sample = rng.sample(bench.names, min(args.sample, len(bench.names)))
    db_bytes = {"migrated": int(await asyncio.to_thread(scalar, url, _DB_SIZE))}
    sampler.phase = "import"
    import_s, bad_lines = await import_fleet(bench, data_dir / "fleet.csv")
    db_bytes["imported"] = int(await asyncio.to_thread(scalar, url, _DB_SIZE))

    client = await Client.connect(bench.temporal_address)
    passes: list[PassFigures] = []
    problems: list[str] = []
    for number in (1, 2)[: args.passes]:
        if number == 2:
            await asyncio.to_thread(control, http, "/_sim/clock", {"advance_hours": 24})
        sampler.phase = f"pass{number}"
        passes.append(
            await fleet_pass(
                url,
                client,
                http,
                worker,
                total=len(bench.names),
                refresh=number == 2,
                watched=bench.watched,
                sampler=sampler,
                timeout_s=args.pass_timeout,
                console=bench.console,
            )
        )
        if not passes[-1].complete:
            break  # stopped at --pass-timeout: the store is half a pass, nothing to check
        sampler.phase = f"check{number}"
        with bench.console.status(f"checking {len(sample)} accounts against the truth…"):
            problems += await asyncio.to_thread(check_sample, url, http, sample, number)
        db_bytes[f"pass{number}"] = int(await asyncio.to_thread(scalar, url, _DB_SIZE))

    # The bare loop has the machine as the fleet had it: the worker is stopped first.
    sampler.phase = "stopped"
    await asyncio.to_thread(worker.stop)
    watched = {k: v for k, v in bench.watched.items() if k != "worker"}
    await asyncio.to_thread(control, http, "/_sim/clock", {"advance_hours": 24})
    bare = await bare_loop(
        url,
        http,
        Settings(**bench.overrides),
        rng.sample(bench.names, min(args.bare_accounts, len(bench.names))),
        scope=args.scope,
        concurrency=args.concurrency,
        watched=watched,
        sampler=sampler,
        console=bench.console,
    )
    return Run(
        accounts=len(bench.names),
        import_s=import_s,
        bad_lines=bad_lines,
        passes=passes,
        bare=bare,
        db_bytes=db_bytes,
        rss=sampler,
        problems=problems,
        sampled=len(sample) if passes[0].complete else 0,  # a stopped pass is not checked
    )


async def measure(args: argparse.Namespace, console: Console, data_dir: Path) -> Run:
    """Start the simulator, the stack and the worker; run; stop everything, whatever happens."""
    stack = Stack(data_dir / "stack")
    worker: WorkerProcess | None = None
    try:
        with (
            serve(
                seed=args.seed,
                profiles=args.profiles,
                channels=0,
                api_key=KEY,
                startup_timeout_s=600,  # a world of 100,000 profiles takes a while to build
            ) as sim,
            httpx.Client(base_url=sim.url, timeout=120) as http,
            Sampler() as sampler,
        ):
            with console.status("starting PostgreSQL and Temporal…"):
                info = await asyncio.to_thread(stack.up)
            if info.database_url is None or info.temporal_address is None:
                raise BenchmarkError(f"the stack did not start: {info.notes}")
            url = await asyncio.to_thread(databases.create, info.database_url, DATABASE)
            await asyncio.to_thread(db.upgrade, url)
            index = (await asyncio.to_thread(http.get, "/_sim/truth/instagram")).json()
            overrides = sim_settings(sim.url, args.concurrency)
            with console.status("starting the worker…"):
                spec = WorkerSpec(
                    overrides, url, info.temporal_address, args.concurrency, data_dir / "worker.log"
                )
                worker = WorkerProcess(spec)
                pid = await asyncio.to_thread(worker.start)
            sampler.pid = pid
            bench = Bench(
                args=args,
                console=console,
                url=url,
                temporal_address=info.temporal_address,
                http=http,
                overrides=overrides,
                watched={
                    "worker": Watched(pid, children=True),
                    "this process": Watched(os.getpid(), children=False),
                    "socialsim": Watched(sim.pid, children=False),
                    "postgres": Watched(info.postgres.pid or 0, children=True),
                    "temporal": Watched(info.temporal.pid or 0, children=False),
                },
                sampler=sampler,
                names=[p["username"] for p in index["profiles"] if p["exists"]],
            )
            return await exercise(bench, worker, data_dir)
    finally:
        if worker is not None:
            worker.stop()
        stack.down()


_DB_SIZE = "SELECT pg_database_size(current_database())"
MB = 1024 * 1024


def report(args: argparse.Namespace, run: Run, console: Console) -> dict[str, Any]:
    """The table on stderr; the figures for the last line."""
    labels = ("pass 1 (full)", "pass 2 (refresh)")
    done = [p for p in run.passes if p.complete]
    # The bare loop is a refresh: held to the refresh pass (to the full pass if it is all
    # that ran to its end). Bare seconds per account over the fleet's: 1.0, no orchestration.
    against = run.passes[1] if len(done) == 2 else run.passes[0]
    ratio = run.bare.seconds / run.bare.accounts * against.per_s
    last_size = run.db_bytes[f"pass{len(done)}"] if done else run.db_bytes["imported"]
    per_1000 = last_size / run.accounts * 1000
    sizes = list(run.db_bytes.values())
    growth = {k: b - a for k, a, b in zip(list(run.db_bytes)[1:], sizes, sizes[1:], strict=False)}
    peak = max(run.rss.peak.values(), default=0)
    passes_rss = [run.rss.peak.get(f"pass{i + 1}", 0) for i in range(len(run.passes))]
    figures: dict[str, Any] = {
        "benchmark": "fleet",
        "profiles": args.profiles,
        "accounts": run.accounts,
        "scope": args.scope,
        "concurrency": args.concurrency,
        "seed": args.seed,
        "import_s": round(run.import_s, 2),
        "import_rows_per_s": round(run.accounts / run.import_s),
        "bad_lines": run.bad_lines,
        **{f"pass{i + 1}": p.figures() for i, p in enumerate(run.passes)},
        "bare": run.bare.figures(),
        "orchestration_ratio": round(ratio, 3),
        "ratio_against": "pass2" if against is not run.passes[0] else "pass1",
        "ratio_goal": GOAL_RATIO,
        "profile_rate_goal": GOAL_PROFILE_RATE,
        "db_bytes_per_1000": round(per_1000),
        "db_bytes_growth_per_1000": {k: round(v / run.accounts * 1000) for k, v in growth.items()},
        "db_bytes": run.db_bytes,
        "worker_rss_mb_ready": round(run.rss.first.get("import", 0) / MB, 1),
        "worker_peak_rss_mb": round(peak / MB, 1),
        "worker_peak_rss_mb_by_pass": [round(b / MB, 1) for b in passes_rss],
        "sampled": run.sampled,
        "mismatches": len(run.problems),
        "problems": run.problems[:20],
    }
    table = Table(title=f"fleet: {run.accounts:,} accounts, scope {args.scope}, at no rate limit")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("import (rows/s)", f"{run.import_s:.2f} s ({run.accounts / run.import_s:,.0f}/s)")
    table.add_row("bad lines reported (= injected)", ", ".join(map(str, run.bad_lines)))
    goal = GOAL_PROFILE_RATE if args.scope == "profile" else None
    for label, p in (*zip(labels, run.passes, strict=False), ("bare loop", run.bare)):
        mark = " ✓" if goal and p.per_s >= goal else ""
        cut = "" if p.complete else f" [yellow](stopped at --pass-timeout: {p.accounts:,})[/]"
        table.add_row(
            f"{label}: accounts/s (per hour)",
            f"{p.per_s:.2f}{mark} ({p.per_s * 3600:,.0f}) in {p.seconds:.1f} s{cut}",
        )
        table.add_row(
            f"{label}: provider calls/s (per account)",
            f"{p.calls / p.seconds:.1f} ({p.calls_per_account:.2f})",
        )
        table.add_row(f"{label}: statuses", " ".join(f"{k}:{v}" for k, v in p.statuses.items()))
        busy = " ".join(f"{k}:{v / p.seconds:.2f}" for k, v in p.cpu.items())
        table.add_row(f"{label}: cores busy (load avg {p.load:.1f})", busy)
    mark = " ✓" if ratio >= GOAL_RATIO else ""
    table.add_row(
        f"orchestration ratio: bare s/account ÷ {figures['ratio_against']}'s (goal ≥ {GOAL_RATIO})",
        f"{ratio:.3f}{mark}",
    )
    table.add_row("database bytes per 1,000 accounts", f"{per_1000 / MB:.2f} MB")
    table.add_row(
        f"  growth per 1,000: {' / '.join(growth)}",
        " / ".join(f"{v / run.accounts * 1000 / MB:.2f} MB" for v in growth.values()),
    )
    table.add_row(
        "worker RSS: ready / peak (per pass)",
        f"{figures['worker_rss_mb_ready']} / {figures['worker_peak_rss_mb']} MB "
        f"({', '.join(map(str, figures['worker_peak_rss_mb_by_pass']))})",
    )
    table.add_row(
        f"sampled accounts that differ from the truth (of {run.sampled} a pass)",
        str(len(run.problems)),
    )
    console.print(table)
    for problem in run.problems[:20]:
        console.print(f"[red]{problem}")
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console(stderr=True)
    logs.configure("WARNING")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        run = await measure(args, console, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return report(args, run, console)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=5000, help="N: the world's profiles")
    parser.add_argument("--scope", choices=("profile", "all"), default="profile")
    parser.add_argument("--concurrency", type=int, default=64, help="the worker's activities")
    parser.add_argument("--bad-rows", type=int, default=3, help="bad rows injected in the CSV")
    parser.add_argument("--sample", type=int, default=200, help="accounts checked per pass")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bare-accounts", type=int, default=2000, help="the bare loop's slice")
    parser.add_argument("--pass-timeout", type=float, default=7200.0, help="seconds per pass")
    parser.add_argument(
        "--passes", type=int, choices=(1, 2), default=2, help="1: the full pass only (no refresh)"
    )
    arguments = parser.parse_args()
    try:
        result = asyncio.run(main(arguments))
    except BenchmarkError as exc:
        raise SystemExit(f"fleet benchmark: {exc}") from None
    print(json.dumps(result))  # noqa: T201 - the benchmark's last line
    sys.exit(1 if result["mismatches"] else 0)
