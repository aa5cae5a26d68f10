"""Bulk upserts of synced records (``INSERT … ON CONFLICT``): one statement per page.

Functions take ``conn`` and never commit. Rows with the same key inside one page are merged
first: PostgreSQL refuses to update one row twice in a single statement. Followers, posts and
comments go to the server as one JSON document a page (see "statements" below).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Double,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.providers import PARSER_VERSIONS
from smcore.providers import models as dto
from smcore.providers.cdn import link_expiry
from smcore.store.models import (
    FollowPass,
    Highlight,
    HighlightItem,
    HistoryFrontier,
    JobCall,
    MetricSnapshot,
    Post,
    QuarantinedItem,
    SocialProfile,
    Subscription,
)
from smcore.sync.models import Platform


def _unique(rows: Iterable[dict[str, Any]], key: str = "ext_id") -> list[dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        merged[row[key]] = row
    return list(merged.values())


def _updates(table: Any, excluded: Any, columns: Sequence[str]) -> dict[str, Any]:
    values = {c: getattr(excluded, c) for c in columns}
    values["updated_at"] = func.now()
    return values


def _document(rows: Sequence[dict[str, Any]]) -> str:
    """A page's rows as one JSON document, for ``jsonb_to_recordset`` on the server."""
    return json.dumps(rows, separators=(",", ":"))


def parser_version(platform: str) -> str:
    """What a row normalized by today's parsers of ``platform`` records in ``parser_version``."""
    return str(PARSER_VERSIONS[platform])


@dataclass
class Rebuilt:
    """What rebuilding rows from records did: rows inserted (none stored them before) and rows
    updated (they differed from what today's parsers make of their raw data); ``fresh``: the
    ext_ids of the rows inserted."""

    inserted: int = 0
    updated: int = 0
    fresh: set[str] = field(default_factory=set)

    def add(self, other: Rebuilt) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.fresh |= other.fresh


# ---------------------------------------------------------------------------------- statements
# Rebuilding rows from the raw layer (``sm-core reprocess``, ``:rebuild`` true): a stored row is
# rewritten only from the very record it was stored from (its ``raw_data`` equals the record's:
# a row stored since from another observation is left as it is, so neither the order nor the
# number of payloads holding it matters), only when its ``parser_version`` is older than
# ``:older_than`` (NULL: whatever its version), and only where something differs. A version that
# is not a number (before versions were recorded: '') counts as 0. Rows the same rebuild
# inserted (``:fresh``, their ext_ids) take any later record: the newest observation wins, as
# in a sync.
def _rebuildable(row: str, record: str) -> str:
    """SQL: whether the stored row ``row`` may be rebuilt from ``record`` (see above)."""
    return (
        f"({row}.ext_id = ANY(CAST(:fresh AS text[])) OR ({row}.raw_data = {record}.raw_data"
        f" AND (CAST(:older_than AS integer) IS NULL OR coalesce(CAST(substring("
        f"{row}.parser_version, '^[0-9]+$') AS integer), 0) < CAST(:older_than AS integer))))"
    )


# Bulk writes send a page as ONE parameter, a JSON array that jsonb_to_recordset unpacks on the
# server, into one INSERT … SELECT … ON CONFLICT per table, chained as data-modifying CTEs, so a
# page is one round trip with one fixed statement text (prepared by psycopg after five runs).
# Measured against the alternatives (benchmarks/sync.py, upserts vs COPY): SQLAlchemy's
# executemany VALUES with RETURNING spends most of a page in Python; psycopg's text-format
# arrays escape every quote of every raw payload in Python (re.sub, ~5 ms a page of 50);
# COPY into a temporary table and INSERT … SELECT costs three round trips a page and was
# slower at page size (50) and no faster in batches of 2,000.
# Rows go in sorted by their conflict key, so concurrent writers of overlapping pages (accounts
# that follow several monitored profiles) take row locks in the same order.
# Where nothing reads RETURNING, an update that would change nothing is skipped (WHERE … IS
# DISTINCT FROM …): no dead tuple, no WAL; ``updated_at`` then means "last changed".

# Followers, their subscriptions to one profile, and the follow events among them.
# ``:always`` false: an unchanged account is not rewritten, so RETURNING does not give it; its
# id is read from the statement's snapshot instead. An account committed by a concurrent
# transaction after that snapshot was taken, identical to this page's, is then in neither:
# the page reports fewer subscriptions than accounts and is run again with ``:always`` true,
# whose RETURNING gives every account (see upsert_accounts).
_ACCOUNTS = text(
    """
    WITH page AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(CAST(:page AS jsonb)) AS p(
            ext_id text, username text, full_name text, avatar text,
            is_private boolean, is_verified boolean, raw_data jsonb)
    ), written AS (
        INSERT INTO followers AS f
            (platform, ext_id, username, full_name, avatar, is_private, is_verified, raw_data)
        SELECT :platform, ext_id, username, full_name, avatar, is_private, is_verified, raw_data
        FROM page ORDER BY ext_id
        ON CONFLICT (platform, ext_id) DO UPDATE SET
            username = excluded.username, full_name = excluded.full_name,
            avatar = excluded.avatar, is_private = excluded.is_private,
            is_verified = excluded.is_verified, raw_data = excluded.raw_data,
            updated_at = now()
        WHERE CAST(:always AS boolean)
           OR (f.username, f.full_name, f.avatar, f.is_private, f.is_verified, f.raw_data)
              IS DISTINCT FROM (excluded.username, excluded.full_name, excluded.avatar,
                                excluded.is_private, excluded.is_verified, excluded.raw_data)
        RETURNING f.id, f.ext_id
    ), accounts AS (
        SELECT id FROM written
        UNION ALL
        SELECT f.id FROM page JOIN followers f ON f.platform = :platform AND f.ext_id = page.ext_id
        WHERE NOT EXISTS (SELECT FROM written w WHERE w.ext_id = page.ext_id)
    ), subs AS (
        INSERT INTO subscriptions AS s
            (social_profile_id, follower_id, direction, last_seen_job_call_id, last_seen_at)
        SELECT :profile, id, :direction, :job, now() FROM accounts ORDER BY id
        ON CONFLICT (social_profile_id, follower_id, direction) DO UPDATE SET
            active = true, unfollowed_at = NULL,
            last_seen_job_call_id = excluded.last_seen_job_call_id,
            last_seen_at = now(), updated_at = now(),
            -- A re-follow starts a new follow period (the earlier one stays in follow_events).
            followed_at = CASE WHEN s.active THEN s.followed_at ELSE now() END
        -- PostgreSQL 18: old.active is NULL for an inserted row, false for a re-follow.
        RETURNING s.id, old.active AS was_active
    ), follows AS (
        INSERT INTO follow_events
            (subscription_id, social_profile_id, direction, kind, not_before, job_call_id)
        SELECT id, :profile, :direction, 'follow', CAST(:previous AS timestamptz), :job
        FROM subs
        WHERE was_active IS FALSE
           OR (was_active IS NULL AND CAST(:previous AS timestamptz) IS NOT NULL)
        ORDER BY id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM subs) AS seen, (SELECT count(*) FROM follows) AS follows
    """
)

# Posts of a page: ``refresh`` ones inserted or updated, the others inserted only when new (a
# stored one stays as it is and is not returned), then the media of the posts written.
_POST_COLUMNS = (
    "code",
    "kind",
    "product_type",
    "title",
    "caption",
    "taken_at",
    "likes_count",
    "comments_count",
    "views_count",
    "shares_count",
    "saves_count",
    "pinned",
    "expires_at",
    "raw_data",
    "parser_version",
)
_POSTS = text(
    f"""
    WITH page AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(CAST(:page AS jsonb)) AS p(
            ext_id text, refresh boolean, code text, kind text, product_type text, title text,
            caption text, taken_at timestamptz, likes_count bigint, comments_count bigint,
            views_count bigint, shares_count bigint, saves_count bigint, pinned boolean,
            expires_at timestamptz, raw_data jsonb, parser_version text, media jsonb)
    ), refreshed AS (
        INSERT INTO posts AS t (platform, ext_id, social_profile_id, {", ".join(_POST_COLUMNS)})
        SELECT :platform, ext_id, :profile, {", ".join(_POST_COLUMNS)}
        FROM page WHERE refresh ORDER BY ext_id
        ON CONFLICT (platform, ext_id) DO UPDATE SET
            {", ".join(f"{c} = excluded.{c}" for c in _POST_COLUMNS)}, updated_at = now()
        WHERE NOT CAST(:rebuild AS boolean)
           OR ({_rebuildable("t", "excluded")}
               AND ({", ".join(f"t.{c}" for c in _POST_COLUMNS)})
                   IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in _POST_COLUMNS)}))
        RETURNING t.id, t.ext_id, CASE WHEN old.id IS NULL THEN 'inserted' ELSE 'updated' END
    ), added AS (
        INSERT INTO posts AS t (platform, ext_id, social_profile_id, {", ".join(_POST_COLUMNS)})
        SELECT :platform, ext_id, :profile, {", ".join(_POST_COLUMNS)}
        FROM page WHERE NOT refresh ORDER BY ext_id
        ON CONFLICT (platform, ext_id) DO NOTHING
        RETURNING t.id, t.ext_id, 'inserted'
    ), kept AS (
        -- A rebuild's posts that needed no change: their media are rebuilt all the same.
        SELECT t.id, t.ext_id, 'kept' FROM page
        JOIN posts t ON t.platform = :platform AND t.ext_id = page.ext_id
        WHERE CAST(:rebuild AS boolean) AND {_rebuildable("t", "page")}
          AND NOT EXISTS (SELECT FROM refreshed r WHERE r.ext_id = page.ext_id)
    ), written (id, ext_id, state) AS (
        SELECT * FROM refreshed UNION ALL SELECT * FROM added UNION ALL SELECT * FROM kept
    ), media AS (
        INSERT INTO media AS m
            (post_id, ext_id, position, media_type, url, video_url, width, height,
             url_expires_at)
        SELECT w.id, x.ext_id, x.position, x.media_type, x.url, x.video_url, x.width, x.height,
               x.url_expires_at
        FROM written w JOIN page ON page.ext_id = w.ext_id,
             jsonb_to_recordset(page.media) AS x(
                ext_id text, position integer, media_type text, url text, video_url text,
                width integer, height integer, url_expires_at timestamptz)
        ORDER BY w.id, x.ext_id
        ON CONFLICT (post_id, ext_id) DO UPDATE SET
            position = excluded.position, media_type = excluded.media_type,
            url = excluded.url, video_url = excluded.video_url,
            width = excluded.width, height = excluded.height,
            url_expires_at = excluded.url_expires_at, updated_at = now(),
            -- A fresh link gives an expired (or refused) download another chance.
            fetch_status = CASE WHEN m.fetch_status IN ('expired', 'failed')
                                 AND (m.url, m.video_url)
                                     IS DISTINCT FROM (excluded.url, excluded.video_url)
                                THEN 'pending' ELSE m.fetch_status END,
            fetch_attempts = CASE WHEN m.fetch_status IN ('expired', 'failed')
                                   AND (m.url, m.video_url)
                                       IS DISTINCT FROM (excluded.url, excluded.video_url)
                                  THEN 0 ELSE m.fetch_attempts END
        WHERE (m.position, m.media_type, m.url, m.video_url, m.width, m.height)
              IS DISTINCT FROM (excluded.position, excluded.media_type, excluded.url,
                                excluded.video_url, excluded.width, excluded.height)
    )
    SELECT id, ext_id, state FROM written
    """  # noqa: S608 - the interpolated names are the constant _POST_COLUMNS, values are bound
)

# The authors of a page of comments (or the likers of a post) into the accounts table: new
# ones inserted, a changed name updated (not in a rebuild: an old payload's name never replaces
# a newer one). The statement that follows reads their ids by key (a new statement sees what
# concurrent writers committed meanwhile: no author is missed).
_AUTHORS = text(
    """
    INSERT INTO followers AS f (platform, ext_id, username, full_name, avatar)
    SELECT :platform, ext_id, username, full_name, avatar
    FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(
        ext_id text, username text, full_name text, avatar text)
    ORDER BY ext_id
    ON CONFLICT (platform, ext_id) DO UPDATE SET
        username = excluded.username, full_name = excluded.full_name,
        avatar = excluded.avatar, updated_at = now()
    WHERE NOT CAST(:rebuild AS boolean) AND excluded.username <> ''
      AND (f.username, f.full_name, f.avatar)
          IS DISTINCT FROM (excluded.username, excluded.full_name, excluded.avatar)
    """
)

_COMMENTS = text(
    f"""
    INSERT INTO comments AS c
        (platform, ext_id, post_id, parent_id, author_id, author_ext_id, author_username,
         author_name, text, likes_count, replies_count, raw_data, parser_version, created_at)
    SELECT :platform, p.ext_id, :post, parent.id, author.id, p.author_ext_id,
           p.author_username, p.author_name, p.text, p.likes_count, p.replies_count,
           p.raw_data, p.parser_version, p.created_at
    FROM jsonb_to_recordset(CAST(:page AS jsonb)) AS p(
        ext_id text, parent_ext_id text, author_ext_id text, author_username text,
        author_name text, text text, likes_count integer, replies_count integer,
        raw_data jsonb, parser_version text, created_at timestamptz)
    LEFT JOIN comments parent
        ON parent.platform = :platform AND parent.ext_id = p.parent_ext_id
    LEFT JOIN followers author
        ON author.platform = :platform AND author.ext_id = p.author_ext_id
    ORDER BY p.ext_id
    ON CONFLICT (platform, ext_id) DO UPDATE SET
        text = excluded.text, likes_count = excluded.likes_count,
        replies_count = excluded.replies_count, raw_data = excluded.raw_data,
        author_username = excluded.author_username, author_name = excluded.author_name,
        author_id = excluded.author_id, parent_id = coalesce(excluded.parent_id, c.parent_id),
        parser_version = excluded.parser_version, updated_at = now()
    WHERE (NOT CAST(:rebuild AS boolean) OR {_rebuildable("c", "excluded")})
      AND (c.text, c.likes_count, c.replies_count, c.raw_data, c.author_username,
           c.author_name, c.author_id, c.parent_id, c.parser_version)
          IS DISTINCT FROM (excluded.text, excluded.likes_count, excluded.replies_count,
                            excluded.raw_data, excluded.author_username, excluded.author_name,
                            excluded.author_id, coalesce(excluded.parent_id, c.parent_id),
                            excluded.parser_version)
    RETURNING c.ext_id, old.id IS NULL AS inserted
    """  # noqa: S608 - the interpolated text is the constant _rebuildable, values are bound
)

_LIKES = text(
    """
    INSERT INTO likes AS l (post_id, liker_id, liker_ext_id, liker_username, job_call_id)
    SELECT :post, f.id, p.ext_id, p.username, :job
    FROM jsonb_to_recordset(CAST(:people AS jsonb)) AS p(ext_id text, username text)
    LEFT JOIN followers f ON f.platform = :platform AND f.ext_id = p.ext_id
    ORDER BY p.ext_id
    ON CONFLICT (post_id, liker_ext_id) DO UPDATE SET
        liker_id = excluded.liker_id, liker_username = excluded.liker_username,
        job_call_id = excluded.job_call_id, updated_at = now()
    """
)


# ---------------------------------------------------------------------------------- profiles
async def upsert_profile(conn: AsyncConnection, platform: str, row: dict[str, Any]) -> int:
    """Insert or refresh a profile (a row of ``*_profile_row``); returns its id."""
    stmt = pg_insert(SocialProfile).values(platform=platform, last_synced_at=func.now(), **row)
    upsert = stmt.on_conflict_do_update(
        index_elements=[SocialProfile.platform, SocialProfile.ext_id],
        set_={
            **_updates(SocialProfile, stmt.excluded, list(row)),
            "last_synced_at": func.now(),
        },
    ).returning(SocialProfile.id)
    profile_id: int = await conn.scalar(upsert)  # type: ignore[assignment]  # RETURNING id
    return profile_id


async def rebuild_profile(
    conn: AsyncConnection,
    platform: str,
    row: dict[str, Any],
    *,
    older_than: int | None,
    fresh: Collection[str] = (),
) -> Rebuilt:
    """A profile (a row of ``*_profile_row``) rebuilt from the record it was stored from (see
    "statements"): inserted when none is stored, updated when its raw data is the record's, its
    parser version older than ``older_than`` (None: any) and something differs, or when this
    rebuild inserted it (``fresh``). Its sync time and engagement rate stay."""
    stmt = pg_insert(SocialProfile).values(platform=platform, **row)
    columns = [c for c in row if c != "ext_id"]
    table = SocialProfile.__table__.c
    upsert = stmt.on_conflict_do_update(
        index_elements=[SocialProfile.platform, SocialProfile.ext_id],
        set_=_updates(SocialProfile, stmt.excluded, columns),
        where=and_(
            text(_rebuildable("social_profiles", "excluded")).bindparams(
                older_than=older_than, fresh=list(fresh)
            ),
            tuple_(*(table[c] for c in columns)).is_distinct_from(
                tuple_(*(stmt.excluded[c] for c in columns))
            ),
        ),
    ).returning(literal_column("old.id IS NULL", Boolean))
    inserted = await conn.scalar(upsert)
    if inserted is None:
        return Rebuilt()
    if inserted:
        return Rebuilt(inserted=1, fresh={row["ext_id"]})
    return Rebuilt(updated=1)


def instagram_profile_row(profile: dto.Profile) -> dict[str, Any]:
    return {
        "ext_id": profile.ext_id,
        "username": profile.username,
        "full_name": profile.full_name,
        "bio": profile.biography,
        "avatar": profile.avatar_url or "",
        "url": f"https://www.instagram.com/{profile.username}/",
        "followers_count": profile.followers_count or 0,
        "follows_count": profile.follows_count or 0,
        "posts_count": profile.posts_count or 0,
        "is_private": profile.is_private,
        "is_verified": profile.is_verified,
        "raw_data": profile.raw,
        "parser_version": parser_version(Platform.INSTAGRAM),
    }


def tiktok_profile_row(profile: dto.Profile) -> dict[str, Any]:
    return {
        "ext_id": profile.ext_id,
        "username": profile.username,
        "full_name": profile.full_name,
        "bio": profile.biography,
        "avatar": profile.avatar_url or "",
        "url": f"https://www.tiktok.com/@{profile.username}",
        "followers_count": profile.followers_count or 0,
        "follows_count": profile.follows_count or 0,
        "posts_count": profile.posts_count or 0,
        "is_private": profile.is_private,
        "is_verified": profile.is_verified,
        "sec_uid": profile.sec_uid,
        "raw_data": profile.raw,
        "parser_version": parser_version(Platform.TIKTOK),
    }


def youtube_channel_row(channel: dto.Channel) -> dict[str, Any]:
    handle = (channel.handle or "").lstrip("@")
    return {
        "ext_id": channel.ext_id,
        "username": handle,
        "full_name": channel.title,
        "bio": channel.description,
        "avatar": channel.thumbnail_url or "",
        "url": f"https://www.youtube.com/channel/{channel.ext_id}",
        "followers_count": channel.subscriber_count or 0,
        "follows_count": 0,
        "posts_count": channel.video_count or 0,
        "views_count": channel.view_count,
        "raw_data": channel.raw,
        "parser_version": parser_version(Platform.YOUTUBE),
    }


_METRICS = (
    "followers",
    "follows",
    "posts",
    "views",
    "likes",
    "comments",
    "shares",
    "engagement_rate",
)
# captured_at is the job's start, the same on every write of a job: the table is partitioned by
# it (migration 0007), so it is part of the unique key, and a resumed page must find its row.
_JOB_START = (
    select(func.coalesce(JobCall.started_at, JobCall.created_at))
    .where(JobCall.id == bindparam("snapshot_job_id"))
    .scalar_subquery()
)
_SNAPSHOT = pg_insert(MetricSnapshot).values(captured_at=_JOB_START)
_SNAPSHOT_UPSERT = _SNAPSHOT.on_conflict_do_update(
    index_elements=[
        MetricSnapshot.subject_type,
        MetricSnapshot.subject_id,
        MetricSnapshot.job_call_id,
        MetricSnapshot.captured_at,
    ],
    set_={m: getattr(_SNAPSHOT.excluded, m) for m in _METRICS},
)


async def snapshot(conn: AsyncConnection, rows: list[dict[str, Any]], *, job_id: int) -> None:
    """Metric snapshots, one per subject per job (``subject_type``, ``subject_id``, metrics).

    Every row carries every metric column (None where the provider gave none); a subject seen
    again by the same job (a resumed page) has its snapshot replaced, not doubled.
    """
    if rows:
        await conn.execute(
            _SNAPSHOT_UPSERT,
            [
                {**dict.fromkeys(_METRICS), **r, "job_call_id": job_id, "snapshot_job_id": job_id}
                for r in rows
            ],
        )


async def profile_of(conn: AsyncConnection, profile_id: int) -> Any:
    return (await conn.execute(select(SocialProfile).where(SocialProfile.id == profile_id))).one()


# ---------------------------------------------------------------------------------- followers
async def upsert_accounts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    direction: str,
    accounts: Sequence[dto.Account],
    *,
    job_id: int,
    previous_pass: datetime | None,
) -> int:
    """Followers (or followings) of a profile: accounts and their subscriptions, seen by this pass.

    A follow observed after monitoring began (a subscription new since ``previous_pass``, the
    profile's last complete pass, or seen again after an unfollow) gets a ``follow`` event whose
    window opens at that pass. The first pass records the state it finds, not events: when
    those accounts followed is unknown. Returns how many follows this page observed.
    """
    rows = _unique(
        {
            "ext_id": a.ext_id,
            "username": a.username,
            "full_name": a.full_name,
            "avatar": a.avatar_url or "",
            "is_private": a.is_private,
            "is_verified": a.is_verified,
            "raw_data": a.raw,
        }
        for a in accounts
    )
    if not rows:
        return 0
    params = {
        "page": _document(rows),
        "platform": platform,
        "profile": profile_id,
        "direction": direction,
        "job": job_id,
        "previous": previous_pass,
        "always": False,
    }
    seen, follows = (await conn.execute(_ACCOUNTS, params)).one()
    if seen < len(rows):
        # A concurrent transaction committed one of these accounts, unchanged, after this
        # statement's snapshot (see _ACCOUNTS). Again, rewriting every account: the
        # subscriptions already written are seen again (no event), the missing ones go in.
        seen, again = (await conn.execute(_ACCOUNTS, {**params, "always": True})).one()
        follows += again
    return int(follows)


async def last_complete_pass(
    conn: AsyncConnection, profile_id: int, direction: str
) -> datetime | None:
    """When the profile's newest complete pass of ``direction`` ended (None: never)."""
    value: datetime | None = await conn.scalar(
        select(func.max(FollowPass.finished_at)).where(
            FollowPass.social_profile_id == profile_id,
            FollowPass.direction == direction,
            FollowPass.complete.is_(True),
        )
    )
    return value


async def seen_in_pass(conn: AsyncConnection, profile_id: int, direction: str, job_id: int) -> int:
    count: int = await conn.scalar(  # type: ignore[assignment]  # count(*) is never NULL
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.social_profile_id == profile_id,
            Subscription.direction == direction,
            Subscription.last_seen_job_call_id == job_id,
        )
    )
    return count


_UNFOLLOW = text(
    """
    WITH gone AS (
        UPDATE subscriptions SET active = false, unfollowed_at = now(), updated_at = now()
        WHERE social_profile_id = :profile AND direction = :direction AND active
          AND coalesce(last_seen_job_call_id, -1) <> :job
        RETURNING id, last_seen_at
    )
    INSERT INTO follow_events
        (subscription_id, social_profile_id, direction, kind, not_before, job_call_id)
    SELECT id, :profile, :direction, 'unfollow', last_seen_at, :job FROM gone
    """
)


async def record_pass(
    conn: AsyncConnection,
    profile_id: int,
    direction: str,
    job_id: int,
    *,
    expected: int | None,
    reached: int,
    quarantined: int,
    complete: bool,
) -> int:
    """Record a pass's coverage; after a complete one, the active subscriptions it did not see
    end with an ``unfollow`` event (window: last seen → now). Returns the unfollows."""
    unfollows = 0
    if complete:
        result = await conn.execute(
            _UNFOLLOW, {"profile": profile_id, "direction": direction, "job": job_id}
        )
        unfollows = result.rowcount or 0
    await conn.execute(
        pg_insert(FollowPass)
        .values(
            social_profile_id=profile_id,
            direction=direction,
            job_call_id=job_id,
            expected=expected,
            reached=reached,
            quarantined=quarantined,
            complete=complete,
            unfollows=unfollows,
        )
        .on_conflict_do_nothing()
    )
    return unfollows


# ---------------------------------------------------------------------------------- posts
def _post_row(platform: str, profile_id: int, post: dto.Post) -> dict[str, Any]:
    return {
        "platform": platform,
        "ext_id": post.ext_id,
        "social_profile_id": profile_id,
        "code": post.code or "",
        "kind": post.kind,
        "product_type": post.product_type or "",
        "title": "",
        "caption": post.caption or "",
        "taken_at": post.taken_at,
        "likes_count": post.like_count or 0,
        "comments_count": post.comment_count or 0,
        "views_count": post.play_count or 0,
        "shares_count": post.share_count or 0,
        "saves_count": post.save_count or 0,
        "pinned": post.pinned,
        "expires_at": post.expires_at.isoformat() if post.expires_at else None,
        "raw_data": post.raw,
        "parser_version": parser_version(platform),
    }


def _video_row(profile_id: int, video: dto.Video) -> dict[str, Any]:
    return {
        "platform": Platform.YOUTUBE,
        "ext_id": video.ext_id,
        "social_profile_id": profile_id,
        "code": video.ext_id,
        "kind": "video",
        "product_type": "",
        "title": video.title,
        "caption": video.description,
        "taken_at": video.published_at or datetime.now().astimezone(),
        "likes_count": video.like_count or 0,
        "comments_count": video.comment_count or 0,
        "views_count": video.view_count or 0,
        "shares_count": 0,
        "saves_count": 0,
        "pinned": False,
        "expires_at": None,
        "raw_data": video.raw,
        "parser_version": parser_version(Platform.YOUTUBE),
    }


def post_rows(platform: str, profile_id: int, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of ``posts`` for provider records (Instagram posts or YouTube videos)."""
    if platform == Platform.YOUTUBE:
        return [_video_row(profile_id, v) for v in items]
    return [_post_row(platform, profile_id, p) for p in items]


def _expiry(url: str) -> str | None:
    expires = link_expiry(url)
    return expires.isoformat() if expires else None


def _media_rows(post: Any) -> list[dict[str, Any]]:
    """A post's media; one per ext_id (the last), keeping its position in the post. A YouTube
    video's media is its thumbnail (the Data API gives no link to the video file)."""
    if isinstance(post, dto.Video):
        if not post.thumbnail_url:
            return []
        return [
            {
                "ext_id": f"{post.ext_id}:thumbnail",
                "position": 0,
                "media_type": "photo",
                "url": post.thumbnail_url,
                "video_url": "",
                "width": 0,
                "height": 0,
                "url_expires_at": _expiry(post.thumbnail_url),
            }
        ]
    media = {
        m.ext_id: {
            "ext_id": m.ext_id,
            "position": i,
            "media_type": m.media_type,
            "url": m.url or "",
            "video_url": m.video_url or "",
            "width": m.width or 0,
            "height": m.height or 0,
            "url_expires_at": _expiry(m.video_url or m.url or ""),
        }
        for i, m in enumerate(getattr(post, "media", ()))
    }
    return list(media.values())


async def store_posts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    items: Sequence[Any],
    *,
    job_id: int,
    refresh: Sequence[Any] = (),
) -> dict[str, int]:
    """Posts (or videos) of a page with their media and a metric snapshot each.

    ``refresh`` (inside the refresh window): inserted or updated with their counts now.
    ``items`` (outside it): inserted when new to the store; a stored one stays as it is.
    Returns ext_id → post id of the posts written, each with this job's snapshot.
    """
    refreshed = {p.ext_id: p for p in refresh}
    older = [p for p in {p.ext_id: p for p in items}.values() if p.ext_id not in refreshed]
    posts = [*refreshed.values(), *older]
    if not posts:
        return {}
    written = await _write_posts(conn, platform, profile_id, posts, set(refreshed))
    ids = {ext: pid for pid, ext, _ in written}
    await snapshot(
        conn,
        [
            {
                "subject_type": "post",
                "subject_id": ids[p.ext_id],
                "likes": p.like_count,
                "comments": p.comment_count,
                "views": getattr(p, "play_count", None)
                if platform != Platform.YOUTUBE
                else getattr(p, "view_count", None),
                "shares": getattr(p, "share_count", None),
            }
            for p in posts
            if p.ext_id in ids
        ],
        job_id=job_id,
    )
    return ids


async def _write_posts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    posts: Sequence[Any],
    refresh: set[str],
    *,
    rebuild: bool = False,
    older_than: int | None = None,
    fresh: Collection[str] = (),
) -> list[tuple[int, str, str]]:
    """``_POSTS`` for one page: (id, ext_id, inserted | updated | kept) of the posts written."""
    page = [
        {
            **row,
            "taken_at": row["taken_at"].isoformat(),
            "refresh": post.ext_id in refresh,
            "media": _media_rows(post),
        }
        for post, row in zip(posts, post_rows(platform, profile_id, posts), strict=True)
    ]
    params = {
        "page": _document(page),
        "platform": platform,
        "profile": profile_id,
        "rebuild": rebuild,
        "older_than": older_than,
        "fresh": list(fresh),
    }
    return [(r[0], r[1], r[2]) for r in (await conn.execute(_POSTS, params)).all()]


async def rebuild_posts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    items: Sequence[Any],
    *,
    older_than: int | None,
    fresh: Collection[str] = (),
) -> Rebuilt:
    """Posts (or videos) rebuilt with their media from the records they were stored from (see
    "statements"); ones never stored are inserted, and ones this rebuild inserted (``fresh``)
    take the newer record. No metric snapshot: history stays as it was observed."""
    posts = list({p.ext_id: p for p in items}.values())
    if not posts:
        return Rebuilt()
    written = await _write_posts(
        conn,
        platform,
        profile_id,
        posts,
        {p.ext_id for p in posts},
        rebuild=True,
        older_than=older_than,
        fresh=fresh,
    )
    states = [state for _, _, state in written]
    return Rebuilt(
        inserted=states.count("inserted"),
        updated=states.count("updated"),
        fresh={ext for _, ext, state in written if state == "inserted"},
    )


STORY = "story"
"""``posts.product_type`` of a story: stored beside posts (with its media), but not a post of the
feed: never a comment or likers target, never in the engagement rate."""


async def newest_post_time(conn: AsyncConnection, profile_id: int) -> datetime | None:
    """The newest stored post of a profile, pinned ones and stories aside."""
    value: datetime | None = await conn.scalar(
        select(func.max(Post.taken_at)).where(
            Post.social_profile_id == profile_id,
            Post.pinned.is_(False),
            Post.product_type != STORY,
        )
    )
    return value


@dataclass(frozen=True)
class Frontier:
    """Where a profile's history backfill stands (``history_frontiers``)."""

    cursor: str | None
    provider: str | None
    complete: bool


async def frontier(conn: AsyncConnection, profile_id: int, stream: str) -> Frontier | None:
    row = (
        await conn.execute(
            select(
                HistoryFrontier.cursor, HistoryFrontier.provider, HistoryFrontier.complete
            ).where(
                HistoryFrontier.social_profile_id == profile_id, HistoryFrontier.stream == stream
            )
        )
    ).first()
    return Frontier(row.cursor, row.provider, row.complete) if row else None


async def set_frontier(
    conn: AsyncConnection,
    profile_id: int,
    stream: str,
    *,
    cursor: str | None,
    provider: str | None,
    complete: bool,
) -> None:
    """Move the history frontier (in the transaction of the page that reached it)."""
    stmt = pg_insert(HistoryFrontier).values(
        social_profile_id=profile_id,
        stream=stream,
        cursor=cursor,
        provider=provider,
        complete=complete,
        pages=1,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[HistoryFrontier.social_profile_id, HistoryFrontier.stream],
            set_={
                "cursor": stmt.excluded.cursor,
                "provider": stmt.excluded.provider,
                "complete": stmt.excluded.complete,
                "pages": HistoryFrontier.pages + 1,
                "updated_at": func.now(),
            },
        )
    )


# ---------------------------------------------------------------------------------- comments
async def _upsert_people(
    conn: AsyncConnection, platform: str, people: Iterable[dict[str, Any]], *, rebuild: bool = False
) -> None:
    """Comment authors or likers into the accounts table (``followers``); ``rebuild``: new ones
    only."""
    rows = _unique(p for p in people if p["ext_id"])
    if rows:
        await conn.execute(
            _AUTHORS, {"people": _document(rows), "platform": platform, "rebuild": rebuild}
        )


async def upsert_comments(
    conn: AsyncConnection, platform: str, post_id: int, comments: Sequence[dto.Comment]
) -> int:
    """Comments (or replies: ``parent_ext_id`` set, the parent stored before) of one post, their
    authors linked to the accounts table."""
    rows = _comment_rows(platform, comments)
    if rows:
        await _write_comments(conn, platform, post_id, comments, rows)
    return len(rows)


async def rebuild_comments(
    conn: AsyncConnection,
    platform: str,
    post_id: int,
    comments: Sequence[dto.Comment],
    *,
    older_than: int | None,
    fresh: Collection[str] = (),
) -> Rebuilt:
    """Comments of one post rebuilt from the records they were stored from (see "statements");
    ones never stored are inserted, and ones this rebuild inserted (``fresh``) take the newer
    record. Authors new to the accounts table are added; a stored author is left as it is."""
    rows = _comment_rows(platform, comments)
    if not rows:
        return Rebuilt()
    return await _write_comments(
        conn, platform, post_id, comments, rows, rebuild=True, older_than=older_than, fresh=fresh
    )


def _comment_rows(platform: str, comments: Sequence[dto.Comment]) -> list[dict[str, Any]]:
    version = parser_version(platform)
    return _unique(
        {
            "ext_id": c.ext_id,
            "parent_ext_id": c.parent_ext_id,
            "author_ext_id": c.author_ext_id or "",
            "author_username": c.author_username or "",
            "author_name": c.author_name or "",
            "text": c.text,
            "likes_count": c.like_count or 0,
            "replies_count": c.reply_count or 0,
            "raw_data": c.raw,
            "parser_version": version,
            "created_at": c.created_at.isoformat(),
        }
        for c in comments
    )


async def _write_comments(
    conn: AsyncConnection,
    platform: str,
    post_id: int,
    comments: Sequence[dto.Comment],
    rows: list[dict[str, Any]],
    *,
    rebuild: bool = False,
    older_than: int | None = None,
    fresh: Collection[str] = (),
) -> Rebuilt:
    await _upsert_people(
        conn,
        platform,
        (
            {
                "ext_id": c.author_ext_id or "",
                "username": c.author_username or "",
                "full_name": c.author_name or "",
                "avatar": c.author_avatar_url or "",
            }
            for c in comments
        ),
        rebuild=rebuild,
    )
    done = Rebuilt()
    # Top-level comments first: a reply finds its parent by key, stored by then.
    for group in (
        [r for r in rows if not r["parent_ext_id"]],
        [r for r in rows if r["parent_ext_id"]],
    ):
        if group:
            params = {
                "page": _document(group),
                "platform": platform,
                "post": post_id,
                "rebuild": rebuild,
                "older_than": older_than,
                "fresh": list(fresh),
            }
            written = (await conn.execute(_COMMENTS, params)).all()
            new = {ext for ext, inserted in written if inserted}
            done.add(Rebuilt(inserted=len(new), updated=len(written) - len(new), fresh=new))
    return done


async def upsert_likers(
    conn: AsyncConnection,
    platform: str,
    post_id: int,
    likers: Sequence[dto.Account],
    *,
    total: int,
    job_id: int,
) -> int:
    """A post's likers as its listing showed them, linked to the accounts table, and the
    listing's coverage (listed of ``total``) on the post. Returns how many were listed."""
    people = _unique(
        {
            "ext_id": a.ext_id,
            "username": a.username,
            "full_name": a.full_name,
            "avatar": a.avatar_url or "",
        }
        for a in likers
    )
    await _upsert_people(conn, platform, people)
    if people:
        await conn.execute(
            _LIKES,
            {"people": _document(people), "platform": platform, "post": post_id, "job": job_id},
        )
    await conn.execute(
        update(Post)
        .where(Post.id == post_id)
        .values(likers_listed=len(people), likers_total=total, likers_synced_at=func.now())
    )
    return len(people)


@dataclass(frozen=True)
class CommentTarget:
    """A post whose comments a sync fetches, and when they were last fetched (the provider's
    time of that sync; None: never)."""

    post_id: int
    ext_id: str
    comments_count: int
    synced_at: datetime | None


async def comment_targets(
    conn: AsyncConnection, profile_id: int, *, refreshed_since: datetime | None
) -> list[CommentTarget]:
    """Posts whose comments to fetch, newest first: those inside the refresh window
    (``refreshed_since``; None: every post) and those whose comments were never fetched."""
    query = select(Post.id, Post.ext_id, Post.comments_count, Post.comments_synced_at).where(
        Post.social_profile_id == profile_id, Post.product_type != STORY
    )
    if refreshed_since is not None:
        query = query.where((Post.taken_at >= refreshed_since) | Post.comments_synced_at.is_(None))
    rows = (await conn.execute(query.order_by(Post.taken_at.desc(), Post.id.desc()))).all()
    return [CommentTarget(r.id, r.ext_id, r.comments_count, r.comments_synced_at) for r in rows]


async def comments_synced(conn: AsyncConnection, post_ids: Sequence[int], at: datetime) -> None:
    """The posts' comments are fetched as of ``at`` (the provider's time of this sync)."""
    if post_ids:
        await conn.execute(update(Post).where(Post.id.in_(post_ids)).values(comments_synced_at=at))


@dataclass(frozen=True)
class ReplyTarget:
    """A comment whose replies a sync fetches (its post's ids too: providers ask by both)."""

    comment_id: int
    ext_id: str
    post_id: int
    post_ext_id: str


_REPLY_TARGETS = text(
    """
    SELECT c.id, c.ext_id, p.id AS post_id, p.ext_id AS post_ext_id
    FROM posts p JOIN comments c ON c.post_id = p.id
    WHERE p.social_profile_id = :profile
      AND (CAST(:since AS timestamptz) IS NULL OR p.taken_at >= CAST(:since AS timestamptz))
      AND c.parent_id IS NULL AND c.replies_count > 0
      AND c.replies_count > (SELECT count(*) FROM comments r WHERE r.parent_id = c.id)
    ORDER BY p.taken_at DESC, c.id
    """
)


async def reply_targets(
    conn: AsyncConnection, profile_id: int, *, since: datetime | None
) -> list[ReplyTarget]:
    """Comments with more replies than are stored, on posts published since ``since`` (None:
    every post), newest post first."""
    found = await conn.execute(_REPLY_TARGETS, {"profile": profile_id, "since": since})
    return [ReplyTarget(r.id, r.ext_id, r.post_id, r.post_ext_id) for r in found]


@dataclass(frozen=True)
class LikersTarget:
    post_id: int
    ext_id: str
    likes_count: int


async def likers_targets(
    conn: AsyncConnection, profile_id: int, *, since: datetime | None
) -> list[LikersTarget]:
    """Posts whose likers to list: those with likes published since ``since`` (None: all of
    them), newest first; stories aside. Older posts keep the likers last listed."""
    query = select(Post.id, Post.ext_id, Post.likes_count).where(
        Post.social_profile_id == profile_id,
        Post.product_type != STORY,
        Post.likes_count > 0,
    )
    if since is not None:
        query = query.where(Post.taken_at >= since)
    found = await conn.execute(query.order_by(Post.taken_at.desc(), Post.id.desc()))
    return [LikersTarget(r.id, r.ext_id, r.likes_count) for r in found]


# ---------------------------------------------------------------------------------- highlights
async def upsert_highlights(
    conn: AsyncConnection, profile_id: int, highlights: Sequence[dto.Highlight]
) -> dict[str, int]:
    """A profile's highlights; returns ext_id → highlight id."""
    rows = [
        {
            "social_profile_id": profile_id,
            "ext_id": h.ext_id,
            "title": h.title,
            "media_count": h.media_count,
            "cover_url": h.cover_url or "",
            "published_at": h.created_at,
            "raw_data": h.raw,
        }
        for h in {h.ext_id: h for h in highlights}.values()
    ]
    if not rows:
        return {}
    stmt = pg_insert(Highlight).values(rows)
    upsert = stmt.on_conflict_do_update(
        index_elements=[Highlight.social_profile_id, Highlight.ext_id],
        set_=_updates(Highlight, stmt.excluded, ["title", "media_count", "cover_url", "raw_data"]),
    ).returning(Highlight.ext_id, Highlight.id)
    return {row.ext_id: row.id for row in await conn.execute(upsert)}


@dataclass(frozen=True)
class HighlightTarget:
    highlight_id: int
    ext_id: str


async def highlight_targets(conn: AsyncConnection, profile_id: int) -> list[HighlightTarget]:
    """Highlights whose stories to read: those holding fewer stored stories than they count
    (new ones, ones that grew), newest first."""
    linked = (
        select(func.count())
        .where(HighlightItem.highlight_id == Highlight.id)
        .correlate(Highlight)
        .scalar_subquery()
    )
    found = await conn.execute(
        select(Highlight.id, Highlight.ext_id)
        .where(
            Highlight.social_profile_id == profile_id,
            linked < func.coalesce(Highlight.media_count, 1),
        )
        .order_by(Highlight.published_at.desc().nulls_last(), Highlight.id)
    )
    return [HighlightTarget(r.id, r.ext_id) for r in found]


async def link_highlight_items(
    conn: AsyncConnection, highlight_id: int, post_ids: Sequence[int]
) -> None:
    """The stories of a highlight, in its order (a story removed from it stays linked)."""
    if post_ids:
        stmt = pg_insert(HighlightItem).values(
            [
                {"highlight_id": highlight_id, "post_id": pid, "position": i}
                for i, pid in enumerate(post_ids)
            ]
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[HighlightItem.highlight_id, HighlightItem.post_id],
                set_={"position": stmt.excluded.position},
            )
        )


# ---------------------------------------------------------------------------------- quarantine
async def quarantine(
    conn: AsyncConnection,
    rejected: Sequence[dto.Rejected],
    *,
    job_id: int,
    service_call_id: int,
    platform: str,
    stream: str,
) -> int:
    """Set malformed items aside with their raw payload and the reason; returns how many."""
    if rejected:
        await conn.execute(
            insert(QuarantinedItem),
            [
                {
                    "job_call_id": job_id,
                    "service_call_id": service_call_id,
                    "platform": platform,
                    "stream": stream,
                    "ext_id": r.ext_id,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in rejected
            ],
        )
    return len(rejected)


_QUARANTINE_ONCE = text(
    """
    INSERT INTO quarantined_items
        (job_call_id, service_call_id, platform, stream, ext_id, reason, raw)
    SELECT :job, :call, :platform, :stream, r.ext_id, r.reason, r.raw
    FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS r(ext_id text, reason text, raw jsonb)
    WHERE NOT EXISTS (
        SELECT FROM quarantined_items q
        WHERE q.job_call_id = :job AND q.service_call_id = :call AND q.raw = r.raw)
    """
)


async def quarantine_once(
    conn: AsyncConnection,
    rejected: Sequence[dto.Rejected],
    *,
    job_id: int,
    service_call_id: int,
    platform: str,
    stream: str,
) -> int:
    """:func:`quarantine` for items read again (``sm-core reprocess``): an item already set
    aside from the same call is not set aside twice. Returns how many were added."""
    if not rejected:
        return 0
    items = [{"ext_id": r.ext_id, "reason": r.reason, "raw": r.raw} for r in rejected]
    result = await conn.execute(
        _QUARANTINE_ONCE,
        {
            "items": _document(items),
            "job": job_id,
            "call": service_call_id,
            "platform": platform,
            "stream": stream,
        },
    )
    return result.rowcount or 0


async def quarantined_in_job(conn: AsyncConnection, job_id: int, stream: str | None) -> int:
    """Distinct items a job (one of its streams, or all: None) set aside; a page asked again
    sets its items aside again."""
    query = select(func.count(func.distinct(QuarantinedItem.raw))).where(
        QuarantinedItem.job_call_id == job_id
    )
    if stream is not None:
        query = query.where(QuarantinedItem.stream == stream)
    count: int = await conn.scalar(query)  # type: ignore[assignment]  # count() is never NULL
    return count


# ---------------------------------------------------------------------------------- the profile
async def observe_profile(conn: AsyncConnection, profile_id: int, *, job_id: int) -> float:
    """The sync's one profile observation: engagement rate from the 12 newest posts (pinned
    ones aside, counts as refreshed by this sync), then one metric snapshot carrying every
    metric the provider gave."""
    recent = (
        select(Post.likes_count, Post.comments_count)
        .where(
            Post.social_profile_id == profile_id,
            Post.pinned.is_(False),
            Post.product_type != STORY,
        )
        .order_by(Post.taken_at.desc())
        .limit(12)
        .subquery()
    )
    engagement = select(func.avg(recent.c.likes_count + recent.c.comments_count)).scalar_subquery()
    # The rate and the profile's counts in one round trip (the division as Python's, in float8).
    profile = (
        await conn.execute(
            update(SocialProfile)
            .where(SocialProfile.id == profile_id)
            .values(
                engagement_rate=case(
                    (
                        SocialProfile.followers_count > 0,
                        cast(func.coalesce(engagement, 0), Double) / SocialProfile.followers_count,
                    ),
                    else_=0.0,
                ),
                updated_at=func.now(),
            )
            .returning(
                SocialProfile.platform,
                SocialProfile.followers_count,
                SocialProfile.follows_count,
                SocialProfile.posts_count,
                SocialProfile.views_count,
                SocialProfile.engagement_rate,
            )
        )
    ).one()
    rate = float(profile.engagement_rate)
    await snapshot(
        conn,
        [
            {
                "subject_type": "profile",
                "subject_id": profile_id,
                "followers": profile.followers_count,
                "follows": None if profile.platform == Platform.YOUTUBE else profile.follows_count,
                "posts": profile.posts_count,
                "views": profile.views_count,
                "engagement_rate": rate,
            }
        ],
        job_id=job_id,
    )
    return rate
