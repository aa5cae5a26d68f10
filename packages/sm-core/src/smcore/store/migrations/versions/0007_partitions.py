"""Partitioned history: subscriptions and follow events by profile, snapshots and raw by month.

Layout:

- ``subscriptions`` and ``follow_events``: ``PARTITION BY HASH (social_profile_id)``, modulus
  16 (``<table>_p16_00`` … ``_p16_15``). Every hot statement names one profile (a pass's
  upsert, its unfollow sweep, a profile's history), so it touches one partition; the two
  tables share the key and the modulus, so an event and its subscription sit in partitions of
  the same number. 16: at the 10^9 follower edges aimed at, ~60 M rows a partition, each
  vacuumed and indexed on its own in minutes; more partitions would add planning cost to the
  few queries without a profile (by ``follower_id``) for no gain yet. Re-partitioning stays
  local because a power of two splits in place: detach ``_p16_r``, create ``_p32_r`` and
  ``_p32_(r+16)`` (PostgreSQL accepts moduli 16 and 32 side by side, each a factor of the
  next), re-insert the detached rows through the parent, drop it; one partition at a time.
  One very large profile stays in one partition whatever the modulus.
- ``metric_snapshots`` (``captured_at``) and ``raw_payloads`` (``fetched_at``):
  ``PARTITION BY RANGE``, one partition a UTC month (``<table>_YYYY_MM``) and a
  ``<table>_default`` safety net. Partitions are made here for every month holding rows and
  for last month to three months ahead; :mod:`smcore.store.retention` (a daily job) makes the
  next ones, empties the default partitions into month partitions, and drops raw months older
  than ``RAW_RETENTION_DAYS``.

Keys changed, because PostgreSQL wants the partition key in every unique index:

- primary keys: ``(id, social_profile_id)``, ``(id, captured_at)``, ``(id, fetched_at)``;
  ``id`` still comes from the table's own sequence, kept as it was.
- ``follow_events`` → ``subscriptions``: the foreign key is ``(subscription_id,
  social_profile_id)``; an event's profile is its subscription's (checked before moving).
- ``uq_metric_snapshots_subject_job`` adds ``captured_at``. The writer (``rows.snapshot``) now
  stamps a job's snapshots with the job's start, the same on every write of the job, so the
  key still means one snapshot per subject per job; it used to be each write's ``now()``.
- Nothing references ``raw_payloads.id`` or ``metric_snapshots.id``.

Rows move with ``INSERT … SELECT`` in the migration's transaction: nothing is lost or changed,
and the tables are locked while they move (minutes per ten million rows). The downgrade moves
them back into plain tables with the old keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from alembic import op
from sqlalchemy import text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HASH_MODULUS = 16
MONTHS_AHEAD = 3


# A NamedTuple, not a dataclass: Alembic loads this file outside sys.modules, where a
# dataclass cannot resolve its string annotations.
class _Layout(NamedTuple):
    table: str
    partitioned: str  # the PARTITION BY clause
    time_column: str | None  # RANGE by month on this column; None: HASH by profile
    new_keys: tuple[str, ...]  # constraints and indexes of the partitioned table
    old_keys: tuple[str, ...]  # those of the plain table (0005)


_PROFILE_FK = "FOREIGN KEY (social_profile_id) REFERENCES social_profiles (id) ON DELETE CASCADE"
_SUBSCRIPTIONS = _Layout(
    "subscriptions",
    "HASH (social_profile_id)",
    None,
    (
        "ALTER TABLE subscriptions ADD CONSTRAINT pk_subscriptions PRIMARY KEY (id, "
        "social_profile_id)",
        "ALTER TABLE subscriptions ADD CONSTRAINT "
        "uq_subscriptions_social_profile_id_follower_id_direction "
        "UNIQUE (social_profile_id, follower_id, direction)",
    ),
    (
        "ALTER TABLE subscriptions ADD CONSTRAINT pk_subscriptions PRIMARY KEY (id)",
        "ALTER TABLE subscriptions ADD CONSTRAINT "
        "uq_subscriptions_social_profile_id_follower_id_direction "
        "UNIQUE (social_profile_id, follower_id, direction)",
    ),
)
_SUBSCRIPTION_COMMON = (
    "CREATE INDEX ix_subscriptions_pass ON subscriptions "
    "(social_profile_id, direction, last_seen_job_call_id)",
    "CREATE INDEX ix_subscriptions_follower_id ON subscriptions (follower_id)",
    f"ALTER TABLE subscriptions ADD CONSTRAINT fk_subscriptions_social_profile_id_social_profiles "
    f"{_PROFILE_FK}",
    "ALTER TABLE subscriptions ADD CONSTRAINT fk_subscriptions_follower_id_followers "
    "FOREIGN KEY (follower_id) REFERENCES followers (id) ON DELETE CASCADE",
)
_FOLLOW_EVENTS = _Layout(
    "follow_events",
    "HASH (social_profile_id)",
    None,
    (
        "ALTER TABLE follow_events ADD CONSTRAINT pk_follow_events PRIMARY KEY (id, "
        "social_profile_id)",
    ),
    ("ALTER TABLE follow_events ADD CONSTRAINT pk_follow_events PRIMARY KEY (id)",),
)
_FOLLOW_EVENT_COMMON = (
    "CREATE INDEX ix_follow_events_profile ON follow_events "
    "(social_profile_id, direction, observed_at)",
    "CREATE INDEX ix_follow_events_subscription_id ON follow_events (subscription_id)",
    f"ALTER TABLE follow_events ADD CONSTRAINT "
    f"fk_follow_events_social_profile_id_social_profiles {_PROFILE_FK}",
)
# Added once both tables exist (the old one refers to the old subscriptions' key).
_EVENT_TO_SUBSCRIPTION_NEW = (
    "ALTER TABLE follow_events ADD CONSTRAINT fk_follow_events_subscription_id_subscriptions "
    "FOREIGN KEY (subscription_id, social_profile_id) "
    "REFERENCES subscriptions (id, social_profile_id) ON DELETE CASCADE"
)
_EVENT_TO_SUBSCRIPTION_OLD = (
    "ALTER TABLE follow_events ADD CONSTRAINT fk_follow_events_subscription_id_subscriptions "
    "FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE"
)
_SNAPSHOTS = _Layout(
    "metric_snapshots",
    "RANGE (captured_at)",
    "captured_at",
    (
        "ALTER TABLE metric_snapshots ADD CONSTRAINT pk_metric_snapshots PRIMARY KEY (id, "
        "captured_at)",
        "CREATE UNIQUE INDEX uq_metric_snapshots_subject_job ON metric_snapshots "
        "(subject_type, subject_id, job_call_id, captured_at)",
    ),
    (
        "ALTER TABLE metric_snapshots ADD CONSTRAINT pk_metric_snapshots PRIMARY KEY (id)",
        "CREATE UNIQUE INDEX uq_metric_snapshots_subject_job ON metric_snapshots "
        "(subject_type, subject_id, job_call_id)",
    ),
)
_SNAPSHOT_COMMON = (
    "CREATE INDEX ix_metric_snapshots_subject ON metric_snapshots "
    "(subject_type, subject_id, captured_at)",
)
_RAW = _Layout(
    "raw_payloads",
    "RANGE (fetched_at)",
    "fetched_at",
    ("ALTER TABLE raw_payloads ADD CONSTRAINT pk_raw_payloads PRIMARY KEY (id, fetched_at)",),
    ("ALTER TABLE raw_payloads ADD CONSTRAINT pk_raw_payloads PRIMARY KEY (id)",),
)
_RAW_COMMON = (
    "CREATE INDEX ix_raw_payloads_service_call_id ON raw_payloads (service_call_id)",
    "ALTER TABLE raw_payloads ADD CONSTRAINT fk_raw_payloads_service_call_id_service_calls "
    "FOREIGN KEY (service_call_id) REFERENCES service_calls (id) ON DELETE CASCADE",
)
_TABLES = (
    (_SUBSCRIPTIONS, _SUBSCRIPTION_COMMON),
    (_FOLLOW_EVENTS, _FOLLOW_EVENT_COMMON),
    (_SNAPSHOTS, _SNAPSHOT_COMMON),
    (_RAW, _RAW_COMMON),
)


def _exec(sql: str) -> None:
    op.execute(text(sql))


def _scalar(sql: str) -> object:
    return op.get_bind().execute(text(sql)).scalar()


def _month(value: datetime, shift: int = 0) -> datetime:
    index = value.year * 12 + value.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _month_partitions(layout: _Layout) -> None:
    """One partition per UTC month holding rows, and last month to ``MONTHS_AHEAD`` ahead."""
    column, table = layout.time_column, layout.table
    rows = op.get_bind().execute(
        text(
            f"SELECT DISTINCT date_trunc('month', {column}, 'UTC') FROM {table}_old "  # noqa: S608 - constant names
            "UNION SELECT date_trunc('month', now() + make_interval(months => m), 'UTC') "
            f"FROM generate_series(-1, {MONTHS_AHEAD}) AS m"
        )
    )
    for (start,) in rows:
        month = _month(start.astimezone(UTC))
        _exec(
            f"CREATE TABLE {table}_{month:%Y_%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_month(month, 1).isoformat()}')"
        )
    _exec(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def _hash_partitions(layout: _Layout) -> None:
    for remainder in range(HASH_MODULUS):
        _exec(
            f"CREATE TABLE {layout.table}_p{HASH_MODULUS}_{remainder:02d} "
            f"PARTITION OF {layout.table} "
            f"FOR VALUES WITH (MODULUS {HASH_MODULUS}, REMAINDER {remainder})"
        )


def _set_aside(table: str) -> None:
    """Rename ``table`` to ``<table>_old`` and drop its indexes, whose names the new table
    takes (its checks and foreign keys go with it at the end)."""
    _exec(f"ALTER TABLE {table} RENAME TO {table}_old")
    bind = op.get_bind()
    keys = bind.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype IN ('p', 'u')"
        ),
        {"t": f"{table}_old"},
    ).scalars()
    for name in list(keys):
        _exec(f"ALTER TABLE {table}_old DROP CONSTRAINT {name}")
    indexes = bind.execute(
        text(
            "SELECT indexname FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = :t"
        ),
        {"t": f"{table}_old"},
    ).scalars()
    for name in list(indexes):
        _exec(f"DROP INDEX {name}")


def upgrade() -> None:
    _check_event_profiles()
    _exec(
        "ALTER TABLE follow_events DROP CONSTRAINT fk_follow_events_subscription_id_subscriptions"
    )
    for layout, common in _TABLES:
        _rebuild(layout, common, partitioned=True)
    _exec(_EVENT_TO_SUBSCRIPTION_NEW)


def downgrade() -> None:
    _exec(
        "ALTER TABLE follow_events DROP CONSTRAINT fk_follow_events_subscription_id_subscriptions"
    )
    for layout, common in _TABLES:
        _rebuild(layout, common, partitioned=False)
    _exec(_EVENT_TO_SUBSCRIPTION_OLD)


def _check_event_profiles() -> None:
    """The new foreign key needs an event's profile to be its subscription's: say which rows
    break that instead of failing on the constraint."""
    mismatched = _scalar(
        "SELECT count(*) FROM follow_events e JOIN subscriptions s ON s.id = e.subscription_id "
        "WHERE s.social_profile_id <> e.social_profile_id"
    )
    if mismatched:
        raise RuntimeError(
            f"{mismatched} follow_events rows name another profile than their subscription's; "
            "fix them (follow_events.social_profile_id) before migrating to 0007"
        )


def _rebuild(layout: _Layout, common: tuple[str, ...], *, partitioned: bool) -> None:
    """Move ``layout.table``'s rows into a new table, partitioned or plain, with its keys."""
    table = layout.table
    old = f"{table}_old"
    _set_aside(table)
    clause = f" PARTITION BY {layout.partitioned}" if partitioned else ""
    _exec(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS){clause}"
    )
    if partitioned:
        if layout.time_column is None:
            _hash_partitions(layout)
        else:
            _month_partitions(layout)
    _exec(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608 - constant names
    # The id default (nextval) names the old table's sequence: it moves over with its value.
    sequence = _scalar(f"SELECT pg_get_serial_sequence('{old}', 'id')")
    if sequence is not None:
        _exec(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
    for statement in (*(layout.new_keys if partitioned else layout.old_keys), *common):
        _exec(statement)
    _exec(f"DROP TABLE {old}")
