"""Partitioned history (migration 0007) and the retention job that keeps raw payloads in bounds.

The migration moves a filled database's rows into the partitioned tables without losing or
changing one, and back on downgrade; the retention job, run with its clock moved months ahead,
drops the raw months older than the retention, keeps the rest, and empties DEFAULT partitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import create_engine, pool

from devstack.errors import SettingsError
from devstack.migrations import sqlalchemy_url
from devstack.pytest_plugin import DatabaseTemplates, environ_without
from smcore.settings import Settings
from smcore.store import db, retention
from smcore.store.models import Base

HASHED = ("subscriptions", "follow_events")
MONTHLY = ("metric_snapshots", "raw_payloads")
PARTITIONED = (*HASHED, *MONTHLY)

# The old layout, filled the way syncs fill it: profiles followed by accounts in both
# directions (some unfollowed, with their events), metric snapshots and raw payloads spread over
# two and a half years, a row on a month boundary and one a microsecond before it, ids with gaps.
FILL = """
INSERT INTO social_profiles (platform, ext_id, username, followers_count)
SELECT 'instagram', 'p' || g, 'user_' || g, g * 1000 FROM generate_series(1, 7) g;
INSERT INTO followers (platform, ext_id, username, raw_data)
SELECT 'instagram', 'f' || g, 'fan_' || g, jsonb_build_object('pk', g, 'name', 'Фан ' || g)
FROM generate_series(1, 400) g;
INSERT INTO job_calls (subject_id, kind, status, platform, params, started_at, finished_at)
SELECT p.id, 'sync', 'succeeded', 'instagram', jsonb_build_object('n', g),
       now() - make_interval(days => 40 * g), now() - make_interval(days => 40 * g - 1)
FROM social_profiles p CROSS JOIN generate_series(1, 3) g;
INSERT INTO service_calls (job_call_id, kind, status, stream, cursor, started_at, finished_at)
SELECT j.id, 'followers', 'succeeded', 'followers', jsonb_build_object('after', 'c' || g),
       j.started_at, j.finished_at
FROM job_calls j CROSS JOIN generate_series(1, 4) g;
INSERT INTO subscriptions (social_profile_id, follower_id, direction, active, followed_at,
                           unfollowed_at, last_seen_job_call_id, last_seen_at, created_at)
SELECT p.id, f.id, d.direction, (f.id + p.id) % 5 <> 0,
       now() - make_interval(days => f.id::int),
       CASE WHEN (f.id + p.id) % 5 = 0 THEN now() - make_interval(hours => f.id::int) END,
       CASE WHEN f.id % 7 <> 0 THEN p.id * 10 + f.id % 3 END,
       CASE WHEN f.id % 7 <> 0 THEN now() - make_interval(mins => f.id::int) END,
       now() - make_interval(days => f.id::int + 1)
FROM social_profiles p CROSS JOIN followers f
CROSS JOIN (VALUES ('follower'), ('following')) AS d(direction)
WHERE (f.id * 7 + p.id) % 3 = 0;
INSERT INTO follow_events (subscription_id, social_profile_id, direction, kind, observed_at,
                           not_before, job_call_id)
SELECT s.id, s.social_profile_id, s.direction, k.kind,
       s.followed_at + make_interval(secs => k.n), CASE WHEN s.id % 3 = 0 THEN s.created_at END,
       s.last_seen_job_call_id
FROM subscriptions s CROSS JOIN (VALUES ('follow', 1), ('unfollow', 2)) AS k(kind, n)
WHERE k.kind = 'follow' AND s.id % 4 = 0 OR k.kind = 'unfollow' AND NOT s.active;
INSERT INTO metric_snapshots (subject_type, subject_id, captured_at, followers, follows, posts,
                              views, likes, comments, engagement_rate, job_call_id)
SELECT CASE WHEN g % 3 = 0 THEN 'post' ELSE 'profile' END, g % 11 + 1,
       now() - make_interval(days => 3 * g, secs => g), g * 10, CASE WHEN g % 2 = 0 THEN g END,
       g, NULL, g * 3, g * 2, g / 1000.0, CASE WHEN g % 5 = 0 THEN NULL ELSE g END
FROM generate_series(1, 300) g;
INSERT INTO metric_snapshots (subject_type, subject_id, captured_at, job_call_id)
VALUES ('profile', 1, '2025-03-01 00:00:00+00', 9001),
       ('profile', 1, '2025-02-28 23:59:59.999999+00', 9002);
INSERT INTO raw_payloads (service_call_id, provider, method, request, response, fetched_at)
SELECT (SELECT id FROM service_calls ORDER BY id OFFSET g % 84 LIMIT 1),
       CASE WHEN g % 2 = 0 THEN 'rocket' ELSE 'scraper' END, 'followers',
       jsonb_build_object('user_id', g, 'cursor', 'c' || g),
       jsonb_build_object('items', jsonb_build_array(g, 'ü', jsonb_build_object('n', NULL))),
       now() - make_interval(days => 4 * g, secs => g)
FROM generate_series(1, 220) g;
INSERT INTO raw_payloads (service_call_id, provider, method, response, fetched_at)
VALUES (NULL, 'rocket', 'profile', '"text"', '2025-03-01 00:00:00+00'),
       (NULL, 'rocket', 'profile', 'null', '2025-02-28 23:59:59.999999+00');
DELETE FROM raw_payloads WHERE id % 17 = 5;
DELETE FROM metric_snapshots WHERE id % 13 = 0;
DELETE FROM follow_events WHERE id % 11 = 0;
"""


def _rows(url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row of the partitioned tables, in id order, with the column names."""
    found = {}
    with psycopg.connect(url) as conn:
        for table in PARTITIONED:
            cursor = conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(table))
            )
            columns = [c.name for c in cursor.description or ()]
            found[table] = (columns, cursor.fetchall())
    return found


def _scalar(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _strategy(url: str, table: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = %s::regclass", (table,)
        ).fetchone()
    return None if row is None else str(row[0])


def _partitions(url: str, table: str) -> dict[str, int]:
    """Partition name → its rows."""
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass",
                (table,),
            )
        ]
        counts = {}
        for name in names:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
            ).fetchone()
            assert row is not None
            counts[name] = int(row[0])
        return counts


def _diff(url: str) -> list[Any]:
    """What autogenerate would change in the partitioned tables (their partitions aside)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)

    def include_name(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
        return kind != "table" or name in PARTITIONED

    def include_object(item: Any, name: str | None, kind: str, *_: Any) -> bool:
        if kind == "foreign_key_constraint":
            # PostgreSQL keeps one internal key per partition referred to: not the model's.
            return not item.referred_table.name.startswith("subscriptions_p")
        return kind != "table" or name in PARTITIONED

    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": include_name,
                    "include_object": include_object,
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


@pytest.fixture
def old_layout_url(database_templates: DatabaseTemplates) -> Iterator[str]:
    """A database migrated to 0006, the last revision before the partitions."""
    template = database_templates.template("smcore_0006", setup=lambda url: db.upgrade(url, "0006"))
    with database_templates.clone(template) as url:
        yield url


def test_the_partition_migration_keeps_every_row_of_a_filled_database(
    old_layout_url: str,
) -> None:
    url = old_layout_url
    with psycopg.connect(url) as conn:
        conn.execute(FILL)
    before = _rows(url)
    assert all(len(rows) > 100 for _, rows in before.values()), {
        t: len(r) for t, (_, r) in before.items()
    }
    assert any(r[6] is None for r in before["follow_events"][1])  # not_before NULL

    db.upgrade(url, "0007")

    assert _rows(url) == before
    for table in HASHED:
        assert _strategy(url, table) == "h"
        partitions = _partitions(url, table)
        assert sorted(partitions) == [f"{table}_p16_{r:02d}" for r in range(16)]
        assert sum(partitions.values()) == len(before[table][1])
        assert sum(1 for n in partitions.values() if n) > 4, partitions  # spread by profile
    for table in MONTHLY:
        assert _strategy(url, table) == "r"
        partitions = _partitions(url, table)
        assert partitions[f"{table}_default"] == 0
        assert partitions[f"{table}_2025_03"] >= 1 and partitions[f"{table}_2025_02"] >= 1
        this_month = retention.month_start(datetime.now(UTC))
        for shift in range(-1, 4):
            assert retention.partition_name(table, retention.month_start(this_month, shift)) in (
                partitions
            )
    # The row on the boundary opens March; the one a microsecond before closes February.
    assert (
        _scalar(
            url,
            "SELECT count(*) FROM raw_payloads_2025_03 WHERE fetched_at = '2025-03-01 00:00+00'",
        )
        == 1
    )
    assert _scalar(url, "SELECT max(fetched_at) FROM raw_payloads_2025_02") == datetime(
        2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC
    )
    # Ids go on from the old sequences.
    for table, insert in (
        ("raw_payloads", "(response) VALUES ('{}')"),
        ("metric_snapshots", "(subject_id) VALUES (1)"),
        (
            "subscriptions",
            "(social_profile_id, follower_id) SELECT 1, id FROM followers f WHERE NOT EXISTS "
            "(SELECT FROM subscriptions s WHERE s.social_profile_id = 1 AND s.follower_id = f.id) "
            "LIMIT 1",
        ),
    ):
        old_max = max(r[0] for r in before[table][1])
        assert _scalar(url, f"INSERT INTO {table} {insert} RETURNING id") > old_max
    # The composite key from events to subscriptions holds, and cascades.
    profile = _scalar(url, "SELECT social_profile_id FROM follow_events LIMIT 1")
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM subscriptions WHERE social_profile_id = %s", (profile,))
    assert (
        _scalar(url, "SELECT count(*) FROM follow_events WHERE social_profile_id = %s", profile)
        == 0
    )


def test_the_downgrade_moves_the_rows_back_into_plain_tables(old_layout_url: str) -> None:
    url = old_layout_url
    with psycopg.connect(url) as conn:
        conn.execute(FILL)
    before = _rows(url)
    db.upgrade(url, "0007")
    db.downgrade(url, "0006")
    assert _rows(url) == before
    assert all(_strategy(url, t) is None for t in PARTITIONED)
    assert _scalar(
        url,
        "SELECT pg_get_indexdef('uq_metric_snapshots_subject_job'::regclass)",
    ).endswith("(subject_type, subject_id, job_call_id)")
    db.upgrade(url, "0007")
    assert _rows(url) == before


def test_an_event_naming_another_profile_than_its_subscription_stops_the_migration(
    old_layout_url: str,
) -> None:
    url = old_layout_url
    with psycopg.connect(url) as conn:
        conn.execute(FILL)
        conn.execute(
            "UPDATE follow_events SET social_profile_id = (SELECT max(id) FROM social_profiles) "
            "WHERE id = (SELECT min(id) FROM follow_events WHERE social_profile_id <> "
            "(SELECT max(id) FROM social_profiles))"
        )
    before = _rows(url)
    with pytest.raises(RuntimeError, match="1 follow_events rows name another profile"):
        db.upgrade(url, "0007")
    assert _rows(url) == before
    assert _strategy(url, "raw_payloads") is None


def test_the_models_describe_the_partitioned_tables(database_url: str) -> None:
    """Autogenerate finds nothing to change in them (columns, unique keys, indexes, foreign
    keys), and they are partitioned as the models say."""
    assert _diff(database_url) == []
    with psycopg.connect(database_url) as conn:
        keys = {
            t: conn.execute("SELECT pg_get_partkeydef(%s::regclass)", (t,)).fetchone()
            for t in PARTITIONED
        }
    assert keys == {
        t: (Base.metadata.tables[t].dialect_options["postgresql"]["partition_by"],)
        for t in PARTITIONED
    }


def _insert_at(url: str, moments: dict[str, datetime]) -> None:
    with psycopg.connect(url) as conn:
        for label, moment in moments.items():
            conn.execute(
                "INSERT INTO raw_payloads (provider, method, response, fetched_at) "
                "VALUES ('rocket', %s, '{}', %s)",
                (label, moment),
            )
            conn.execute(
                "INSERT INTO metric_snapshots (subject_type, subject_id, captured_at, followers) "
                "VALUES ('profile', 1, %s, %s)",
                (moment, len(label)),
            )


def _labels(url: str, table: str, column: str) -> set[Any]:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), sql.Identifier(table))
        return {r[0] for r in conn.execute(query)}


async def test_retention_drops_old_raw_months_and_keeps_the_rest(database_url: str) -> None:
    """Rows in seven months, two of them outside every partition (DEFAULT); the clock moved
    six months ahead; 90 days of raw kept."""
    url = database_url
    base = retention.month_start(datetime.now(UTC))
    month = {shift: retention.month_start(base, shift) for shift in range(-3, 10)}
    moments = {
        "m-3 default": month[-3] + timedelta(days=2),
        "m-1": month[-1] + timedelta(days=5),
        "m0": month[0] + timedelta(hours=1),
        "m+1": month[1] + timedelta(days=20),
        "m+3 first": month[3],
        "m+3 last": month[4] - timedelta(microseconds=1),
        "m+5 default": month[5] + timedelta(days=9),
    }
    _insert_at(url, moments)
    assert _partitions(url, "raw_payloads")["raw_payloads_default"] == 2

    now = month[6] + timedelta(days=10)
    engine = db.async_engine(url, pool_size=1)
    try:
        report = await retention.run(engine, now=now, raw_retention_days=90)
        again = await retention.run(engine, now=now, raw_retention_days=90)
    finally:
        await engine.dispose()

    # The cutoff (now - 90 days) falls in month +3: every month before it goes whole.
    assert report.cutoff == now - timedelta(days=90)
    assert retention.month_start(report.cutoff) == month[3]
    name = {s: retention.partition_name("raw_payloads", m) for s, m in month.items()}
    assert set(report.dropped) == {name[-1], name[0], name[1], name[2]}
    assert report.deleted_from_default == 1  # month -3: older than the retention, no partition
    assert report.moved_from_default == 3  # month +5 of raw; months -3 and +5 of snapshots
    raw = _partitions(url, "raw_payloads")
    assert raw["raw_payloads_default"] == 0
    assert raw[name[3]] == 2 and raw[name[5]] == 1
    assert {name[s] for s in range(5, 10)} <= set(raw)
    assert not set(report.dropped) & set(raw)
    assert _labels(url, "raw_payloads", "method") == {"m+3 first", "m+3 last", "m+5 default"}
    # Metric snapshots are kept, every one; their DEFAULT months got partitions.
    snapshots = _partitions(url, "metric_snapshots")
    assert snapshots["metric_snapshots_default"] == 0
    assert sum(snapshots.values()) == len(moments)
    for shift in (-3, 5):
        assert snapshots[retention.partition_name("metric_snapshots", month[shift])] == 1
    assert set(report.created) >= {
        retention.partition_name("metric_snapshots", month[-3]),
        name[5],
        *(name[s] for s in range(6, 10)),
    }
    assert name[-3] not in report.created  # an expired month is not made to be dropped
    # Nothing left to do the second time.
    assert (again.created, again.dropped, again.moved_from_default, again.deleted_from_default) == (
        (),
        (),
        0,
        0,
    )


async def test_retention_refuses_a_clock_without_time_zone(database_url: str) -> None:
    engine = db.async_engine(database_url, pool_size=1)
    try:
        with pytest.raises(ValueError, match="time zone"):
            await retention.run(engine, now=datetime(2030, 1, 1), raw_retention_days=90)
    finally:
        await engine.dispose()


def test_raw_retention_days_defaults_to_90_and_must_be_positive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.delenv("RAW_RETENTION_DAYS", raising=False)
    assert Settings.load().raw_retention_days == 90
    monkeypatch.setenv("RAW_RETENTION_DAYS", "7")
    assert Settings.load().raw_retention_days == 7
    monkeypatch.setenv("RAW_RETENTION_DAYS", "0")
    with pytest.raises(SettingsError, match="RAW_RETENTION_DAYS"):
        Settings.load()


def test_the_retention_command_runs_at_the_given_clock_and_prints_json(
    database_url: str, tmp_path: Path
) -> None:
    base = retention.month_start(datetime.now(UTC))
    _insert_at(database_url, {"this month": base + timedelta(days=1)})
    now = retention.month_start(base, 6) + timedelta(days=10)
    env = {
        **environ_without(Settings, tmp_path / "stack"),
        "DATABASE_URL": database_url,
        "RAW_RETENTION_DAYS": "30",
    }

    def sm_core(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smcore", "retention", "run", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = sm_core("--now", now.isoformat(), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["cutoff"] == (now - timedelta(days=30)).isoformat()
    assert retention.partition_name("raw_payloads", base) in report["dropped"]
    assert retention.partition_name("raw_payloads", now) in report["created"]
    assert _labels(database_url, "raw_payloads", "method") == set()
    assert _labels(database_url, "metric_snapshots", "followers") == {len("this month")}
    naive = sm_core("--now", "2030-01-01T00:00:00")
    assert naive.returncode == 2
    assert "time zone" in naive.stderr
