"""Bulk upserts of follower pages (``smcore.store.rows.upsert_accounts``) on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.providers.models import Account
from smcore.store import db, rows

PROFILE = 1
EARLIER = datetime(2025, 1, 1, tzinfo=UTC)


def account(ext_id: str, username: str | None = None) -> Account:
    name = username or f"user_{ext_id}"
    return Account(
        ext_id=ext_id,
        username=name,
        full_name=name.title(),
        avatar_url=None,
        raw={"pk": ext_id, "username": name},
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO social_profiles (id, platform, ext_id, username)"
            " VALUES (%s, 'instagram', 'p1', 'profile')",
            (PROFILE,),
        )
    engine = db.async_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


async def upsert(engine: AsyncEngine, accounts: list[Account], *, job: int, previous: Any) -> int:
    async with engine.begin() as conn:
        return await rows.upsert_accounts(
            conn, "instagram", PROFILE, "follower", accounts, job_id=job, previous_pass=previous
        )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]  # test SQL is literal


async def test_an_unchanged_account_is_not_rewritten_but_its_subscription_is_seen(
    engine: AsyncEngine, database_url: str
) -> None:
    assert await upsert(engine, [account("1"), account("2")], job=10, previous=None) == 0
    before = dict(query(database_url, "SELECT ext_id, xmin::text FROM followers"))
    assert await upsert(engine, [account("1"), account("2", "renamed")], job=11, previous=None) == 0
    after = dict(query(database_url, "SELECT ext_id, xmin::text FROM followers"))
    assert after["1"] == before["1"]  # no new row version for an unchanged account
    assert after["2"] != before["2"]
    assert query(database_url, "SELECT username FROM followers WHERE ext_id = '2'") == [
        ("renamed",)
    ]
    assert query(database_url, "SELECT last_seen_job_call_id FROM subscriptions") == [
        (11,),
        (11,),
    ]


async def test_new_and_returning_follows_get_one_event_each(
    engine: AsyncEngine, database_url: str
) -> None:
    """A first pass records state; later, a new follower and a re-follow are follow events."""
    assert await upsert(engine, [account("1"), account("2")], job=10, previous=None) == 0
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE subscriptions SET active = false, unfollowed_at = now()"
            " WHERE follower_id = (SELECT id FROM followers WHERE ext_id = '2')"
        )
    page = [account("1"), account("2"), account("3"), account("3")]  # a repeat is one account
    assert await upsert(engine, page, job=11, previous=EARLIER) == 2
    events = query(
        database_url,
        "SELECT f.ext_id, e.kind, e.not_before, e.job_call_id FROM follow_events e"
        " JOIN subscriptions s ON s.id = e.subscription_id"
        " JOIN followers f ON f.id = s.follower_id ORDER BY f.ext_id",
    )
    assert events == [("2", "follow", EARLIER, 11), ("3", "follow", EARLIER, 11)]
    assert query(database_url, "SELECT count(*) FROM subscriptions WHERE active") == [(3,)]


async def test_an_account_committed_meanwhile_by_another_writer_still_gets_its_subscription(
    engine: AsyncEngine, database_url: str
) -> None:
    """Another sync commits the same, unchanged account after this page's statement began: the
    statement's snapshot cannot see it and the skipped update returns nothing, so the page is
    written again; every account ends with one subscription and one event."""
    other = await psycopg.AsyncConnection.connect(database_url)
    try:
        shared = account("42")
        await other.execute(
            "INSERT INTO followers (platform, ext_id, username, full_name, avatar, raw_data)"
            " VALUES ('instagram', %s, %s, %s, '', %s)",
            (shared.ext_id, shared.username, shared.full_name, Jsonb(shared.raw)),
        )
        page = asyncio.create_task(
            upsert(engine, [shared, account("43")], job=11, previous=EARLIER)
        )
        # The page's statement waits on the other transaction's uncommitted row.
        for _ in range(200):
            waiting = query(
                database_url,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE '%jsonb_to_recordset%'",
            )
            if waiting == [(1,)]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the page's statement never waited on the other writer")
        await other.commit()
        assert await page == 2
    finally:
        await other.close()
    assert query(
        database_url,
        "SELECT f.ext_id, count(DISTINCT s.id), count(e.id) FROM followers f"
        " JOIN subscriptions s ON s.follower_id = f.id"
        " LEFT JOIN follow_events e ON e.subscription_id = s.id GROUP BY f.ext_id ORDER BY 1",
    ) == [("42", 1, 1), ("43", 1, 1)]
