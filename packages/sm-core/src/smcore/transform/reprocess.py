"""Rebuild normalized rows from the raw layer with today's parsers (``sm-core reprocess``).

Every provider answer a sync stored is in ``raw_payloads`` (its provider, the sync's method
name for it, the request and the response). After a parser fix (and a bump of its platform's
``PARSER_VERSION``), :func:`reprocess` walks those payloads oldest first, in batches by keyset,
parses each one again with the parser its provider's adapter uses today (:data:`REGISTRY`), and
rebuilds the rows it holds:

- profiles, posts (with their media) and comments, each recording today's ``parser_version``;
- a stored row is rebuilt only from the record it was stored from (its ``raw_data``): a row that
  a later observation replaced is left to that one, so the order and the number of payloads
  never matter, and a second run changes nothing;
- by default only rows of an older parser version than today's are rebuilt
  (``older_than``: rows older than that version; ``all_versions``: every row);
- records nobody stored (their item, or their whole page, did not parse before) are inserted;
  items that still do not parse go to quarantine (once per call);
- no metric snapshot and no follow event is written: history stays as it was observed, and the
  listings whose writes are history (followers, followings, likers) are not rebuilt;
- a payload no parser is mapped to, or whose subject is no longer stored, is counted and
  reported, never fatal.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.providers import PARSER_VERSIONS, rocket, scraper, tikapi23, tiktok_research, tikwm
from smcore.providers import youtube as yt
from smcore.providers.errors import ProviderError
from smcore.providers.models import Rejected
from smcore.providers.payload import PageParts
from smcore.providers.tiktok import TikTokUser
from smcore.store import rows
from smcore.sync.models import Platform

BATCH = 200
"""Payloads read, parsed and written per transaction."""


class ReprocessError(ValueError):
    """The options name nothing to reprocess (an unknown profile)."""


@dataclass(frozen=True)
class Payload:
    """One stored provider answer, with what its call was about."""

    id: int
    provider: str
    method: str
    request: dict[str, Any]
    response: Any
    call_id: int
    stream: str
    job_id: int
    platform: str
    profile_id: int | None
    profile_ext_id: str | None
    profile_username: str | None
    post_id: int | None  # the post whose comments (or a comment's replies) were listed
    post_ext_id: str | None
    comment_ext_id: str | None  # the comment whose replies were listed
    highlight_ext_id: str | None  # the highlight whose stories were listed

    @property
    def params(self) -> dict[str, Any]:
        """The call's parameters as the provider facade passed them to the parsers."""
        found: dict[str, Any] = {}
        if self.post_ext_id is not None:
            found["post_id"] = found["video_id"] = self.post_ext_id
        if self.comment_ext_id is not None:
            found["comment_id"] = self.comment_ext_id
        if self.highlight_ext_id is not None:
            found["reel_id"] = f"highlight:{self.highlight_ext_id}"
        elif self.profile_ext_id is not None:
            found["reel_id"] = self.profile_ext_id  # a user's stories: its reel is its pk
        return found


# ---------------------------------------------------------------------------------- parsers
# A parser: the payload's response, read as its method's answer → (records, cursor, has more).
Parse = Callable[[Payload], PageParts]
EndpointParse = Callable[[dict[str, Any], Mapping[str, Any]], PageParts]


class Unmapped(Exception):
    """No parser reads this payload."""


def _endpoint(endpoints: Mapping[Any, Any], method: str) -> Parse:
    """The parser a RapidAPI-style adapter (``ENDPOINTS``: path and parser per method) uses for
    ``method``; when the method has several endpoints (RocketAPI's user_info by username or by
    id), the one the stored request names."""
    by_path: dict[str, EndpointParse] = {
        e.path: e.parse for key, e in endpoints.items() if key.split(":")[0] == method
    }
    if not by_path:
        raise LookupError(f"no endpoint serves {method}")  # a wrong table below: our bug

    def parse(payload: Payload) -> PageParts:
        found = (
            next(iter(by_path.values()))
            if len(by_path) == 1
            else by_path.get(str(payload.request.get("endpoint")))
        )
        if found is None:
            raise Unmapped(f"{payload.provider} {payload.method}: no endpoint for the request")
        return found(payload.response, payload.params)

    return parse


def _youtube(method: yt.YouTubeMethod) -> Parse:
    return lambda payload: yt.page_parser(method, payload.params)(payload.response)


def _research_videos(payload: Payload) -> PageParts:
    user = (
        TikTokUser(ext_id=payload.profile_ext_id, username=payload.profile_username)
        if payload.profile_ext_id is not None and payload.profile_username is not None
        else None
    )
    # The walk only decides the next cursor, which a rebuild does not follow.
    return tiktok_research.videos_page(payload.response, tiktok_research.Walk(date.today()), user)


def _research_comments(payload: Payload) -> PageParts:
    return tiktok_research.comments_page(payload.response)


# ---------------------------------------------------------------------------------- writers
@dataclass
class Scope:
    """What a writer may rebuild: rows of an older parser version than ``older_than`` (None:
    any), and the rows this run inserted (per table and platform: their ext_ids), which take
    any later record."""

    older_than: int | None
    fresh: dict[tuple[str, str], set[str]]

    def of(self, table: str, platform: str) -> set[str]:
        return self.fresh.setdefault((table, platform), set())


# A writer: a payload's parsed records into their rows → what changed, per table.
Write = Callable[[AsyncConnection, Payload, list[Any], Scope], Awaitable[dict[str, rows.Rebuilt]]]

_PROFILE_ROWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    Platform.INSTAGRAM: rows.instagram_profile_row,
    Platform.TIKTOK: rows.tiktok_profile_row,
    Platform.YOUTUBE: rows.youtube_channel_row,
}


class NoSubject(Exception):
    """The profile or post the payload's records belong to is not stored (any more)."""


async def _profile(
    conn: AsyncConnection, payload: Payload, records: list[Any], scope: Scope
) -> dict[str, rows.Rebuilt]:
    done = rows.Rebuilt()
    for record in records:
        row = _PROFILE_ROWS[payload.platform](record)
        done.add(
            await rows.rebuild_profile(
                conn,
                payload.platform,
                row,
                older_than=scope.older_than,
                fresh=scope.of("profiles", payload.platform),
            )
        )
    return {"profiles": done}


async def _posts(
    conn: AsyncConnection, payload: Payload, records: list[Any], scope: Scope
) -> dict[str, rows.Rebuilt]:
    if payload.profile_id is None:
        raise NoSubject("the profile is not stored")
    done = await rows.rebuild_posts(
        conn,
        payload.platform,
        payload.profile_id,
        records,
        older_than=scope.older_than,
        fresh=scope.of("posts", payload.platform),
    )
    return {"posts": done}


async def _stories(
    conn: AsyncConnection, payload: Payload, records: list[Any], scope: Scope
) -> dict[str, rows.Rebuilt]:
    for record in records:  # whatever the provider calls them, these are stories
        record.product_type = rows.STORY
    return await _posts(conn, payload, records, scope)


async def _comments(
    conn: AsyncConnection, payload: Payload, records: list[Any], scope: Scope
) -> dict[str, rows.Rebuilt]:
    if payload.post_id is None:
        raise NoSubject("the post is not stored")
    done = await rows.rebuild_comments(
        conn,
        payload.platform,
        payload.post_id,
        records,
        older_than=scope.older_than,
        fresh=scope.of("comments", payload.platform),
    )
    return {"comments": done}


async def _nothing(
    conn: AsyncConnection, payload: Payload, records: list[Any], scope: Scope
) -> dict[str, rows.Rebuilt]:
    """A listing whose records are no rows (YouTube's playlist entries: the ``videos`` call
    beside each page holds the videos)."""
    return {}


# ---------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Handler:
    """How a payload of one provider and method is read again and written."""

    parse: Parse
    write: Write


# Per platform, the methods a sync records (raw_payloads.method: the listing's name) that hold
# normalized rows: the provider method that answered them, and their writer.
_INSTAGRAM: dict[str, tuple[str, Write]] = {
    "profile": ("user_info", _profile),
    "posts_page": ("user_posts", _posts),
    "reels_page": ("user_reels", _posts),
    "stories": ("user_stories", _stories),
    "highlight_stories": ("highlight_stories", _stories),
    "comments_page": ("post_comments", _comments),
    "replies_page": ("comment_replies", _comments),
}
_TIKTOK: dict[str, tuple[str, Write]] = {
    "profile": ("user_info", _profile),
    "videos_page": ("user_posts", _posts),
    "comments_page": ("post_comments", _comments),
    "replies_page": ("comment_replies", _comments),
}
_YOUTUBE: dict[str, tuple[yt.YouTubeMethod, Write]] = {
    "channel": ("channel", _profile),
    "uploads_page": ("uploads", _nothing),
    "videos": ("videos", _posts),
    "comment_threads": ("comment_threads", _comments),
    "comment_replies": ("comment_replies", _comments),
}

REGISTRY: Mapping[tuple[str, str], Handler] = {
    **{
        (provider, kind): Handler(_endpoint(endpoints, method), write)
        for provider, endpoints, kinds in (
            ("rocket", rocket.ENDPOINTS, _INSTAGRAM),
            ("scraper", scraper.ENDPOINTS, _INSTAGRAM),
            ("tikapi23", tikapi23.ENDPOINTS, _TIKTOK),
            ("tikwm", tikwm.ENDPOINTS, _TIKTOK),
        )
        for kind, (method, write) in kinds.items()
    },
    **{
        ("youtube", kind): Handler(_youtube(method), write)
        for kind, (method, write) in _YOUTUBE.items()
    },
    ("research", "videos_page"): Handler(_research_videos, _posts),
    ("research", "comments_page"): Handler(_research_comments, _comments),
}
"""(provider, method as raw_payloads records it) → its parser (the one the provider's adapter
uses) and its writer. A payload of a pair not here is reported as unmapped."""

NOT_REBUILT: Mapping[str, str] = {
    "followers_page": "followers: their rows are follow history",
    "followings_page": "followings: their rows are follow history",
    "likers": "likers: their rows are the listing's coverage",
    "highlights": "highlights: not versioned rows",
}
"""Methods whose payloads are mapped but deliberately not rebuilt, and why."""


# ---------------------------------------------------------------------------------- the walk
@dataclass(frozen=True)
class Options:
    """What to reprocess."""

    platform: str | None = None
    profile: str | None = None  # a username or a platform id (ext_id)
    since: datetime | None = None  # payloads fetched from then on
    older_than: int | None = None  # rows of an older parser version (None: today's version)
    all_versions: bool = False  # every row, whatever its version
    dry_run: bool = False  # everything in a transaction rolled back
    batch: int = BATCH

    def threshold(self, platform: str) -> int | None:
        """Rows of ``platform`` with an older version than this are rebuilt (None: all)."""
        if self.all_versions:
            return None
        return self.older_than if self.older_than is not None else PARSER_VERSIONS[platform]


@dataclass
class Report:
    """What a reprocess read and changed (plain data: ``to_json`` for ``--json``)."""

    total: int = 0  # payloads selected
    payloads: int = 0  # payloads read
    parsed: int = 0  # payloads read again into records and written
    records: int = 0
    quarantined: int = 0  # items set aside that were not before
    tables: dict[str, rows.Rebuilt] = field(
        default_factory=lambda: {t: rows.Rebuilt() for t in ("profiles", "posts", "comments")}
    )
    failed: Counter[str] = field(default_factory=Counter)  # page-level parse errors, by reason
    unmapped: Counter[str] = field(default_factory=Counter)  # "provider method" → payloads
    not_rebuilt: Counter[str] = field(default_factory=Counter)  # method → payloads
    no_subject: Counter[str] = field(default_factory=Counter)  # "provider method" → payloads
    dry_run: bool = False
    elapsed_s: float = 0.0

    @property
    def changed(self) -> int:
        """Rows inserted or updated (posts' media aside)."""
        return sum(r.inserted + r.updated for r in self.tables.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "payloads": self.payloads,
            "parsed": self.parsed,
            "records": self.records,
            "quarantined": self.quarantined,
            "rows": {
                t: {"inserted": r.inserted, "updated": r.updated} for t, r in self.tables.items()
            },
            "changed": self.changed,
            "failed": dict(self.failed),
            "unmapped": dict(self.unmapped),
            "not_rebuilt": dict(self.not_rebuilt),
            "no_subject": dict(self.no_subject),
            "dry_run": self.dry_run,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# Which stream's calls are about which subject (service_calls.subject_id).
_POST_STREAMS = ["comments", "likes"]
_COMMENT_STREAMS = ["replies"]
_HIGHLIGHT_STREAMS = ["highlight_stories"]

_SELECT = """
    SELECT r.id, r.provider, r.method, r.request, r.response,
           s.id AS call_id, s.stream, j.id AS job_id, j.platform,
           prof.id AS profile_id, prof.ext_id AS profile_ext_id,
           prof.username AS profile_username,
           post.id AS post_id, post.ext_id AS post_ext_id,
           cm.ext_id AS comment_ext_id, h.ext_id AS highlight_ext_id
    FROM raw_payloads r
    JOIN service_calls s ON s.id = r.service_call_id
    JOIN job_calls j ON j.id = s.job_call_id
    LEFT JOIN social_profiles prof ON prof.id = j.subject_id
    LEFT JOIN comments cm ON cm.id = s.subject_id AND s.stream = ANY(:comment_streams)
    LEFT JOIN posts post ON post.id = CASE WHEN s.stream = ANY(:post_streams)
                                           THEN s.subject_id ELSE cm.post_id END
    LEFT JOIN highlights h ON h.id = s.subject_id AND s.stream = ANY(:highlight_streams)
    WHERE {where}
    ORDER BY r.id
    LIMIT :limit
"""
_COUNT = """
    SELECT count(*) FROM raw_payloads r
    JOIN service_calls s ON s.id = r.service_call_id
    JOIN job_calls j ON j.id = s.job_call_id
    WHERE {where}
"""


def _filters(options: Options, profiles: Sequence[int] | None) -> tuple[str, dict[str, Any]]:
    """The WHERE of the walk (only the filters asked for: the fetched_at one prunes partitions)."""
    where = ["r.id > :after"]
    params: dict[str, Any] = {}
    if options.platform is not None:
        where.append("j.platform = :platform")
        params["platform"] = options.platform
    if options.since is not None:
        where.append("r.fetched_at >= :since")
        params["since"] = options.since
    if profiles is not None:
        where.append("j.subject_id = ANY(:profiles)")
        params["profiles"] = list(profiles)
    return " AND ".join(where), params


async def profiles_named(conn: AsyncConnection, name: str, platform: str | None) -> list[int]:
    """The stored profiles whose username or platform id is ``name`` (of ``platform``)."""
    found = await conn.execute(
        text(
            "SELECT id FROM social_profiles WHERE (username = :name OR ext_id = :name)"
            " AND (CAST(:platform AS text) IS NULL OR platform = :platform) ORDER BY id"
        ),
        {"name": name.removeprefix("@"), "platform": platform},
    )
    return [int(r[0]) for r in found]


async def reprocess(
    engine: AsyncEngine,
    options: Options,
    *,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Walk the selected raw payloads oldest first and rebuild the rows they hold (see the
    module docstring). ``progress`` is called after every batch. Raises
    :class:`ReprocessError` when ``options.profile`` names no stored profile."""
    started = time.monotonic()
    report = Report(dry_run=options.dry_run)
    fresh: dict[tuple[str, str], set[str]] = {}
    profiles: list[int] | None = None
    async with engine.connect() as conn:
        if options.profile is not None:
            profiles = await profiles_named(conn, options.profile, options.platform)
            if not profiles:
                raise ReprocessError(f"no stored profile is named {options.profile!r}")
        where, params = _filters(options, profiles)
        report.total = int(
            await conn.scalar(text(_COUNT.format(where=where)), {**params, "after": 0}) or 0
        )
    select = text(_SELECT.format(where=where))
    after = 0
    while True:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            batch = [
                Payload(**r._asdict())
                for r in await conn.execute(
                    select,
                    {
                        **params,
                        "after": after,
                        "limit": options.batch,
                        "post_streams": _POST_STREAMS,
                        "comment_streams": _COMMENT_STREAMS,
                        "highlight_streams": _HIGHLIGHT_STREAMS,
                    },
                )
            ]
            for payload in batch:
                await _one(conn, payload, Scope(options.threshold(payload.platform), fresh), report)
            if options.dry_run:
                await transaction.rollback()
            else:
                await transaction.commit()
        if not batch:
            break
        after = batch[-1].id
        if progress is not None:
            progress(report)
    report.elapsed_s = time.monotonic() - started
    return report


async def _one(conn: AsyncConnection, payload: Payload, scope: Scope, report: Report) -> None:
    """Read one payload again and write what it holds."""
    report.payloads += 1
    key = f"{payload.provider or '?'} {payload.method}"
    if payload.method in NOT_REBUILT:
        report.not_rebuilt[payload.method] += 1
        return
    handler = REGISTRY.get((payload.provider, payload.method))
    if handler is None:
        report.unmapped[key] += 1
        return
    try:
        parsed, _, _ = handler.parse(payload)
    except Unmapped:
        report.unmapped[key] += 1
        return
    except ProviderError as exc:
        report.failed[f"{key}: {exc.kind.value}: {exc.message}"[:200]] += 1
        return
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        # A response of another shape than its method's (a parser reading what is not there).
        report.failed[f"{key}: {type(exc).__name__}: {exc}"[:200]] += 1
        return
    records = [r for r in parsed if not isinstance(r, Rejected)]
    rejected = [r for r in parsed if isinstance(r, Rejected)]
    try:
        written = await handler.write(conn, payload, records, scope)
    except NoSubject:
        report.no_subject[key] += 1
        return
    report.parsed += 1
    report.records += len(records)
    for table, done in written.items():
        report.tables[table].add(done)
        scope.of(table, payload.platform).update(done.fresh)
    report.quarantined += await rows.quarantine_once(
        conn,
        rejected,
        job_id=payload.job_id,
        service_call_id=payload.call_id,
        platform=payload.platform,
        stream=payload.stream,
    )
