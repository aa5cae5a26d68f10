"""The fleet dispatcher on a real Temporal server against socialsim: a fleet kept current over
simulated days, two workers on one fleet, a provider rate the fleet must stay under, and the
per-profile Temporal Schedules of older versions moved into the fleet."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
)

from smcore.fleet import accounts, dispatch
from smcore.fleet import status as fleet_status
from smcore.orchestration import client as orchestration
from smcore.orchestration import task_queue
from smcore.orchestration.worker import running_worker
from smcore.store import db
from smcore.sync.models import Platform, ScheduleInput, Scope
from socialsim.testing import serve


async def _import(url: str, text: str) -> accounts.ImportReport:
    engine = db.async_engine(url, pool_size=1)
    try:
        return await accounts.import_rows(engine, accounts.read_text(text))
    finally:
        await engine.dispose()


async def _status(url: str) -> fleet_status.FleetStatus:
    engine = db.async_engine(url, pool_size=1)
    try:
        return await fleet_status.status(engine)
    finally:
        await engine.dispose()


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


@asynccontextmanager
async def _workers(s: Any, n: int, **overrides: Any) -> AsyncIterator[None]:
    """``n`` workers, each on its own connection, as separate processes would be."""
    config = s.env.client.service_client.config
    async with AsyncExitStack() as stack:
        for _ in range(n):
            client = await Client.connect(config.target_host, namespace=s.env.client.namespace)
            await stack.enter_async_context(
                running_worker(
                    s.settings(s.sim, **overrides),
                    database_url=s.database_url,
                    client=client,
                    max_concurrent_activities=32,
                    dispatch=True,
                )
            )
        yield


def _passes_done(s: Any, n: int) -> Callable[[], bool]:
    """Every account has closed ``n`` syncs and none is in flight."""
    return lambda: (
        s.scalar(
            "SELECT count(*) FROM sync_schedules s WHERE running_job_call_id IS NULL AND "
            "(SELECT count(*) FROM job_calls j WHERE j.kind = 'sync' AND "
            "j.status NOT IN ('pending', 'running') AND "
            "(j.params->>'fleet_account_id')::bigint = s.id) >= %s",
            n,
        )
        == s.scalar("SELECT count(*) FROM sync_schedules")
    )


async def test_the_fleet_is_kept_current_over_days_and_two_workers_never_overlap(
    syncer: Any,
) -> None:
    with serve(seed=5, profiles=80, channels=0) as sim:
        s = syncer(sim)
        index = s.truth("instagram")["profiles"]
        names = [p["username"] for p in index if p["exists"]][:60]
        missing = [p["username"] for p in index if not p["exists"]][:3]
        csv = "platform,username,cadence,scope\n" + "".join(
            f"instagram,{n},1d,profile\n" for n in names + missing
        )
        report = await _import(s.database_url, csv + "instagram,not a name,1d,profile\n")
        assert report.added == 63 and [b.line for b in report.bad] == [65]

        async with _workers(s, 2):
            await _until(_passes_done(s, 1), 180, "the first pass")
            # A day later on the platform and for the fleet: the second pass.
            s.advance(24)
            s.rows("UPDATE sync_schedules SET next_due_at = now() RETURNING id")
            await orchestration.wake_fleet(s.env.client, db.database_name(s.database_url))
            await _until(_passes_done(s, 2), 180, "the second pass")

        # Never two syncs of one account at once (two workers, two dispatcher starts).
        overlaps = s.scalar(
            "SELECT count(*) FROM job_calls a JOIN job_calls b "
            "ON a.params->>'fleet_account_id' = b.params->>'fleet_account_id' AND a.id < b.id "
            "WHERE a.kind = 'sync' AND b.kind = 'sync' AND b.started_at < a.finished_at"
        )
        assert overlaps == 0
        per_account = s.rows(
            "SELECT count(*) FROM job_calls WHERE kind = 'sync' "
            "GROUP BY params->>'fleet_account_id'"
        )
        assert sorted({n for (n,) in per_account}) == [2]
        # Both passes stored; the profiles equal the simulator's truth after the second.
        for name in random.Random(1).sample(names, 15):  # noqa: S311 - a fixed sample, not a secret
            truth = s.truth(f"instagram/{name}")["profile"]
            stored = s.rows(
                "SELECT p.followers_count, p.follows_count, p.posts_count, "
                "(SELECT count(*) FROM metric_snapshots m WHERE m.subject_type = 'profile' "
                "AND m.subject_id = p.id) FROM social_profiles p WHERE p.username = %s",
                name,
            )
            assert stored == [
                (truth["followers_count"], truth["follows_count"], truth["posts_count"], 2)
            ], name
        # The accounts learnt their ids; the missing ones are not failing, they were skipped.
        assert s.scalar("SELECT count(*) FROM sync_schedules WHERE ext_id IS NOT NULL") == 60
        assert s.rows(
            "SELECT DISTINCT last_status, failures FROM sync_schedules WHERE ext_id IS NULL"
        ) == [("skipped", 0)]
        status = await _status(s.database_url)
        assert status.by_state["scheduled"] == 63 and status.by_state["failing"] == 0


async def test_the_fleet_stays_within_a_providers_rate(syncer: Any) -> None:
    rate = 8.0
    with serve(seed=6, profiles=70, channels=0, rate_limit=rate) as sim:
        s = syncer(sim)
        names = [p["username"] for p in s.truth("instagram")["profiles"] if p["exists"]][:60]
        await _import(
            s.database_url,
            "platform,username,scope\n" + "".join(f"instagram,{n},profile\n" for n in names),
        )
        httpx.post(f"{sim.url}/_sim/stats/reset", timeout=10).raise_for_status()
        began = time.monotonic()
        # Configured a little under the provider's limit, as the docs advise: the limiter's
        # grants leave a busy worker's event loop a few ms apart from when they reach it.
        overrides = {"instagram_provider_priority": "rocket", "rocket_rate_limit_rps": 0.75 * rate}
        async with _workers(s, 1, **overrides):
            # While the pass runs, the fleet shows lag and work in flight, never failures.
            seen_lag = False
            while not _passes_done(s, 1)():
                status = await _status(s.database_url)
                assert status.by_state["failing"] == 0
                assert status.by_state["running"] <= 12  # the room: 6 req/s x 2
                seen_lag = seen_lag or status.lag.max_s > 0
                assert time.monotonic() - began < 120, "the pass did not finish"
                await asyncio.sleep(0.5)
        elapsed = time.monotonic() - began
        stats = httpx.get(f"{sim.url}/_sim/stats", timeout=10).json()
        codes: dict[str, int] = {}
        for by_code in stats["by_endpoint"].values():
            for code, n in by_code.items():
                codes[code] = codes.get(code, 0) + n
        assert seen_lag
        assert codes.get("200", 0) >= 60
        # Near zero: the fleet waits in the store, not at the provider's door.
        assert codes.get("429", 0) <= 0.05 * stats["total"]
        assert stats["total"] / elapsed <= rate * 1.05
        assert s.scalar("SELECT count(*) FROM sync_schedules WHERE last_status = 'succeeded'") == 60


async def test_per_profile_schedules_of_older_versions_move_into_the_fleet(syncer: Any) -> None:
    with serve(seed=7, profiles=5, channels=0) as sim:
        s = syncer(sim)
        name = next(p["username"] for p in s.truth("instagram")["profiles"] if p["exists"])
        database = db.database_name(s.database_url)
        sid = f"{orchestration.fleet_schedule_prefix()}instagram-{name}-{database}"
        await s.env.client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "ScheduledSync",
                    ScheduleInput(Platform.INSTAGRAM, name, Scope.PROFILE, 3.0),
                    id=f"{sid}-run",
                    task_queue=task_queue(database),
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                state=ScheduleState(paused=True),
            ),
        )
        async with _workers(s, 1):
            await _until(_passes_done(s, 1), 60, "the moved schedule's first sync")
        # The dispatcher's first round ran the store's daily upkeep (partitions, retention).
        history = s.env.client.get_workflow_handle(orchestration.fleet_workflow_id(database))
        upkeep = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in history.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert upkeep[:2] == ["store_upkeep", "dispatch_fleet"]
        ids = [x.id async for x in await s.env.client.list_schedules()]
        assert sid not in ids
        assert s.rows("SELECT username, scope, refresh_days FROM sync_schedules") == [
            (name, "profile", 3.0)
        ]


async def test_a_batch_whose_round_was_lost_is_started_later(syncer: Any) -> None:
    with serve(seed=8, profiles=12, channels=0) as sim:
        s = syncer(sim)
        names = [p["username"] for p in s.truth("instagram")["profiles"] if p["exists"]][:10]
        await _import(
            s.database_url,
            "platform,username,scope\n" + "".join(f"instagram,{n},profile\n" for n in names),
        )
        # A round committed its batch, then its worker died before the dispatcher heard.
        engine = db.async_engine(s.database_url, pool_size=1)
        try:
            lost = await dispatch.dispatch(engine, dict.fromkeys(Platform, 100))
        finally:
            await engine.dispose()
        assert lost.accounts == 10 and not lost.orphans
        s.rows(
            "UPDATE job_calls SET created_at = now() - interval '3 minutes' "
            "WHERE id = %s RETURNING id",
            lost.batches[0],
        )
        batch = lost.batches[0]
        async with _workers(s, 1):
            await _until(_passes_done(s, 1), 90, "the lost batch's syncs")
            # The batch closes after its last child: wait for it too.
            await _until(
                lambda: (
                    s.scalar("SELECT status FROM job_calls WHERE id = %s", batch)
                    not in ("pending", "running")
                ),
                60,
                "the lost batch to close",
            )
        assert s.rows("SELECT status FROM job_calls WHERE id = %s", batch) == [("succeeded",)]
        assert s.scalar("SELECT count(*) FROM job_calls WHERE kind = 'batch'") == 1


async def test_a_sync_that_fails_for_good_fails_alone_in_its_group(syncer: Any) -> None:
    """The fleet's syncs run a group to an activity: one that cannot run at all (its job is
    invalid) closes as failed and backs off; the others of its group succeed."""
    with serve(seed=6, profiles=12, channels=0) as sim:
        s = syncer(sim)
        names = [p["username"] for p in s.truth("instagram")["profiles"] if p["exists"]][:10]
        csv = "platform,username,cadence,scope\n" + "".join(
            f"instagram,{n},1d,profile\n" for n in names
        )
        assert (await _import(s.database_url, csv)).added == 10
        broken = names[3]
        s.rows("UPDATE sync_schedules SET scope = 'bogus' WHERE username = %s RETURNING id", broken)
        async with _workers(s, 1):
            await _until(_passes_done(s, 1), 120, "the pass")
        rows = s.rows(
            "SELECT username, last_status, failures, last_error FROM sync_schedules "
            "ORDER BY username"
        )
        failed = [r for r in rows if r[1] != "succeeded"]
        assert [(r[0], r[1], r[2]) for r in failed] == [(broken, "failed", 1)]
        assert "InvalidJobError" in failed[0][3]
        assert (
            s.scalar("SELECT count(*) FROM job_calls WHERE kind = 'sync' AND status = 'succeeded'")
            == 9
        )
