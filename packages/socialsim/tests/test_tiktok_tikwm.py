"""tikwm (TikWM's envelope): the contract's shapes, drifting types, listings that add up to
the truth, the cursor TikWM repeats past the end, the follower cap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from socialsim.testing import serve

HEADERS = {"x-rapidapi-key": "sim-key", "x-rapidapi-host": "tiktok-scraper7.example"}
USER_KEYS = {
    "id",
    "uniqueId",
    "nickname",
    "avatarThumb",
    "avatarMedium",
    "avatarLarger",
    "signature",
    "verified",
    "secUid",
    "privateAccount",
}
STATS_KEYS = {"followerCount", "followingCount", "heartCount", "heart", "videoCount", "diggCount"}
VIDEO_KEYS = {
    "video_id",
    "aweme_id",
    "title",
    "create_time",
    "duration",
    "cover",
    "play",
    "play_count",
    "digg_count",
    "comment_count",
    "share_count",
    "collect_count",
    "download_count",
    "is_top",
    "author",
}
COMMENT_KEYS = {"id", "video_id", "text", "create_time", "digg_count", "reply_total", "user"}
AUTHOR_KEYS = {"id", "unique_id", "nickname", "avatar"}


class Api:
    """A tikwm client and the truth of the same simulator; remembers every ``hasMore``."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.has_more: list[Any] = []

    def data(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params, headers=HEADERS)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["code"] == 0 and body["msg"] == "success", body
        assert isinstance(body["processed_time"], float)
        data: dict[str, Any] = body["data"]
        if "hasMore" in data:
            assert data["hasMore"] in (True, False) and type(data["hasMore"]) in (bool, int)
            self.has_more.append(data["hasMore"])
        return data

    def truth(self, path: str = "") -> dict[str, Any]:
        response = self.client.get(f"/_sim/truth/tiktok{path}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def walk(self, path: str, listing: str, cursor_key: str, **params: Any) -> list[Any]:
        """Every item of a listing, paging until ``hasMore`` is false."""
        items: list[Any] = []
        cursor: Any = 0
        while True:
            data = self.data(path, **params, **{cursor_key: cursor})
            items += data[listing]
            if not data["hasMore"]:
                return items
            assert data[cursor_key] != cursor
            cursor = data[cursor_key]


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """A fault-free simulator with 30 TikTok creators and the giant."""
    with (
        serve(seed=12, profiles=5, channels=1, tiktok_accounts=30) as sim,
        httpx.Client(base_url=sim.url, timeout=30) as client,
    ):
        yield Api(client)


def _public(api: Api) -> list[dict[str, Any]]:
    return [
        a
        for a in api.truth()["accounts"]
        if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
    ]


def test_user_info_by_username_or_id_holds_the_exact_counts(api: Api) -> None:
    entry = _public(api)[0]
    truth = api.truth(f"/{entry['username']}")["profile"]
    by_name = api.data("/user/info", unique_id=entry["username"])
    by_id = api.data("/user/info", user_id=entry["ext_id"])
    assert by_name == by_id
    assert set(by_name["user"]) >= USER_KEYS and set(by_name["stats"]) >= STATS_KEYS
    assert by_name["user"]["id"] == truth["ext_id"] and isinstance(by_name["user"]["id"], str)
    assert by_name["stats"]["followerCount"] == truth["follower_count"]
    assert by_name["stats"]["heartCount"] == truth["heart_count"]
    assert by_name["stats"]["videoCount"] == truth["video_count"]
    missing = api.client.get("/user/info", params={"unique_id": "tt_missing_1"}, headers=HEADERS)
    body = missing.json()
    assert missing.status_code == 200 and body["code"] == -1 and body["data"] is None
    assert "not exist" in body["msg"]


def test_posts_walk_to_the_truth_then_repeat_their_cursor(api: Api) -> None:
    entry = next(
        a
        for a in _public(api)
        if any(v["pinned"] for v in api.truth(f"/{a['username']}")["videos"])
    )
    videos = api.truth(f"/{entry['username']}")["videos"]
    listed: list[dict[str, Any]] = []
    cursor = "0"
    pages = 0
    while True:
        data = api.data("/user/posts", user_id=entry["ext_id"], count=7, cursor=cursor)
        pages += 1
        listed += data["videos"]
        assert data["hasMore"], "TikWM never says the posts ended"
        if data["cursor"] == cursor:
            assert data["videos"] == [], "the cursor repeats on the empty page past the end"
            break
        cursor = data["cursor"]
        assert pages < 200
    order = [v["ext_id"] for v in videos if v["pinned"]]
    order += [v["ext_id"] for v in videos if not v["pinned"]]
    assert [v["video_id"] for v in listed] == order
    by_id = {v["ext_id"]: v for v in videos}
    for item in listed:
        video = by_id[item["video_id"]]
        assert set(item) >= VIDEO_KEYS and set(item["author"]) >= AUTHOR_KEYS
        assert item["aweme_id"] == item["video_id"]
        assert item["is_top"] == int(video["pinned"])
        assert (item["play_count"], item["digg_count"], item["comment_count"]) == (
            video["play_count"],
            video["like_count"],
            video["comment_count"],
        )
        assert (item["share_count"], item["collect_count"], item["create_time"]) == (
            video["share_count"],
            video["collect_count"],
            video["create_time"],
        )
        assert item["title"] == video["desc"]
        assert item["author"]["id"] == entry["ext_id"]


def test_follow_listings_walk_to_the_truth_and_stop_at_the_cap(api: Api) -> None:
    entry = next(
        a for a in _public(api) if 300 < len(api.truth(f"/{a['username']}")["followers"]) < 5000
    )
    truth = api.truth(f"/{entry['username']}")
    for path, listing, key in (
        ("/user/followers", "followers", "followers"),
        ("/user/following", "followings", "followings"),
    ):
        users = api.walk(path, listing, "time", user_id=entry["ext_id"], count=200)
        assert [u["id"] for u in users] == truth[key], path
        assert set(users[0]) >= AUTHOR_KEYS
        total = api.data(path, user_id=entry["ext_id"], count=1, time=0)["total"]
        assert total == len(truth[key])
    giant = api.truth("/tt_giant")
    users = api.walk(
        "/user/followers", "followers", "time", user_id=giant["profile"]["ext_id"], count=200
    )
    assert [u["id"] for u in users] == giant["followers"][: giant["list_cap"]]
    first = api.data("/user/followers", user_id=giant["profile"]["ext_id"], count=200, time=0)
    assert first["total"] == giant["profile"]["follower_count"] > giant["list_cap"]


def test_has_more_drifts_between_booleans_and_integers(api: Api) -> None:
    giant = api.truth("/tt_giant")["profile"]["ext_id"]
    api.walk("/user/followers", "followers", "time", user_id=giant, count=100)
    kinds = {type(flag) for flag in api.has_more}
    assert kinds == {bool, int}, "both spellings of hasMore"


def test_comments_and_replies_walk_to_the_truth(api: Api) -> None:
    username, video = max(
        (
            (a["username"], v)
            for a in _public(api)[:10]
            for v in api.truth(f"/{a['username']}")["videos"]
        ),
        key=lambda uv: uv[1]["comment_count"],
    )
    comments = api.truth(f"/{username}/videos/{video['ext_id']}")["comments"]
    assert len(comments) > 50
    url = f"https://www.tiktok.com/@{username}/video/{video['ext_id']}"
    listed = api.walk("/comment/list", "comments", "cursor", url=url, count=50)
    assert [c["id"] for c in listed] == [c["ext_id"] for c in comments]
    assert set(listed[0]) >= COMMENT_KEYS and set(listed[0]["user"]) >= AUTHOR_KEYS
    assert [c["reply_total"] for c in listed] == [c["reply_count"] for c in comments]
    assert [c["user"]["id"] for c in listed] == [c["author_ext_id"] for c in comments]
    by_id = api.data("/comment/list", url=video["ext_id"], count=50, cursor=0)
    assert by_id["comments"] == listed[:50] and by_id["total"] == video["comment_count"]
    parent = max(comments, key=lambda c: c["reply_count"])
    replies = api.walk("/comment/reply", "comments", "cursor", comment_id=parent["ext_id"], count=3)
    assert [r["id"] for r in replies] == [r["ext_id"] for r in parent["replies"]]
    assert {r["reply_id"] for r in replies} == {parent["ext_id"]}
