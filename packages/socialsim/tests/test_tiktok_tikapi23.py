"""tikapi23 (TikTok's web JSON): the recorded shapes, listings that add up to the truth, the
follower cap, private and unknown accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialsim.apis.tiktok import rounded
from socialsim.testing import serve

RECORDED = (
    Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "tiktok-web-json-api45"
)
HEADERS = {"x-rapidapi-key": "sim-key", "x-rapidapi-host": "tiktok-api23.example"}


def recording(name: str) -> dict[str, Any]:
    """The JSON after ``// Example Response`` in a recorded example, unwrapped from api45's
    ``{"data": …}``."""
    text = (RECORDED / name).read_text().split("// Example Response", 1)[1]
    lines = [line.removeprefix("//").removeprefix(" ") for line in text.splitlines()]
    data: dict[str, Any] = json.loads("\n".join(lines))["data"]
    return data


def shape(value: Any) -> Any:
    """Key sets and value types, recursively (a list by its first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def assert_same_shape(ours: Any, recorded: Any, where: str = "") -> None:
    """Same keys and value types as the recording, at every depth (empty lists match any)."""
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(recorded), (where, set(ours) ^ set(recorded))
        for key in recorded:
            assert_same_shape(ours[key], recorded[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(ours, list), where
        if ours and recorded:
            assert_same_shape(ours[0], recorded[0], f"{where}[0]")
    else:
        assert shape(ours) == shape(recorded), (where, ours, recorded)


class Api:
    """A tikapi23 client and the truth of the same simulator."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params, headers=HEADERS)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def truth(self, path: str = "") -> dict[str, Any]:
        response = self.client.get(f"/_sim/truth/tiktok{path}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def accounts(self, *, private: bool = False) -> list[dict[str, Any]]:
        return [
            a
            for a in self.truth()["accounts"]
            if a["exists"] and a["is_private"] == private and a["username"] != "tt_giant"
        ]

    def follow_walk(self, path: str, sec_uid: str, count: int) -> tuple[list[str], dict[str, Any]]:
        """Every user id a follow listing gives, and its last page."""
        ids: list[str] = []
        cursor = 0
        while True:
            page = self.get(path, secUid=sec_uid, count=count, minCursor=cursor, maxCursor=0)
            ids += [entry["user"]["id"] for entry in page["userList"]]
            if not page["hasMore"]:
                return ids, page
            assert page["minCursor"] != cursor, "a cursor that does not move"
            cursor = page["minCursor"]


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """A fault-free simulator with 30 TikTok creators and the giant."""
    with (
        serve(seed=11, profiles=5, channels=1, tiktok_accounts=30) as sim,
        httpx.Client(base_url=sim.url, timeout=30) as client,
    ):
        yield Api(client)


def test_stats_are_rounded_as_the_recordings_round_them() -> None:
    pairs = []
    detail = recording("get-user-detail.js")["userInfo"]
    pairs.append((detail["stats"], detail["statsV2"]))
    for name in ("get-user-followers.js", "get-user-followings.js"):
        pairs += [(u["stats"], u["statsV2"]) for u in recording(name)["userList"]]
    checked = 0
    for stats, exact in pairs:
        for key, value in exact.items():
            assert rounded(int(value)) == stats[key], (key, value, stats[key])
            checked += int(value) >= 10_000
    assert checked >= 4, "the recordings hold rounded counts to check against"


def test_user_info_has_the_recorded_shape_and_the_true_counts(api: Api) -> None:
    recorded = recording("get-user-detail.js")
    for entry in [*api.accounts()[:3], {"username": "tt_giant"}]:
        info = api.get("/api/user/info", uniqueId=entry["username"])
        assert_same_shape(info, recorded)
        truth = api.truth(f"/{entry['username']}")["profile"]
        user, exact = info["userInfo"]["user"], info["userInfo"]["statsV2"]
        assert (user["id"], user["secUid"], user["nickname"]) == (
            truth["ext_id"],
            truth["sec_uid"],
            truth["nickname"],
        )
        assert int(user["id"]) > 2**53 and len(user["id"]) == 19
        assert user["secUid"].startswith("MS4wLjABAAAA")
        assert (exact["followerCount"], exact["followingCount"]) == (
            str(truth["follower_count"]),
            str(truth["following_count"]),
        )
        assert (exact["heartCount"], exact["videoCount"]) == (
            str(truth["heart_count"]),
            str(truth["video_count"]),
        )
        assert info["userInfo"]["stats"] == {k: rounded(int(v)) for k, v in exact.items()}
    giant = api.get("/api/user/info", uniqueId="tt_giant")["userInfo"]["statsV2"]
    assert int(giant["followerCount"]) > 5_000


def test_posts_walk_equals_the_truth_with_the_pinned_videos_first(api: Api) -> None:
    recorded_item = recording("get-user-post.js")["itemList"][0]
    recorded_page = recording("get-user-post.js")
    walked = 0
    for entry in api.accounts():
        truth = api.truth(f"/{entry['username']}")
        videos = truth["videos"]
        if not any(v["pinned"] for v in videos) or len(videos) < 12:
            continue
        items: list[dict[str, Any]] = []
        cursor = "0"
        while True:
            page = api.get("/api/user/posts", secUid=entry["sec_uid"], count=5, cursor=cursor)
            assert_same_shape(
                {k: v for k, v in page.items() if k != "itemList"},
                {k: v for k, v in recorded_page.items() if k != "itemList"},
            )
            items += page["itemList"]
            if not page["hasMore"]:
                break
            assert page["cursor"] != cursor
            cursor = page["cursor"]
        order = [v["ext_id"] for v in videos if v["pinned"]]
        order += [v["ext_id"] for v in videos if not v["pinned"]]
        assert [i["id"] for i in items] == order
        by_id = {v["ext_id"]: v for v in videos}
        for item in items:
            assert_same_shape(item, recorded_item, "item")
            video = by_id[item["id"]]
            assert item["isPinnedItem"] == video["pinned"]
            assert (item["createTime"], item["desc"], item["video"]["duration"]) == (
                video["create_time"],
                video["desc"],
                video["duration"],
            )
            assert int(item["id"]) >> 32 == item["createTime"], "TikTok ids start with the time"
            assert item["statsV2"] == {
                "collectCount": str(video["collect_count"]),
                "commentCount": str(video["comment_count"]),
                "diggCount": str(video["like_count"]),
                "playCount": str(video["play_count"]),
                "repostCount": "0",
                "shareCount": str(video["share_count"]),
            }
            assert item["stats"]["playCount"] == rounded(video["play_count"])
        walked += 1
    assert walked >= 2


def test_descriptions_and_nicknames_keep_their_nul_characters(api: Api) -> None:
    nul_videos = nul_names = 0
    for entry in api.accounts():
        truth = api.truth(f"/{entry['username']}")
        if "\u0000" in truth["profile"]["nickname"]:
            info = api.get("/api/user/info", uniqueId=entry["username"])
            assert info["userInfo"]["user"]["nickname"] == truth["profile"]["nickname"]
            nul_names += 1
        newest = api.get("/api/user/posts", secUid=entry["sec_uid"], count=35)["itemList"]
        for item in newest:
            if "\u0000" in item["desc"]:
                nul_videos += 1
    assert nul_videos and nul_names


def test_follow_listings_walk_to_the_truth_in_the_recorded_shape(api: Api) -> None:
    entry = next(
        a for a in api.accounts() if 100 < len(api.truth(f"/{a['username']}")["followers"]) < 5_000
    )
    truth = api.truth(f"/{entry['username']}")
    for path, listing, name in (
        ("/api/user/followers", "followers", "get-user-followers.js"),
        ("/api/user/followings", "followings", "get-user-followings.js"),
    ):
        recorded = recording(name)
        first = api.get(path, secUid=entry["sec_uid"], count=30, minCursor=0)
        assert_same_shape(
            {k: v for k, v in first.items() if k != "userList"},
            {k: v for k, v in recorded.items() if k != "userList"},
            path,
        )
        assert_same_shape(first["userList"][0], recorded["userList"][0], path)
        ids, last = api.follow_walk(path, entry["sec_uid"], 30)
        assert ids == truth[listing], path
        assert first["total"] == last["total"] == len(truth[listing])


def test_the_giant_follower_listing_stops_at_the_cap_with_the_real_total(api: Api) -> None:
    truth = api.truth("/tt_giant")
    sec_uid = truth["profile"]["sec_uid"]
    ids, last = api.follow_walk("/api/user/followers", sec_uid, 50)
    assert len(truth["followers"]) == truth["profile"]["follower_count"] > 10_000
    assert truth["list_cap"] == 5_000
    assert ids == truth["followers"][: truth["list_cap"]]
    assert last["hasMore"] is False
    assert last["total"] == truth["profile"]["follower_count"]


def test_comments_and_replies_walk_to_the_truth(api: Api) -> None:
    truth = api.truth("/tt_user_0007")
    video = max(truth["videos"], key=lambda v: v["comment_count"])
    detail = api.truth(f"/tt_user_0007/videos/{video['ext_id']}")
    comments = detail["comments"]
    assert len(comments) > 100
    assert video["comment_count"] == len(comments) + sum(c["reply_count"] for c in comments)
    listed: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = api.get("/api/post/comments", videoId=video["ext_id"], count=50, cursor=cursor)
        assert page["status_code"] == 0 and page["total"] == video["comment_count"]
        listed += page["comments"]
        if page["has_more"] == 0:
            break
        assert page["has_more"] == 1
        cursor = page["cursor"]
    assert [c["cid"] for c in listed] == [c["ext_id"] for c in comments]
    assert [c["reply_comment_total"] for c in listed] == [c["reply_count"] for c in comments]
    assert [c["user"]["uid"] for c in listed] == [c["author_ext_id"] for c in comments]
    assert {c["aweme_id"] for c in listed} == {video["ext_id"]}
    parent = max(comments, key=lambda c: c["reply_count"])
    assert parent["reply_count"] > 5
    replies: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = api.get(
            "/api/post/comment/replies",
            videoId=video["ext_id"],
            commentId=parent["ext_id"],
            count=4,
            cursor=cursor,
        )
        assert page["total"] == parent["reply_count"]
        replies += page["comments"]
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert [r["cid"] for r in replies] == [r["ext_id"] for r in parent["replies"]]
    assert {r["reply_id"] for r in replies} == {parent["ext_id"]}
    assert all(r["create_time"] > parent["create_time"] for r in replies)


def test_a_private_account_shows_its_profile_and_no_lists(api: Api) -> None:
    entry = api.accounts(private=True)[0]
    info = api.get("/api/user/info", uniqueId=entry["username"])
    assert info["userInfo"]["user"]["privateAccount"] is True
    posts = api.get("/api/user/posts", secUid=entry["sec_uid"], count=35)
    assert posts["statusCode"] == 0 and not posts.get("itemList") and posts["hasMore"] is False
    followers = api.get("/api/user/followers", secUid=entry["sec_uid"], minCursor=0)
    assert followers["userList"] == [] and followers["hasMore"] is False


def test_unknown_users_and_videos_are_tiktok_refusals_inside_http_200(api: Api) -> None:
    info = api.get("/api/user/info", uniqueId="tt_missing_1")
    assert info["statusCode"] == 10221 and info["userInfo"] == {}
    posts = api.get("/api/user/posts", secUid="MS4wLjABAAAAnobody", count=35)
    assert posts["statusCode"] == 10202 and "itemList" not in posts
    comments = api.get("/api/post/comments", videoId="7000000000000000000")
    assert comments["status_code"] == 10204 and "comments" not in comments
    refused = api.client.get("/api/user/info", params={"uniqueId": "tt_user_0001"})
    assert refused.status_code == 403, "no RapidAPI key"
