"""The fleet's accounts: reading an import file, adding, updating and removing accounts.

An import file is CSV (a header row) or JSON Lines, one account per row:

``platform``
    ``instagram`` or ``youtube``.
``username`` / ``ext_id``
    at least one. Instagram: a username (``@`` allowed) or the numeric user id; YouTube: the
    channel id (``UC…``). Aliases: ``external_id``, ``channel_id``, ``user_id``.
``cadence``
    how often: ``30m``, ``6h``, ``1d``, ``7d``, ``hourly``, ``daily``, ``weekly``, or seconds
    [default: daily]. Alias: ``every``.
``scope``
    what a sync covers [default: all].
``refresh_days``
    the rolling refresh window [default: 30].

Importing is idempotent: an account already in the fleet is updated, never duplicated. A bad
row is reported by its line and skipped; the rest are imported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.sync.errors import InvalidJobError
from smcore.sync.models import Platform, Scope
from smcore.sync.streams import plan

MIN_CADENCE = timedelta(minutes=5)
DEFAULT_CADENCE = timedelta(days=1)
_NAMED = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ALIASES = {
    "external_id": "ext_id",
    "channel_id": "ext_id",
    "user_id": "ext_id",
    "every": "cadence",
    "interval": "cadence",
}
_INSTAGRAM_USERNAME = re.compile(r"[a-z0-9._]{1,30}")
_TIKTOK_USERNAME = re.compile(r"[a-z0-9._]{2,24}")
_USERNAMES = {Platform.INSTAGRAM: _INSTAGRAM_USERNAME, Platform.TIKTOK: _TIKTOK_USERNAME}
_YOUTUBE_CHANNEL = re.compile(r"UC[A-Za-z0-9_-]{22}")


class FleetError(ValueError):
    """Input the fleet cannot take (a bad row, a bad cadence); the message says what to fix."""


@dataclass(frozen=True)
class Account:
    """One account as the fleet keeps it."""

    platform: Platform
    username: str | None
    ext_id: str | None
    cadence_s: int
    scope: Scope = Scope.ALL
    refresh_days: float | None = None

    @property
    def ref(self) -> str:
        return self.ext_id or self.username or ""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: accounts added and updated, rows refused (by line)."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    bad: list[BadRow] = field(default_factory=list)


def cadence(value: str | int | float | None) -> int:
    """Seconds between syncs from ``30m``, ``1d``, ``weekly`` or a number of seconds.

    Raises:
        FleetError: not a cadence, or shorter than five minutes.
    """
    if value is None or value == "":
        return int(DEFAULT_CADENCE.total_seconds())
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        word = value.strip().lower()
        if word in _NAMED:
            seconds = _NAMED[word].total_seconds()
        elif word.isdigit():
            seconds = float(word)
        elif match := re.fullmatch(r"(\d+)\s*([smhdw])", word):
            seconds = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}).total_seconds()
        else:
            raise FleetError(f"cadence {value!r}: use 30m, 6h, 1d, 7d, hourly, daily or weekly")
    if seconds < MIN_CADENCE.total_seconds():
        raise FleetError(f"cadence {value!r} is under the minimum of 5 minutes")
    return int(seconds)


def account(fields: dict[str, object]) -> Account:
    """An account from one row's fields (aliases allowed).

    Raises:
        FleetError: what is wrong with the row.
    """
    row = {_ALIASES.get(k.strip().lower(), k.strip().lower()): v for k, v in fields.items()}
    unknown = set(row) - {"platform", "username", "ext_id", "cadence", "scope", "refresh_days"}
    if unknown:
        raise FleetError(f"unknown column(s): {', '.join(sorted(unknown))}")
    raw_platform = str(row.get("platform") or "").strip().lower()
    try:
        platform = Platform(raw_platform)
    except ValueError:
        known = ", ".join(Platform)
        raise FleetError(f"platform {raw_platform!r} is not one of: {known}") from None
    username, ext_id = _identity(platform, row)
    scope_text = str(row.get("scope") or "").strip().lower() or Scope.ALL
    try:
        plan(platform, scope_text)
    except InvalidJobError as exc:
        raise FleetError(str(exc)) from None
    refresh_days = _refresh_days(row.get("refresh_days"))
    raw_cadence = row.get("cadence")
    if raw_cadence is not None and not isinstance(raw_cadence, int | float | str):
        raise FleetError(f"cadence {raw_cadence!r}: use 30m, 6h, 1d, hourly, daily or weekly")
    return Account(
        platform=platform,
        username=username,
        ext_id=ext_id,
        cadence_s=cadence(raw_cadence),
        scope=Scope(scope_text),
        refresh_days=refresh_days,
    )


def _identity(platform: Platform, row: dict[str, object]) -> tuple[str | None, str | None]:
    """(username, ext_id) of a row, checked against the platform's forms."""
    username = str(row.get("username") or "").strip().lstrip("@").lower() or None
    ext_id = str(row.get("ext_id") or "").strip() or None
    if username is None and ext_id is None:
        raise FleetError("a row needs a username or an ext_id")
    if platform is Platform.YOUTUBE:
        if ext_id is None:
            raise FleetError("a YouTube account needs its channel id (UC…) in ext_id")
        if not _YOUTUBE_CHANNEL.fullmatch(ext_id):
            raise FleetError(f"{ext_id!r} is not a YouTube channel id (UC + 22 characters)")
    else:
        name = "an Instagram" if platform is Platform.INSTAGRAM else "a TikTok"
        if username is not None and not _USERNAMES[platform].fullmatch(username):
            raise FleetError(f"{username!r} is not {name} username")
        if ext_id is not None and not ext_id.isdigit():
            raise FleetError(f"{ext_id!r} is not {name} user id (digits)")
    return username, ext_id


def _refresh_days(raw: object) -> float | None:
    if raw in (None, ""):
        return None
    try:
        days = float(str(raw))
    except ValueError:
        raise FleetError(f"refresh_days {raw!r} is not a number") from None
    if not days > 0:
        raise FleetError(f"refresh_days must be positive, got {raw!r}")
    return days


def read(lines: Iterable[str], *, fmt: str | None = None) -> Iterator[tuple[int, Account | BadRow]]:
    """(line number, account or bad row) for each data row of a CSV or JSON Lines text.

    ``fmt`` is ``csv`` or ``jsonl``; by default a first line starting with ``{`` means JSON
    Lines.

    Raises:
        FleetError: a first line that does not name the platform (a CSV without its header):
            nothing of the file can be read.
    """
    it = iter(lines)
    first = next(it, "")
    if "platform" not in first:
        raise FleetError(
            "the first line must name the platform: a CSV header (platform,username,…) or a "
            f"JSON object with a platform (got {first[:100]!r})"
        )
    head = first.lstrip("\ufeff")
    if (fmt or ("jsonl" if head.lstrip().startswith("{") else "csv")) == "jsonl":
        for number, line in enumerate([head, *it], start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, BadRow(number, f"not JSON: {exc.msg}")
                continue
            if not isinstance(data, dict):
                yield number, BadRow(number, "not a JSON object")
                continue
            yield number, _checked(number, data)
        return
    reader = csv.reader([head, *it])
    header = [h.strip().lower() for h in next(reader)]
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield number, BadRow(number, f"{len(values)} fields, the header has {len(header)}")
            continue
        yield number, _checked(number, dict(zip(header, values, strict=True)))


def _checked(number: int, fields: dict[str, object]) -> Account | BadRow:
    try:
        return account(fields)
    except FleetError as exc:
        return BadRow(number, str(exc))


def read_text(data: str, *, fmt: str | None = None) -> list[tuple[int, Account | BadRow]]:
    return list(read(io.StringIO(data), fmt=fmt))


# Accounts are written as arrays (one statement per kind of key, whatever the count).
_UPSERT_BY_EXT_ID = text(
    """
    WITH given AS (
        SELECT * FROM unnest(
            CAST(:platform AS text[]), CAST(:username AS text[]), CAST(:ext_id AS text[]),
            CAST(:scope AS text[]), CAST(:cadence AS int[]), CAST(:refresh AS float8[])
        ) AS g(platform, username, ext_id, scope, cadence, refresh)
    ), merged AS (
        -- an account imported by username before, now named by its id: one row, not two
        DELETE FROM sync_schedules s USING given g
        WHERE s.ext_id IS NULL AND s.platform = g.platform AND s.username = g.username
    )
    INSERT INTO sync_schedules AS s
        (platform, username, ext_id, scope, interval_seconds, refresh_days)
    SELECT platform, username, ext_id, scope, cadence, refresh FROM given
    ON CONFLICT (platform, ext_id) WHERE ext_id IS NOT NULL DO UPDATE SET
        username = coalesce(excluded.username, s.username),
        scope = excluded.scope,
        interval_seconds = excluded.interval_seconds,
        refresh_days = excluded.refresh_days,
        enabled = true,
        next_due_at = least(
            s.next_due_at, now() + make_interval(secs => excluded.interval_seconds)),
        updated_at = now()
    RETURNING old.id IS NULL
    """
)
_UPDATE_RESOLVED = text(
    """
    UPDATE sync_schedules AS s SET
        scope = g.scope, interval_seconds = g.cadence, refresh_days = g.refresh, enabled = true,
        next_due_at = least(s.next_due_at, now() + make_interval(secs => g.cadence)),
        updated_at = now()
    FROM unnest(
        CAST(:platform AS text[]), CAST(:username AS text[]),
        CAST(:scope AS text[]), CAST(:cadence AS int[]), CAST(:refresh AS float8[])
    ) AS g(platform, username, scope, cadence, refresh)
    WHERE s.ext_id IS NOT NULL AND s.platform = g.platform AND s.username = g.username
    RETURNING s.username
    """
)
_UPSERT_BY_USERNAME = text(
    """
    INSERT INTO sync_schedules AS s (platform, username, scope, interval_seconds, refresh_days)
    SELECT * FROM unnest(
        CAST(:platform AS text[]), CAST(:username AS text[]),
        CAST(:scope AS text[]), CAST(:cadence AS int[]), CAST(:refresh AS float8[])
    )
    ON CONFLICT (platform, username) WHERE ext_id IS NULL DO UPDATE SET
        scope = excluded.scope,
        interval_seconds = excluded.interval_seconds,
        refresh_days = excluded.refresh_days,
        enabled = true,
        next_due_at = least(
            s.next_due_at, now() + make_interval(secs => excluded.interval_seconds)),
        updated_at = now()
    RETURNING old.id IS NULL
    """
)


async def add(engine: AsyncEngine, accounts: list[Account]) -> tuple[int, int]:
    """Add or update accounts (one transaction); (added, updated).

    New accounts are due at once; an updated one keeps its due time unless its new cadence
    makes it due sooner.
    """
    latest = _latest(accounts)
    by_id = [a for a in latest if a.ext_id]
    by_name = [a for a in latest if not a.ext_id]
    added = updated = 0
    async with engine.begin() as conn:
        if by_id:
            flags = (await conn.execute(_UPSERT_BY_EXT_ID, _arrays(by_id, ext_id=True))).all()
            added += sum(1 for (new,) in flags if new)
            updated += sum(1 for (new,) in flags if not new)
        if by_name:
            params = _arrays(by_name, ext_id=False)
            resolved = {r[0] for r in (await conn.execute(_UPDATE_RESOLVED, params)).all()}
            updated += len(resolved)
            rest = [a for a in by_name if a.username not in resolved]
            if rest:
                flags = (await conn.execute(_UPSERT_BY_USERNAME, _arrays(rest, ext_id=False))).all()
                added += sum(1 for (new,) in flags if new)
                updated += sum(1 for (new,) in flags if not new)
    return added, updated


def _latest(accounts: list[Account]) -> list[Account]:
    """The last row naming each account (by username or by id) wins, as in the file."""
    seen: set[tuple[str, str, str]] = set()
    kept: list[Account] = []
    for a in reversed(accounts):
        keys = {(a.platform, k, v) for k, v in (("u", a.username), ("e", a.ext_id)) if v}
        if not keys & seen:
            kept.append(a)
        seen |= keys
    return kept[::-1]


def _arrays(accounts: list[Account], *, ext_id: bool) -> dict[str, list[object]]:
    arrays: dict[str, list[object]] = {
        "platform": [str(a.platform) for a in accounts],
        "username": [a.username for a in accounts],
        "scope": [str(a.scope) for a in accounts],
        "cadence": [a.cadence_s for a in accounts],
        "refresh": [a.refresh_days for a in accounts],
    }
    if ext_id:
        arrays["ext_id"] = [a.ext_id for a in accounts]
    return arrays


async def import_rows(
    engine: AsyncEngine, rows: Iterable[tuple[int, Account | BadRow]], *, chunk: int = 5_000
) -> ImportReport:
    """Import parsed rows, ``chunk`` accounts per transaction; bad rows are reported."""
    report = ImportReport()
    pending: list[Account] = []
    seen: set[tuple[str, str]] = set()

    async def flush() -> None:
        added, updated = await add(engine, pending)
        report.added += added
        report.updated += updated
        pending.clear()

    for _, item in rows:
        report.rows += 1
        if isinstance(item, BadRow):
            report.bad.append(item)
            continue
        key = (item.platform, item.ref)
        if key in seen:
            report.duplicates += 1
        seen.add(key)
        pending.append(item)
        if len(pending) >= chunk:
            await flush()
    if pending:
        await flush()
    return report


_REMOVE = text(
    """
    DELETE FROM sync_schedules
    WHERE platform = :platform AND (ext_id = :ref OR username = lower(ltrim(:ref, '@')))
    RETURNING id
    """
)


async def remove(engine: AsyncEngine, platform: Platform, refs: Iterable[str]) -> int:
    """Remove accounts by username or external id; how many were removed. Their stored data
    and history stay; a sync in flight finishes and is not followed by another."""
    removed = 0
    async with engine.begin() as conn:
        for ref in refs:
            result = await conn.execute(_REMOVE, {"platform": str(platform), "ref": ref.strip()})
            removed += len(result.all())
    return removed
