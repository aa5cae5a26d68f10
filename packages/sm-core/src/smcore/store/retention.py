"""Month partitions ahead, and raw payloads kept ``RAW_RETENTION_DAYS``: the daily maintenance.

``metric_snapshots`` and ``raw_payloads`` are partitioned by UTC month with a DEFAULT partition
as a safety net (migration 0007). Once a day :func:`run` (one transaction):

1. deletes from raw's DEFAULT partition the rows of months wholly older than the retention;
2. makes the month partitions from last month to ``months_ahead`` ahead, and one for every
   month the DEFAULT partitions still hold, moving those rows in (a DEFAULT partition is
   empty afterwards unless it holds rows a custom partition's range overlaps);
3. detaches and drops every raw partition whose whole month is older than
   ``now - raw_retention_days``; metric snapshots are kept.

A new partition is created standalone, filled from the DEFAULT partition, then attached: that
locks the parent table only against other DDL (``SHARE UPDATE EXCLUSIVE``), never against
writers. Detaching a partition locks raw_payloads for a moment, so lock waits end after
:data:`LOCK_TIMEOUT` (the job fails and the next day's run does the work).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

# Month-partitioned tables and their partition key.
MONTHLY = {"metric_snapshots": "captured_at", "raw_payloads": "fetched_at"}
RAW = "raw_payloads"
MONTHS_AHEAD = 3
LOCK_TIMEOUT = "10s"
# Two runs at once would both create the same partition: the second waits for the first.
_LOCK_KEY = "smcore.store.retention"


@dataclass(frozen=True)
class RetentionReport:
    """What one run did (plain data: a Temporal activity can return it as it is)."""

    now: datetime
    cutoff: datetime  # raw rows older than this may go; a partition goes when its month has
    created: tuple[str, ...] = ()  # partitions made
    dropped: tuple[str, ...] = ()  # raw partitions detached and dropped
    moved_from_default: int = 0  # rows moved from DEFAULT partitions into month partitions
    deleted_from_default: int = 0  # raw rows older than the retention deleted from DEFAULT


@dataclass(frozen=True)
class _Partition:
    name: str
    default: bool
    lower: datetime | None  # None: the DEFAULT partition
    upper: datetime | None


def month_start(value: datetime, shift: int = 0) -> datetime:
    """The UTC month holding ``value``, moved ``shift`` months."""
    value = value.astimezone(UTC)
    index = value.year * 12 + value.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    """``<table>_YYYY_MM``, the name migration 0007 gives month partitions."""
    return f"{table}_{month:%Y_%m}"


async def run(
    engine: AsyncEngine,
    *,
    now: datetime,
    raw_retention_days: int,
    months_ahead: int = MONTHS_AHEAD,
) -> RetentionReport:
    """:func:`apply` in a transaction of its own: what the daily job and the CLI call."""
    async with engine.begin() as conn:
        return await apply(
            conn, now=now, raw_retention_days=raw_retention_days, months_ahead=months_ahead
        )


async def apply(
    conn: AsyncConnection,
    *,
    now: datetime,
    raw_retention_days: int,
    months_ahead: int = MONTHS_AHEAD,
) -> RetentionReport:
    """Make the coming month partitions and drop the expired raw ones (module docstring), in
    the caller's transaction.

    Raises:
        ValueError: ``now`` without a time zone, or a retention or horizon below its minimum.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    if raw_retention_days < 1:
        raise ValueError(f"raw_retention_days must be at least 1, not {raw_retention_days}")
    if months_ahead < 0:
        raise ValueError(f"months_ahead must be 0 or more, not {months_ahead}")
    cutoff = now - timedelta(days=raw_retention_days)
    # Months before this one are wholly older than the cutoff.
    first_kept = month_start(cutoff)
    bound = log.bind(now=now.isoformat(), cutoff=cutoff.isoformat())
    previous_timeout = await conn.scalar(text("SELECT current_setting('lock_timeout')"))
    await conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": LOCK_TIMEOUT})
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK_KEY})

    tally = _Tally()
    ahead = {month_start(now, shift) for shift in range(-1, months_ahead + 1)}
    for table, column in MONTHLY.items():
        expiring = table == RAW
        default = await _default_partition(conn, table)
        if expiring and default is not None:
            tally.deleted += await _delete_expired(conn, default, column, first_kept, bound)
        months = ahead | (await _months_in(conn, default, column) if default else set())
        if expiring:
            months = {m for m in months if m >= first_kept}
        await _make_months(
            conn,
            table=table,
            column=column,
            months=months,
            default=default,
            tally=tally,
            bound=bound,
        )
        if expiring:
            await _drop_expired(conn, table, cutoff, tally, bound)

    await conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous_timeout})
    report = RetentionReport(
        now=now,
        cutoff=cutoff,
        created=tuple(tally.created),
        dropped=tuple(tally.dropped),
        moved_from_default=tally.moved,
        deleted_from_default=tally.deleted,
    )
    bound.info(
        "retention_applied",
        created=len(tally.created),
        dropped=len(tally.dropped),
        moved_from_default=tally.moved,
        deleted_from_default=tally.deleted,
    )
    return report


@dataclass
class _Tally:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved: int = 0
    deleted: int = 0


async def _default_partition(conn: AsyncConnection, table: str) -> str | None:
    return next((p.name for p in await _partitions(conn, table) if p.default), None)


async def _delete_expired(
    conn: AsyncConnection, default: str, column: str, first_kept: datetime, bound: Any
) -> int:
    """Rows of the DEFAULT partition from months wholly older than the retention: deleted (no
    partition is made for them just to be dropped)."""
    result = await conn.execute(
        text(f"DELETE FROM {default} WHERE {column} < :first_kept"),  # noqa: S608 - catalog and constant names
        {"first_kept": first_kept},
    )
    deleted = result.rowcount or 0
    if deleted:
        bound.info("raw_deleted_from_default", partition=default, rows=deleted)
    return deleted


async def _months_in(conn: AsyncConnection, default: str, column: str) -> set[datetime]:
    """The UTC months the DEFAULT partition holds rows of."""
    found = await conn.scalars(
        text(f"SELECT DISTINCT date_trunc('month', {column}, 'UTC') FROM {default}")  # noqa: S608 - catalog and constant names
    )
    return {month_start(m) for m in found}


async def _make_months(
    conn: AsyncConnection,
    *,
    table: str,
    column: str,
    months: set[datetime],
    default: str | None,
    tally: _Tally,
    bound: Any,
) -> None:
    partitions = await _partitions(conn, table)
    for month in sorted(months):
        if _overlaps(partitions, month, month_start(month, 1)):
            continue
        name = partition_name(table, month)
        moved = await _create_month(conn, table, column, month, default)
        tally.created.append(name)
        tally.moved += moved
        bound.info("partition_created", table=table, partition=name, moved_from_default=moved)


async def _drop_expired(
    conn: AsyncConnection, table: str, cutoff: datetime, tally: _Tally, bound: Any
) -> None:
    """Detach and drop ``table``'s partitions whose whole range is older than ``cutoff``."""
    for partition in await _partitions(conn, table):
        if partition.upper is not None and partition.upper <= cutoff:
            await conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {partition.name}"))
            await conn.execute(text(f"DROP TABLE {partition.name}"))
            tally.dropped.append(partition.name)
            bound.info("partition_dropped", table=table, partition=partition.name)


_BOUNDS = text(
    """
    SELECT c.relname,
           c.oid = p.partdefid,
           CAST(b[1] AS timestamptz),
           CAST(b[2] AS timestamptz)
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_partitioned_table p ON p.partrelid = i.inhparent
    LEFT JOIN LATERAL regexp_match(
        pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']*)''\\) TO \\(''([^'']*)''\\)'
    ) AS b ON true
    WHERE i.inhparent = CAST(:table AS regclass)
    ORDER BY 2 NULLS FIRST
    """
)


async def _partitions(conn: AsyncConnection, table: str) -> list[_Partition]:
    """``table``'s partitions and their bounds, read from the catalog (names are not trusted)."""
    rows = await conn.execute(_BOUNDS, {"table": table})
    return [_Partition(*row) for row in rows]


def _overlaps(partitions: list[_Partition], lower: datetime, upper: datetime) -> bool:
    return any(
        p.lower is not None and p.upper is not None and p.lower < upper and lower < p.upper
        for p in partitions
    )


async def _create_month(
    conn: AsyncConnection, table: str, column: str, month: datetime, default: str | None
) -> int:
    """Create ``table``'s partition of ``month``, with the DEFAULT partition's rows of that
    month moved in; returns how many moved."""
    name = partition_name(table, month)
    lower, upper = month, month_start(month, 1)
    await conn.execute(
        text(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
    )
    moved = 0
    if default is not None:
        columns = ", ".join(
            await conn.scalars(
                text(
                    "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = "
                    "CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                ),
                {"table": table},
            )
        )
        result = await conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {default} WHERE {column} >= :lower AND "  # noqa: S608 - catalog and constant names
                f"{column} < :upper RETURNING {columns}) "
                f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
            ),
            {"lower": lower, "upper": upper},
        )
        moved = result.rowcount or 0
    await conn.execute(
        text(
            f"ALTER TABLE {table} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )
    )
    return moved
