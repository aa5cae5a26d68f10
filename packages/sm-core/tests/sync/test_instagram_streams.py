"""Instagram's reels, stories, highlights, likers and comment replies through the whole sync,
against the simulator's truth; a story that expires between two syncs stays stored."""

from __future__ import annotations

from typing import Any

from socialsim.testing import serve


def _set(s: Any, query: str, *args: Any) -> set[Any]:
    return {tuple(r) if len(r) > 1 else r[0] for r in s.rows(query, *args)}


async def test_reels_stories_highlights_likers_and_replies_equal_the_truth(syncer: Any) -> None:
    # seed 2: user_0006 is public with reels, live stories, a highlight and commented posts.
    with serve(seed=2, profiles=6, channels=0, tiktok_accounts=1) as sim:
        s = syncer(sim)
        username = "user_0006"
        truth = s.truth(f"instagram/{username}")
        assert truth["reels"] and truth["stories"] and truth["highlights"]
        async with s.worker():
            first = await s.sync(platform="instagram", scope="all", username=username, full=True)
        assert first.status == "succeeded", first.summary
        profile_id = s.scalar("SELECT id FROM social_profiles WHERE username = %s", username)

        # Reels: told from posts by their product type, play counts stored and snapshotted.
        reels = {
            r[0]: r[1]
            for r in s.rows(
                "SELECT ext_id, views_count FROM posts "
                "WHERE social_profile_id = %s AND product_type = 'clips'",
                profile_id,
            )
        }
        plays = {p["ext_id"]: p["play_count"] for p in truth["posts"]}
        assert reels == {ext: plays[ext] for ext in truth["reels"]}

        # Stories live now, with their expiry; the highlights' stories, in their order.
        stories = {
            r[0]: (int(r[1]), int(r[2]))
            for r in s.rows(
                "SELECT ext_id, extract(epoch FROM taken_at), extract(epoch FROM expires_at) "
                "FROM posts WHERE social_profile_id = %s AND product_type = 'story'",
                profile_id,
            )
        }
        for story in truth["stories"]:
            assert stories[story["ext_id"]] == (story["taken_at"], story["expiring_at"])
        assert _set(
            s,
            "SELECT count(*) FROM media m JOIN posts p ON p.id = m.post_id "
            "WHERE p.product_type = 'story' GROUP BY p.id",
        ) == {1}, "each story has its media row"
        highlights = {
            r[0]: (r[1], r[2])
            for r in s.rows(
                "SELECT ext_id, title, media_count FROM highlights WHERE social_profile_id = %s",
                profile_id,
            )
        }
        assert highlights == {
            h["ext_id"]: (h["title"], h["media_count"]) for h in truth["highlights"]
        }
        for h in truth["highlights"]:
            items = [
                r[0]
                for r in s.rows(
                    "SELECT p.ext_id FROM highlight_items i JOIN highlights h "
                    "ON h.id = i.highlight_id JOIN posts p ON p.id = i.post_id "
                    "WHERE h.ext_id = %s ORDER BY i.position",
                    h["ext_id"],
                )
            ]
            assert items == h["items"]
        assert set(stories) == {st["ext_id"] for st in truth["stories"]} | {
            item for h in truth["highlights"] for item in h["items"]
        }

        # Likers and replies, post by post, linked to the accounts table.
        checked_likers = checked_replies = 0
        for post in truth["posts"]:
            detail = s.truth(f"instagram/{username}/posts/{post['ext_id']}")
            post_id, listed, total = s.rows(
                "SELECT id, likers_listed, likers_total FROM posts WHERE ext_id = %s",
                post["ext_id"],
            )[0]
            likers = _set(
                s,
                "SELECT l.liker_ext_id, f.ext_id FROM likes l "
                "LEFT JOIN followers f ON f.id = l.liker_id WHERE l.post_id = %s",
                post_id,
            )
            want = detail["likers"][: detail["likers_listable"]]
            assert likers == {(pk, pk) for pk in want}, f"likers of {post['ext_id']}"
            if post["like_count"]:
                assert (listed, total) == (detail["likers_listable"], post["like_count"])
            checked_likers += len(want)
            stored = _set(
                s,
                "SELECT c.ext_id, p.ext_id, a.ext_id FROM comments c "
                "JOIN comments p ON p.id = c.parent_id "
                "LEFT JOIN followers a ON a.id = c.author_id WHERE c.post_id = %s",
                post_id,
            )
            replies = {
                (r["ext_id"], c["ext_id"], r["author_ext_id"])
                for c in detail["comments"]
                if not c["malformed"]
                for r in c["replies"]
            }
            assert stored == replies, f"replies on {post['ext_id']}"
            checked_replies += len(replies)
        assert checked_likers > 0 and checked_replies > 0

        # A day and a half later: yesterday's stories have expired, and stay stored.
        s.advance(36)
        later = s.truth(f"instagram/{username}")
        expired = {st["ext_id"] for st in truth["stories"]} - {
            st["ext_id"] for st in later["stories"]
        }
        assert expired, "the clock moved past the stories' expiry"
        async with s.worker():
            second = await s.sync(platform="instagram", scope="posts", username=username)
        assert second.status == "succeeded", second.summary
        kept = _set(
            s,
            "SELECT ext_id FROM posts WHERE product_type = 'story' AND social_profile_id = %s",
            profile_id,
        )
        assert expired <= kept
        assert {st["ext_id"] for st in later["stories"]} <= kept


async def test_likers_past_a_thousand_record_their_coverage(syncer: Any) -> None:
    with serve(seed=3, profiles=1, channels=0, giant_followers=60_000, giant_posts=3) as sim:
        s = syncer(sim)
        truth = s.truth("instagram/giant")
        async with s.worker():
            posts = await s.sync(platform="instagram", scope="posts", username="giant")
            assert posts.status == "succeeded", posts.summary
            likes = await s.sync(platform="instagram", scope="likes", username="giant", full=True)
        assert likes.status == "succeeded", likes.summary
        coverage = {
            r[0]: (r[1], r[2], r[3])
            for r in s.rows(
                "SELECT p.ext_id, p.likers_listed, p.likers_total, count(l.id) FROM posts p "
                "LEFT JOIN likes l ON l.post_id = p.id "
                "WHERE p.product_type <> 'story' GROUP BY p.id"
            )
        }
        big = [p for p in truth["posts"] if p["like_count"] > 1000]
        assert big, "the giant has a post with more than 1,000 likes"
        for post in big:
            assert coverage[post["ext_id"]] == (1000, post["like_count"], 1000)


async def test_a_stream_no_configured_provider_serves_is_skipped_not_retried(syncer: Any) -> None:
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415
    from smcore.providers.instagram import METHODS  # noqa: PLC0415

    # Both providers configured without stories: the stories stream cannot run anywhere.
    methods = ",".join(m for m in METHODS if m != "user_stories")
    with serve(seed=2, profiles=6, channels=0, tiktok_accounts=0) as sim:
        s = syncer(sim)
        settings = s.settings(
            sim, rocket_available_methods=methods, scraper_available_methods=methods
        )
        async with running_worker(settings, database_url=s.database_url, client=s.env.client):
            result = await s.sync(platform="instagram", scope="posts", username="user_0006")
        assert result.status == "succeeded", result.summary
        stories = result.summary["streams"]["stories"]
        assert stories["status"] == "skipped"
        assert "not configured" in stories["message"] and "user_stories" in stories["message"]
        assert result.summary["streams"]["reels"]["status"] == "succeeded"
        assert s.scalar("SELECT count(*) FROM posts WHERE product_type = 'story'") > 0, (
            "the highlights' stories still come through their own method"
        )
        calls = s.rows("SELECT status, error_message FROM service_calls WHERE stream = 'stories'")
        assert [c[0] for c in calls] == ["skipped"], "one call, closed, never retried"
