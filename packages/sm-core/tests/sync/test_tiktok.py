"""TikTok through the whole sync (Temporal, the providers, the store) against socialsim with
faults: an account's videos, comments with replies and followers equal the truth; a follower
listing that stops at TikTok's cap records its coverage and never unfollows."""

from __future__ import annotations

from typing import Any

import httpx

from smcore.api.app import create_app
from smcore.settings import Settings
from socialsim.testing import serve


def _creator(s: Any) -> dict[str, Any]:
    """A public creator with videos that have comments with replies (and followers)."""
    for account in s.truth("tiktok")["accounts"]:
        if not account["exists"] or account["is_private"] or account["username"] == "tt_giant":
            continue
        truth = s.truth(f"tiktok/{account['username']}")
        if truth["followers"] and any(v["comment_count"] > 0 for v in truth["videos"]):
            return dict(truth)
    raise AssertionError("the world has no public creator with commented videos")


async def test_a_tiktok_account_equals_the_truth_through_faults(syncer: Any) -> None:
    with serve(seed=4, profiles=1, channels=0, tiktok_accounts=4, fault_rate=0.1) as sim:
        s = syncer(sim)
        truth = _creator(s)
        username = truth["profile"]["username"]
        async with s.worker():
            result = await s.sync(platform="tiktok", scope="all", username=username, full=True)
        assert result.status == "succeeded", result.summary

        profile = s.rows(
            "SELECT id, ext_id, sec_uid, followers_count, posts_count FROM social_profiles "
            "WHERE platform = 'tiktok' AND username = %s",
            username,
        )
        assert len(profile) == 1
        profile_id, ext_id, sec_uid, followers_count, posts_count = profile[0]
        assert (ext_id, sec_uid) == (truth["profile"]["ext_id"], truth["profile"]["sec_uid"])
        assert int(ext_id) > 2**53, "ids above 2^53 are kept exact, as strings"
        assert followers_count == truth["profile"]["follower_count"], "statsV2's exact count"
        assert posts_count == truth["profile"]["video_count"]

        followers = {
            r[0]
            for r in s.rows(
                "SELECT f.ext_id FROM subscriptions s JOIN followers f ON f.id = s.follower_id "
                "WHERE s.social_profile_id = %s AND s.direction = 'follower' AND s.active",
                profile_id,
            )
        }
        assert followers == set(truth["followers"])

        videos = {
            r[0]: r[1:]
            for r in s.rows(
                "SELECT ext_id, caption, views_count, likes_count, comments_count, shares_count, "
                "saves_count, pinned, product_type, id FROM posts WHERE social_profile_id = %s",
                profile_id,
            )
        }
        assert set(videos) == {v["ext_id"] for v in truth["videos"]}
        for video in truth["videos"]:
            caption, views, likes, comments, shares, saves, pinned, kind, _ = videos[
                video["ext_id"]
            ]
            assert caption == video["desc"].replace("\x00", ""), "NUL characters stripped"
            assert (views, likes, comments, shares, saves, pinned) == (
                video["play_count"],
                video["like_count"],
                video["comment_count"],
                video["share_count"],
                video["collect_count"],
                video["pinned"],
            )
            assert kind == "video"
        snapshots = s.scalar(
            "SELECT count(*) FROM metric_snapshots WHERE subject_type = 'post' AND shares "
            "IS NOT NULL AND subject_id IN (SELECT id FROM posts WHERE social_profile_id = %s)",
            profile_id,
        )
        assert snapshots == len(truth["videos"]), "one snapshot a video, with its shares"

        replies_seen = 0
        for video in truth["videos"]:
            if video["comment_count"] == 0:
                continue
            want = s.truth(f"tiktok/{username}/videos/{video['ext_id']}")["comments"]
            post_id = videos[video["ext_id"]][-1]
            stored = {
                r[0]: (r[1], r[2])
                for r in s.rows(
                    "SELECT c.ext_id, p.ext_id, a.ext_id FROM comments c "
                    "LEFT JOIN comments p ON p.id = c.parent_id "
                    "LEFT JOIN followers a ON a.id = c.author_id WHERE c.post_id = %s",
                    post_id,
                )
            }
            expected = {c["ext_id"]: (None, c["author_ext_id"]) for c in want}
            for c in want:
                expected |= {r["ext_id"]: (c["ext_id"], r["author_ext_id"]) for r in c["replies"]}
                replies_seen += len(c["replies"])
            assert stored == expected, f"video {video['ext_id']}: comments and replies"
        assert replies_seen > 0, "the creator's comments have replies to check"
        faults = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()["faults"]
        assert sum(faults.values()) > 0, "the simulator did inject faults"

        # The read API finds it by platform.
        app = create_app(Settings(), database_url=s.database_url, temporal_address=None)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
        ):
            found = (await api.get("/api/v1/bloggers", params={"platform": "tiktok"})).json()
            other = (await api.get("/api/v1/bloggers", params={"platform": "instagram"})).json()
        assert [b["ext_id"] for b in found["items"]] == [ext_id]
        assert other["items"] == []


async def test_a_follower_listing_cut_at_the_cap_records_coverage_and_no_unfollows(
    syncer: Any,
) -> None:
    with serve(seed=4, profiles=1, channels=0, tiktok_accounts=1) as sim:
        s = syncer(sim)
        truth = s.truth("tiktok/tt_giant")
        cap, total = truth["list_cap"], truth["profile"]["follower_count"]
        assert total > cap
        async with s.worker():
            first = await s.sync(platform="tiktok", scope="subscriptions", username="tt_giant")
            assert first.status == "partial", first.summary
            assert "no unfollows" in first.summary["streams"]["followers"]["message"]
            s.advance(72)  # some of the listed followers leave, others arrive
            second = await s.sync(platform="tiktok", scope="subscriptions", username="tt_giant")
        assert second.status == "partial", second.summary
        after = s.truth("tiktok/tt_giant")
        gone = set(truth["followers"][:cap]) - set(after["followers"])
        assert gone, "the clock moved: some listed followers left"

        passes = s.rows(
            "SELECT expected, reached, complete FROM follow_passes p "
            "JOIN social_profiles sp ON sp.id = p.social_profile_id "
            "WHERE sp.username = 'tt_giant' AND p.direction = 'follower' ORDER BY p.id"
        )
        assert [(e, r, c) for e, r, c in passes] == [
            (total, cap, False),
            (after["profile"]["follower_count"], cap, False),
        ]
        assert s.scalar("SELECT count(*) FROM follow_events WHERE kind = 'unfollow'") == 0
        assert (
            s.scalar(
                "SELECT count(*) FROM subscriptions WHERE direction = 'follower' AND NOT active"
            )
            == 0
        ), "an incomplete pass marks nobody gone"
        stored = s.scalar("SELECT count(*) FROM subscriptions WHERE direction = 'follower'")
        assert stored == len(set(truth["followers"][:cap]) | set(after["followers"][:cap]))
