"""The fleet in the store: importing accounts, dispatching the due ones, closing them with
backoff, and the status and plan read from it. Real PostgreSQL; the clock is passed in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.fleet import accounts, dispatch
from smcore.fleet import plan as fleet_plan
from smcore.fleet import status as fleet_status
from smcore.settings import Settings
from smcore.store import db
from smcore.store.models import Status
from smcore.sync.models import Platform

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ROOM = dict.fromkeys(Platform, 1000)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.async_engine(database_url, pool_size=4)
    yield engine
    await engine.dispose()


def rows(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    """The rows of a statement (none for a statement that returns none)."""
    with psycopg.connect(url) as conn:
        cursor = conn.execute(query, args)  # type: ignore[arg-type]  # test SQL literals
        return cursor.fetchall() if cursor.description else []


CSV = """platform,username,ext_id,cadence,scope,refresh_days
instagram,@Anna.K,,1h,all,
instagram,ivan_petrov,,daily,profile,7
youtube,,UCabcdefghijklmnopqrstuv,weekly,all,
myspace,tom,,1d,all,
instagram,,,1d,all,
instagram,bad name!,,1d,all,
youtube,some-handle,,1d,all,
instagram,olga,,2m,all,
tiktok,petr,,1d,likes,
instagram,maria,,1d,all,-3
instagram,too,many,fields,here,1,2
instagram,12345,,1d,all,
tiktok,@Charli.D,,daily,all,
tiktok,x,,1d,all,
"""


async def test_import_reports_bad_rows_by_line_and_is_idempotent(
    engine: AsyncEngine, database_url: str
) -> None:
    parsed = accounts.read_text(CSV)
    report = await accounts.import_rows(engine, parsed)
    bad = {b.line: b.reason for b in report.bad}
    assert sorted(bad) == [5, 6, 7, 8, 9, 10, 11, 12, 15]
    assert "myspace" in bad[5]
    assert "username or an ext_id" in bad[6]
    assert "not an Instagram username" in bad[7]
    assert "channel id" in bad[8]
    assert "minimum" in bad[9]
    assert "likes" in bad[10]
    assert "positive" in bad[11]
    assert "fields" in bad[12]
    assert "not a TikTok username" in bad[15]
    assert (report.added, report.updated, report.rows) == (5, 0, 14)
    stored = rows(
        database_url,
        "SELECT platform, username, ext_id, interval_seconds, scope, refresh_days "
        "FROM sync_schedules ORDER BY platform, username",
    )
    assert stored == [
        ("instagram", "12345", None, 86400, "all", None),
        ("instagram", "anna.k", None, 3600, "all", None),
        ("instagram", "ivan_petrov", None, 86400, "profile", 7.0),
        ("tiktok", "charli.d", None, 86400, "all", None),
        ("youtube", None, "UCabcdefghijklmnopqrstuv", 604800, "all", None),
    ]

    # The same file again, with one cadence changed: nothing added, every account updated.
    again = await accounts.import_rows(engine, accounts.read_text(CSV.replace(",1h,", ",6h,")))
    assert (again.added, again.updated) == (0, 5)
    assert rows(database_url, "SELECT count(*) FROM sync_schedules") == [(5,)]
    assert rows(
        database_url, "SELECT interval_seconds FROM sync_schedules WHERE username = 'anna.k'"
    ) == [(21600,)]


async def test_jsonl_and_an_account_named_by_id_after_its_username(
    engine: AsyncEngine, database_url: str
) -> None:
    lines = [
        json.dumps({"platform": "instagram", "username": "anna", "every": "1d"}),
        "{not json",
        json.dumps(["a list"]),
        json.dumps(
            {"platform": "instagram", "username": "anna", "user_id": "777", "cadence": 3600}
        ),
    ]
    report = await accounts.import_rows(engine, accounts.read_text("\n".join(lines)))
    assert [b.line for b in report.bad] == [2, 3]
    # One account, now keyed by its id (the username-only row was merged into it).
    assert rows(database_url, "SELECT username, ext_id, interval_seconds FROM sync_schedules") == [
        ("anna", "777", 3600)
    ]
    # Known by id, imported by username again: updated, not duplicated.
    report = await accounts.import_rows(
        engine, accounts.read_text("platform,username,cadence\ninstagram,anna,weekly\n")
    )
    assert (report.added, report.updated) == (0, 1)
    assert rows(database_url, "SELECT count(*), max(interval_seconds) FROM sync_schedules") == [
        (1, 604800)
    ]
    assert await accounts.remove(engine, Platform.INSTAGRAM, ["@ANNA"]) == 1
    assert rows(database_url, "SELECT count(*) FROM sync_schedules") == [(0,)]


async def _fleet(engine: AsyncEngine, n: int, cadence: str = "1d") -> None:
    text = "platform,username,cadence\n" + "".join(
        f"instagram,user{i:05d},{cadence}\n" for i in range(n)
    )
    report = await accounts.import_rows(engine, accounts.read_text(text))
    assert report.added == n and not report.bad


def _ids(url: str, job_ids: list[int]) -> list[int]:
    return [
        int(r[0])  # type: ignore[call-overload]  # a bigint column
        for r in rows(
            url,
            "SELECT (params->>'fleet_account_id')::bigint FROM job_calls "
            "WHERE parent_job_call_id = ANY(%s)",
            job_ids,
        )
    ]


async def test_dispatch_takes_due_accounts_once_within_the_room(
    engine: AsyncEngine, database_url: str
) -> None:
    await _fleet(engine, 250)
    rows(database_url, "UPDATE sync_schedules SET next_due_at = %s", T0)
    first = await dispatch.dispatch(engine, {Platform.INSTAGRAM: 120}, batch_size=50, now=T0)
    assert first.accounts == 120 and len(first.batches) == 3 and first.full
    # No room left: nothing more, however many are due.
    second = await dispatch.dispatch(engine, {Platform.INSTAGRAM: 120}, batch_size=50, now=T0)
    assert second.accounts == 0 and second.full
    taken = _ids(database_url, first.batches)
    assert len(taken) == len(set(taken)) == 120
    # Each child is an ordinary sync JobCall naming its account.
    params = rows(
        database_url,
        "SELECT DISTINCT params->>'scope', params->>'username' IS NOT NULL, kind, status "
        "FROM job_calls WHERE parent_job_call_id = ANY(%s)",
        first.batches,
    )
    assert params == [("all", True, "sync", "pending")]
    # Next due a cadence later (plus at most 5 min of jitter), last lag recorded.
    due = rows(
        database_url,
        "SELECT min(next_due_at), max(next_due_at), max(last_lag_s) FROM sync_schedules "
        "WHERE running_job_call_id IS NOT NULL",
    )[0]
    assert T0 + timedelta(days=1) <= due[0] <= due[1] <= T0 + timedelta(days=1, minutes=5)  # type: ignore[operator]  # datetimes
    assert due[2] == 0


async def test_two_dispatchers_at_once_never_take_the_same_account(
    engine: AsyncEngine, database_url: str
) -> None:
    await _fleet(engine, 400)
    rows(database_url, "UPDATE sync_schedules SET next_due_at = %s", T0)
    other = db.async_engine(database_url, pool_size=4)
    try:
        results = await asyncio.gather(
            *(
                dispatch.dispatch(e, ROOM, batch_size=20, now=T0)
                for e in (engine, other, engine, other)
            )
        )
    finally:
        await other.dispose()
    taken = _ids(database_url, [b for r in results for b in r.batches])
    assert sum(r.accounts for r in results) == len(taken) == len(set(taken)) == 400
    assert sum(1 for r in results if r.accounts) >= 2  # they really ran side by side


async def test_a_failing_account_backs_off_and_is_never_dropped(
    engine: AsyncEngine, database_url: str
) -> None:
    await _fleet(engine, 3, cadence="1h")
    rows(database_url, "UPDATE sync_schedules SET next_due_at = %s", T0)

    async def close_all(at: datetime, status: Status) -> list[int]:
        running = [
            int(r[0])  # type: ignore[call-overload]  # a bigint column
            for r in rows(
                database_url,
                "SELECT running_job_call_id FROM sync_schedules "
                "WHERE running_job_call_id IS NOT NULL",
            )
        ]
        async with engine.begin() as conn:
            for job in running:
                assert await dispatch.job_closed(conn, job, status, "boom", now=at)
        return running

    now = T0
    for expected_backoff in (60, 120, 240):
        done = await dispatch.dispatch(engine, ROOM, now=now)
        assert done.accounts == 3
        assert len(await close_all(now, Status.FAILED)) == 3
        report = await fleet_status.status(engine, now=now)
        assert report.by_state["failing"] == 3 and report.accounts == 3
        # Not before the backoff…
        assert (
            await dispatch.dispatch(engine, ROOM, now=now + timedelta(seconds=30))
        ).accounts == 0
        now += timedelta(seconds=expected_backoff)
    listed = await fleet_status.accounts(engine, state=fleet_status.State.FAILING, now=now)
    assert [(a["failures"], a["last_status"], a["last_error"]) for a in listed] == [
        (3, "failed", "boom")
    ] * 3
    # …and a success clears the failures; the next sync is a cadence away.
    assert (await dispatch.dispatch(engine, ROOM, now=now)).accounts == 3
    await close_all(now, Status.SUCCEEDED)
    report = await fleet_status.status(engine, now=now)
    assert report.by_state["scheduled"] == 3 and report.by_state["failing"] == 0
    assert (await dispatch.dispatch(engine, ROOM, now=now + timedelta(minutes=30))).accounts == 0


async def test_a_sync_that_ended_without_the_fleet_hearing_is_reaped(
    engine: AsyncEngine, database_url: str
) -> None:
    await _fleet(engine, 2)
    rows(database_url, "UPDATE sync_schedules SET next_due_at = %s", T0)
    await dispatch.dispatch(engine, ROOM, now=T0)
    # One child closed behind the fleet's back (an operator), one silent for a day.
    rows(
        database_url,
        "UPDATE job_calls SET status = 'succeeded' WHERE id = "
        "(SELECT min(running_job_call_id) FROM sync_schedules)",
    )
    rows(
        database_url,
        "UPDATE job_calls SET updated_at = %s WHERE kind = 'sync' AND status = 'pending'",
        T0 - timedelta(days=1),
    )
    # The silent one had a request in flight when its worker died.
    rows(
        database_url,
        "INSERT INTO service_calls (job_call_id, kind, status, stream, created_at, updated_at)"
        " SELECT id, 'profile', 'running', 'profile', %s, %s FROM job_calls"
        " WHERE kind = 'sync' AND status = 'pending'",
        T0 - timedelta(days=1),
        T0 - timedelta(days=1),
    )
    later = T0 + timedelta(hours=1)
    assert await dispatch.reap(engine, now=later) == 2
    assert rows(database_url, "SELECT status FROM service_calls") == [("failed",)]
    states = rows(
        database_url,
        "SELECT last_status, failures, running_job_call_id FROM sync_schedules ORDER BY id",
    )
    assert states == [("succeeded", 0, None), ("failed", 1, None)]
    stale = rows(database_url, "SELECT status, error_message FROM job_calls WHERE kind='sync'")
    assert ("failed", True) in [(s, "no sign of life" in (e or "")) for s, e in stale]  # type: ignore[operator]  # text


async def test_status_reports_lag_against_cadence(engine: AsyncEngine, database_url: str) -> None:
    await _fleet(engine, 100, cadence="1h")
    # 50 on time, 30 an hour late (overdue), 20 five minutes ahead.
    rows(database_url, "UPDATE sync_schedules SET next_due_at = %s WHERE id <= 50", T0)
    rows(
        database_url,
        "UPDATE sync_schedules SET next_due_at = %s WHERE id > 50 AND id <= 80",
        T0 - timedelta(hours=1),
    )
    rows(
        database_url,
        "UPDATE sync_schedules SET next_due_at = %s WHERE id > 80",
        T0 + timedelta(minutes=5),
    )
    report = await fleet_status.status(engine, now=T0)
    assert report.by_state["due"] == 50
    assert report.by_state["overdue"] == 30
    assert report.by_state["scheduled"] == 20
    assert report.lag.p50_s == 0
    assert report.lag.p90_s == pytest.approx(3600)
    assert report.lag.max_s == pytest.approx(3600)
    assert report.lag.p99_of_cadence == pytest.approx(1.0)


async def test_plan_says_which_cadence_cannot_be_met(
    engine: AsyncEngine, database_url: str
) -> None:
    # 10 hourly and 90 daily accounts, 1,000 followers each, known to the store.
    text = "platform,username,cadence,scope\n" + "".join(
        f"instagram,user{i:03d},{'1h' if i < 10 else '1d'},subscriptions\n" for i in range(100)
    )
    await accounts.import_rows(engine, accounts.read_text(text))
    rows(
        database_url,
        "INSERT INTO social_profiles (platform, ext_id, username, followers_count, "
        "follows_count) SELECT 'instagram', i::text, format('user%%s', lpad(i::text, 3, '0')), "
        "1000, 100 FROM generate_series(0, 99) i",
    )
    settings = Settings(rocket_rate_limit_rps=0.05, instagram_provider_priority="rocket,scraper")
    result = await fleet_plan.plan(settings, engine, now=T0)
    (rocket,) = result.providers
    # profile 1 + followers 1000/50 + followings 100/50 = 23 calls a sync.
    per_sync = 1 + 20 + 2
    expected = 10 * 24 * per_sync + 90 * per_sync
    assert rocket.calls_per_day == pytest.approx(expected)
    assert rocket.by_stream == {
        "profile": pytest.approx(10 * 24 + 90),
        "followers": pytest.approx((10 * 24 + 90) * 20),
        "followings": pytest.approx((10 * 24 + 90) * 2),
    }
    assert rocket.capacity_per_day == pytest.approx(0.05 * 86400)
    assert rocket.load == pytest.approx(expected / 4320)
    assert not result.feasible
    assert "cannot be met" in rocket.verdict
    assert "1h" in rocket.verdict  # the hourly accounts carry most of the load
    # With the rate doubled it fits.
    settings = Settings(rocket_rate_limit_rps=0.1, instagram_provider_priority="rocket,scraper")
    assert (await fleet_plan.plan(settings, engine, now=T0)).feasible
