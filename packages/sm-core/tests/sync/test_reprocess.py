"""``sm-core reprocess``: normalized rows rebuilt from the raw layer with today's parsers.

Real syncs (socialsim on loopback, Temporal, an embedded PostgreSQL database per test) of an
Instagram profile, a YouTube channel and a TikTok account store the rows; the test then damages
them (captions blanked, counts changed, parser versions made old, a media link lost, a comment
deleted) and adds payloads no parser reads. Reprocessing gives back exactly the rows the sync
stored, with today's parser version, without a new metric snapshot or follow event; unknown and
unreadable payloads are reported, not fatal; a second run changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from psycopg.types.json import Jsonb
from typer.testing import CliRunner, Result

from devstack.pytest_plugin import environ_without
from smcore.cli import app
from smcore.providers import PARSER_VERSIONS
from smcore.settings import Settings
from smcore.store import db
from smcore.transform.reprocess import REGISTRY, Options, Report, reprocess
from socialsim.testing import RunningSim, serve


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with serve(seed=11, profiles=3, channels=2, tiktok_accounts=2) as running:
        yield running


# What a sync stored, keyed by platform and id; ids of other rows named by their ext_id.
PROFILES = """
    SELECT platform, ext_id, username, full_name, bio, avatar, url, followers_count,
           follows_count, posts_count, views_count, engagement_rate, is_private, is_verified,
           sec_uid, raw_data, parser_version, last_synced_at
    FROM social_profiles ORDER BY platform, ext_id
"""
POSTS = """
    SELECT p.platform, p.ext_id, s.ext_id, p.code, p.kind, p.product_type, p.title, p.caption,
           p.taken_at, p.likes_count, p.comments_count, p.views_count, p.shares_count,
           p.saves_count, p.pinned, p.expires_at, p.likers_listed, p.likers_total,
           p.comments_synced_at, p.raw_data, p.parser_version
    FROM posts p JOIN social_profiles s ON s.id = p.social_profile_id
    ORDER BY p.platform, p.ext_id
"""
MEDIA = """
    SELECT p.platform, p.ext_id, m.ext_id, m.position, m.media_type, m.url, m.video_url,
           m.width, m.height, m.url_expires_at, m.fetch_status
    FROM media m JOIN posts p ON p.id = m.post_id ORDER BY 1, 2, 3
"""
COMMENTS = """
    SELECT c.platform, c.ext_id, p.ext_id, parent.ext_id, a.ext_id, c.author_ext_id,
           c.author_username, c.author_name, c.text, c.likes_count, c.replies_count,
           c.raw_data, c.parser_version, c.created_at
    FROM comments c JOIN posts p ON p.id = c.post_id
    LEFT JOIN comments parent ON parent.id = c.parent_id
    LEFT JOIN followers a ON a.id = c.author_id
    ORDER BY c.platform, c.ext_id
"""
HISTORY = """
    SELECT (SELECT count(*) FROM metric_snapshots), (SELECT count(*) FROM follow_events),
           (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM followers),
           (SELECT count(*) FROM quarantined_items)
"""
CHANGED = """
    SELECT (SELECT max(updated_at) FROM social_profiles), (SELECT max(updated_at) FROM posts),
           (SELECT max(updated_at) FROM media), (SELECT max(updated_at) FROM comments),
           (SELECT max(updated_at) FROM followers)
"""


def _stored(s: Any) -> dict[str, list[Any]]:
    tables = (("profiles", PROFILES), ("posts", POSTS), ("media", MEDIA), ("comments", COMMENTS))
    return {name: s.rows(query) for name, query in tables}


def _targets(s: Any) -> list[tuple[str, str, dict[str, str]]]:
    """(platform, scope, target) of the smallest public accounts with comments (TikTok: its
    videos only; its comments come by thousands): the syncs stay short."""
    profiles = []
    for p in s.truth("instagram")["profiles"]:
        if p["exists"] and not p["is_private"]:
            t = s.truth(f"instagram/{p['username']}")
            if any(post["comment_count"] for post in t["posts"]):
                size = len(t["followers"]) + len(t["followings"]) + 10 * len(t["posts"])
                profiles.append((size, p["username"]))
    channels = []
    for c in s.truth("youtube")["channels"]:
        videos = s.truth(f"youtube/{c['channel_id']}")["videos"]
        threads = sum(v.get("comment_thread_count", 0) for v in videos)
        if threads:
            channels.append((len(videos) + threads, c["channel_id"]))
    accounts = []
    for a in s.truth("tiktok")["accounts"]:
        if a["exists"] and not a["is_private"] and a["username"] != "tt_giant":
            videos = s.truth(f"tiktok/{a['username']}")["videos"]
            if videos:
                accounts.append((len(videos), a["username"]))
    return [
        ("instagram", "all", {"username": min(profiles)[1]}),
        ("youtube", "all", {"ext_id": min(channels)[1]}),
        ("tiktok", "posts", {"username": min(accounts)[1]}),
    ]


async def _rerun(s: Any, **options: Any) -> Report:
    engine = db.async_engine(s.database_url, pool_size=1)
    try:
        return await reprocess(engine, Options(**options))
    finally:
        await engine.dispose()


def _cli(monkeypatch: pytest.MonkeyPatch, database_url: str, data: Path, *args: str) -> Result:
    """``sm-core reprocess ARGS`` through the command line's app, on this test's database and
    nothing else of the environment's settings (in this process: a subprocess would spend
    seconds importing what is imported already)."""
    env = {**environ_without(Settings, data / "stack"), "DATABASE_URL": database_url}
    for key in set(os.environ) - set(env):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(data)
    logging = structlog.get_config()
    try:
        return CliRunner().invoke(app, ["reprocess", *args])
    finally:
        # The command sets up logs for its process, onto the runner's stderr, closed after it.
        structlog.configure(**logging)


async def test_reprocess_rebuilds_what_the_sync_stored_and_nothing_else(
    sim: RunningSim, syncer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = syncer(sim)
    async with s.worker():
        for platform, scope, target in _targets(s):
            result = await s.sync(platform=platform, scope=scope, **target)
            assert result.status == "succeeded", (platform, result.summary)
    synced, history = _stored(s), s.rows(HISTORY)
    for platform, version in PARSER_VERSIONS.items():
        versions = s.rows(
            "SELECT DISTINCT parser_version FROM social_profiles WHERE platform = %s UNION "
            "SELECT DISTINCT parser_version FROM posts WHERE platform = %s UNION "
            "SELECT DISTINCT parser_version FROM comments WHERE platform = %s",
            platform,
            platform,
            platform,
        )
        assert versions == [(str(version),)], platform
    # Every payload a sync records is read by a parser, or deliberately left (follow history).
    methods = {(r[0], r[1]) for r in s.rows("SELECT DISTINCT provider, method FROM raw_payloads")}
    unread = {m for m in methods if m not in REGISTRY}
    assert {m for _, m in unread} <= {"followers_page", "followings_page", "likers", "highlights"}
    assert {"profiles", "posts", "comments"} <= {k for k, v in synced.items() if v}

    # The damage: a parser's bug as it would leave rows (old version), and one row damaged
    # behind the version's back (today's version: only --all rebuilds it).
    s.rows(
        "UPDATE posts SET caption = '', likes_count = likes_count + 7, parser_version = 'old'"
        " WHERE id IN (SELECT id FROM posts ORDER BY id LIMIT 5) RETURNING 1"
    )
    s.rows("UPDATE comments SET text = 'x', likes_count = 99, parser_version = '0' RETURNING 1")
    s.rows(
        "UPDATE social_profiles SET full_name = '?', followers_count = 1, parser_version = ''"
        " RETURNING 1"
    )
    s.rows("UPDATE media SET url = '' WHERE id = (SELECT min(id) FROM media) RETURNING 1")
    hidden = s.rows(
        "UPDATE posts SET views_count = 12345 WHERE id = (SELECT max(id) FROM posts)"
        " RETURNING ext_id"
    )
    leaf = s.rows(
        "DELETE FROM comments WHERE id = (SELECT min(c.id) FROM comments c WHERE NOT EXISTS"
        " (SELECT FROM comments r WHERE r.parent_id = c.id)) RETURNING ext_id"
    )
    assert hidden and leaf
    # Payloads no parser reads: an unknown method, a page of another shape, a malformed item.
    call, provider, request, page = s.rows(
        "SELECT service_call_id, provider, request, response FROM raw_payloads"
        " WHERE method = 'posts_page' ORDER BY id LIMIT 1"
    )[0]
    page["items"].append({"pk": "1", "media_type": 99, "taken_at": 1})
    for method, response in (
        ("mystery_page", {}),
        ("posts_page", {"nope": 1}),
        ("posts_page", page),
    ):
        s.rows(
            "INSERT INTO raw_payloads (service_call_id, provider, method, request, response)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING 1",
            call,
            provider,
            method,
            Jsonb(request),
            Jsonb(response),
        )

    dry = await _rerun(s, dry_run=True)
    assert dry.changed > 0 and s.rows(POSTS) != synced["posts"], "a dry run writes nothing"
    # (A row that payloads of two batches hold counts in each: the dry run's is an upper bound.)

    report = await _rerun(s)  # rows older than today's parser versions
    assert report.unmapped == {f"{provider} mystery_page": 1}
    assert list(report.failed) == [
        f"{provider} posts_page: bad_payload: feed: 'items' is missing or not a list"
    ]
    assert report.quarantined == 1
    assert report.tables["comments"].inserted == 1
    assert report.tables["profiles"].updated == 3
    assert dry.changed >= report.changed
    now = _stored(s)
    for name in ("profiles", "comments", "media"):
        assert now[name] == synced[name], name
    left = [r for r in now["posts"] if r not in synced["posts"]]
    assert [(r[1], r[11]) for r in left] == [(hidden[0][0], 12345)], "left to --all"

    # (A thread of its own: the command runs its own event loop.)
    cli = await asyncio.to_thread(_cli, monkeypatch, s.database_url, tmp_path, "--all", "--json")
    assert cli.exit_code == 0, cli.output
    summary = json.loads(cli.stdout.strip().splitlines()[-1])
    assert summary["rows"]["posts"] == {"inserted": 0, "updated": 1}
    assert summary["changed"] == 1 and summary["quarantined"] == 0
    assert "reprocess" in cli.stdout and "no parser (unmapped)" in cli.stdout
    assert _stored(s) == synced
    history_after = s.rows(HISTORY)
    assert history_after[0][:4] == history[0][:4], "no snapshot, follow, subscription or account"
    assert history_after[0][4] == history[0][4] + 1, "the malformed item, quarantined once"

    before = s.rows(CHANGED)
    again = await _rerun(s, all_versions=True)
    assert (again.changed, again.quarantined) == (0, 0)
    assert again.payloads == report.payloads and again.unmapped == report.unmapped
    assert s.rows(CHANGED) == before, "a second run changes nothing"
