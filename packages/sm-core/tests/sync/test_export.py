"""``GET /api/v1/exports/post-metrics`` and the metric history routes after two syncs 48
simulated hours apart: every observation of every video, at the provider's time, with the
counts the provider served then; a video published between the syncs carries the channel's
follower count seen before it; a profile's and a post's history page by page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx

from smcore.api.app import create_app
from smcore.settings import Settings
from smcore.store.exports import POST_METRICS_COLUMNS
from socialsim.testing import serve


def _now(s: Any) -> datetime:
    return datetime.fromtimestamp(httpx.get(f"{s.sim.url}/_sim/clock").json()["unix"], UTC)


async def _export(s: Any, **params: str) -> httpx.Response:
    return await _get(s, "/api/v1/exports/post-metrics", **params)


async def _get(s: Any, path: str, **params: Any) -> httpx.Response:
    app = create_app(
        Settings(api_keys="k", api_public_reads=False),  # type: ignore[arg-type]  # SecretStr from str
        database_url=s.database_url,
        temporal_address=None,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            refused = await client.get(path)
            assert refused.status_code == 401, "reads are private here: the key is required"
            return await client.get(path, params=params, headers={"X-API-Key": "k"})


async def _every_page(s: Any, path: str, field: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, following next_cursor to the end."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = await _get(s, path, **params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        found += answer.json()[field]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


async def test_post_metrics_export_is_the_observed_history(syncer: Any) -> None:
    with serve(seed=5, profiles=1, channels=0, tiktok_accounts=6) as sim:
        s = syncer(sim)
        creators = [
            a["username"]
            for a in s.truth("tiktok")["accounts"]
            if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
        ]
        before = {u: s.truth(f"tiktok/{u}") for u in creators}
        first_at = _now(s)
        async with s.worker():
            for username in creators:
                result = await s.sync(platform="tiktok", scope="posts", username=username)
                assert result.status == "succeeded", result.summary
            s.advance(48)
            second_at = _now(s)
            after = {u: s.truth(f"tiktok/{u}") for u in creators}
            for username in creators:
                result = await s.sync(platform="tiktok", scope="posts", username=username)
                assert result.status == "succeeded", result.summary

        response = await _export(s, platform="tiktok")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert table, "the export holds the observations"
        assert tuple(table[0]) == tuple(POST_METRICS_COLUMNS)
        rows: dict[str, list[dict[str, str]]] = {}
        for row in table:
            rows.setdefault(row["video_id"], []).append(row)

        new_videos = 0
        for username in creators:
            followers_then = before[username]["profile"]["follower_count"]
            old = {v["ext_id"] for v in before[username]["videos"]}
            for video in after[username]["videos"]:
                published = datetime.fromtimestamp(video["create_time"], UTC)
                if (second_at - published).days >= 30:
                    continue  # outside the refresh window: not refreshed by the second sync
                seen = rows[video["ext_id"]]
                assert {r["channel"] for r in seen} == {username}
                assert {datetime.fromisoformat(r["published_at"]) for r in seen} == {published}
                times = [datetime.fromisoformat(r["observed_at"]) for r in seen]
                assert times == sorted(times), "oldest observation first"
                assert times[-1] == second_at, "the provider's clock, not ours"
                assert int(seen[-1]["views"]) == video["play_count"]
                assert int(seen[-1]["likes"]) == video["like_count"]
                if video["ext_id"] in old:
                    assert times == [first_at, second_at]
                    assert seen[0]["channel_followers"] == "", "not seen before it appeared"
                else:
                    new_videos += 1
                    assert times == [second_at]
                    assert int(seen[0]["channel_followers"]) == followers_then
        assert new_videos > 0, "the world published videos between the syncs"

        since = (second_at - (second_at - first_at) / 2).isoformat()
        recent = await _export(s, platform="tiktok", since=since)
        recent_ids = {r["video_id"] for r in csv.DictReader(io.StringIO(recent.text))}
        assert recent_ids and recent_ids < set(rows), "since keeps the newer videos only"
        naive = await _export(s, since="2026-11-01T00:00:00")
        assert naive.status_code == 422 and "since" in naive.text, "a time without a zone"

        # The same history through the read API: a profile's and a post's, page by page.
        username = creators[0]
        profile_id = s.scalar(
            "SELECT id FROM social_profiles WHERE platform = 'tiktok' AND username = %s", username
        )
        page = (await _get(s, f"/api/v1/bloggers/{profile_id}/metrics", limit=1)).json()
        assert [datetime.fromisoformat(p["observed_at"]) for p in page["points"]] == [first_at]
        assert (
            page["points"][0]["values"]["followers"]
            == before[username]["profile"]["follower_count"]
        )
        rest = await _get(s, f"/api/v1/bloggers/{profile_id}/metrics", cursor=page["next_cursor"])
        assert rest.status_code == 200, rest.text
        last = rest.json()
        assert [datetime.fromisoformat(p["observed_at"]) for p in last["points"]] == [second_at]
        assert (
            last["points"][0]["values"]["followers"] == after[username]["profile"]["follower_count"]
        )
        assert last["next_cursor"] is None
        video = next(v for v in after[username]["videos"] if v["ext_id"] in rows)
        post_id = s.scalar("SELECT id FROM posts WHERE ext_id = %s", video["ext_id"])
        views = await _get(
            s, f"/api/v1/posts/{post_id}/metrics", metric=["views"], **{"from": since}
        )
        points = views.json()["points"]
        assert points and all(set(p["values"]) == {"views"} for p in points)
        assert points[-1]["values"]["views"] == video["play_count"]
        assert (await _get(s, "/api/v1/posts/999999999/metrics")).status_code == 404
        bad = await _get(s, f"/api/v1/posts/{post_id}/metrics", cursor="not-a-cursor")
        assert bad.status_code == 422 and "cursor" in bad.text
        impossible = await _get(s, f"/api/v1/posts/{post_id}/metrics", to="2026-02-30T00:00:00Z")
        assert impossible.status_code == 422 and impossible.json()["detail"][0]["loc"] == [
            "query",
            "to",
        ]

        # A sync again at the same provider time: two points share observed_at; pages of one
        # point each still give every point once (the cursor carries the snapshot id).
        async with s.worker():
            result = await s.sync(platform="tiktok", scope="posts", username=username)
            assert result.status == "succeeded", result.summary
        points = await _every_page(s, f"/api/v1/bloggers/{profile_id}/metrics", "points", limit=1)
        seen = [datetime.fromisoformat(p["observed_at"]) for p in points]
        assert seen == [first_at, second_at, second_at]

        # The profile's posts: newest first or most engaging first, every post once over pages.
        stored = s.rows(
            "SELECT id, taken_at, likes_count + comments_count FROM posts "
            "WHERE social_profile_id = %s",
            profile_id,
        )
        assert len(stored) > 3, "enough posts to page through"
        for sort, key in (("time", lambda r: (r[1], r[0])), ("engagement", lambda r: (r[2], r[0]))):
            items = await _every_page(
                s, f"/api/v1/bloggers/{profile_id}/posts", "items", sort=sort, limit=2
            )
            listed = [p["id"] for p in items]
            assert listed == [r[0] for r in sorted(stored, key=key, reverse=True)], sort
        recent = await _get(s, f"/api/v1/bloggers/{profile_id}/posts", **{"from": since})
        assert {p["id"] for p in recent.json()["items"]} == {
            r[0] for r in stored if r[1] >= datetime.fromisoformat(since)
        }
        assert (await _get(s, "/api/v1/bloggers/999999999/posts")).status_code == 404
