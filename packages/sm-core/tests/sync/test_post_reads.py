"""``GET /api/v1/posts/{id}`` and ``/posts/{id}/comments`` after a TikTok sync: the post with
its media, its comments newest first with their replies, equal to the truth, page by page."""

from __future__ import annotations

from typing import Any

import httpx

from smcore.api.app import create_app
from smcore.settings import Settings
from socialsim.testing import serve


async def test_a_post_and_its_comments_read_back_as_the_truth(syncer: Any) -> None:
    with serve(seed=4, profiles=1, channels=0, tiktok_accounts=4) as sim:
        s = syncer(sim)
        creator = video = None
        for account in s.truth("tiktok")["accounts"]:
            if not account["exists"] or account["is_private"] or account["username"] == "tt_giant":
                continue
            truth = s.truth(f"tiktok/{account['username']}")
            commented = [v for v in truth["videos"] if v["comment_count"] > 3]
            if commented:
                creator, video = account["username"], commented[0]
                break
        assert creator and video, "the world has a video with comments"
        async with s.worker():
            result = await s.sync(platform="tiktok", scope="all", username=creator, full=True)
            assert result.status == "succeeded", result.summary
        listed = s.truth(f"tiktok/{creator}/videos/{video['ext_id']}")["comments"]
        post_id = s.scalar("SELECT id FROM posts WHERE ext_id = %s", video["ext_id"])

        app = create_app(Settings(), database_url=s.database_url, temporal_address=None)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                detail = (await api.get(f"/api/v1/posts/{post_id}")).json()
                assert detail["ext_id"] == video["ext_id"]
                assert detail["likes_count"] == video["like_count"]
                stored_media = s.scalar("SELECT count(*) FROM media WHERE post_id = %s", post_id)
                assert len(detail["media"]) == stored_media > 0
                assert all(m["fetch_status"] == "pending" for m in detail["media"]), "no download"
                assert (await api.get("/api/v1/posts/999999999")).status_code == 404

                comments: list[dict[str, Any]] = []
                cursor = None
                while True:
                    params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
                    page = await api.get(f"/api/v1/posts/{post_id}/comments", params=params)
                    assert page.status_code == 200, page.text
                    comments += page.json()["items"]
                    cursor = page.json()["next_cursor"]
                    if cursor is None:
                        break
        assert [c["ext_id"] for c in comments] == [c["ext_id"] for c in listed], "newest first"
        for got, want in zip(comments, listed, strict=True):
            assert [r["ext_id"] for r in got["replies"]] == [r["ext_id"] for r in want["replies"]]


async def test_a_posts_likers_read_back_with_their_coverage(syncer: Any) -> None:
    # seed 2: user_0006 is public and its posts have likers (see test_instagram_streams.py).
    with serve(seed=2, profiles=6, channels=0, tiktok_accounts=1) as sim:
        s = syncer(sim)
        username = "user_0006"
        async with s.worker():
            result = await s.sync(platform="instagram", scope="all", username=username, full=True)
            assert result.status == "succeeded", result.summary
        details = {
            p["ext_id"]: s.truth(f"instagram/{username}/posts/{p['ext_id']}")
            for p in s.truth(f"instagram/{username}")["posts"]
        }
        ext_id = max(details, key=lambda e: details[e]["likers_listable"])
        detail = details[ext_id]
        assert detail["likers_listable"] >= 3, "a post with likers to page through"
        post_id = s.scalar("SELECT id FROM posts WHERE ext_id = %s", ext_id)

        app = create_app(Settings(), database_url=s.database_url, temporal_address=None)
        likers: list[dict[str, Any]] = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                cursor = None
                while True:
                    params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
                    page = await api.get(f"/api/v1/posts/{post_id}/likers", params=params)
                    assert page.status_code == 200, page.text
                    likers += page.json()["items"]
                    cursor = page.json()["next_cursor"]
                    if cursor is None:
                        break
                coverage = page.json()
        want = detail["likers"][: detail["likers_listable"]]
        assert sorted(liker["liker_ext_id"] for liker in likers) == sorted(want)
        assert len({liker["id"] for liker in likers}) == len(likers), "each once"
        assert (coverage["listed"], coverage["total"]) == (
            detail["likers_listable"],
            detail["post"]["like_count"],
        )
