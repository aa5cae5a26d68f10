"""Truth at the simulator's clock: posts, videos and their comments, as the APIs list them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from socialsim.world.clock import SIM_START

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

DAY = 86400


def _get(apis: Apis, path: str) -> dict[str, Any]:
    response = apis.client.get(path)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _advance_72h(apis: Apis) -> None:
    assert apis.client.post("/_sim/clock", json={"advance_hours": 72}).status_code == 200


def test_post_truth_matches_the_feed_and_lists_the_comments_the_api_lists(apis: Apis) -> None:
    truth = apis.public_profile(300, 20_000)
    user_id = truth["profile"]["ext_id"]
    status, body = apis.rocket_body("user/get_media", id=user_id, count=12)
    assert status == 200
    by_pk = {p["ext_id"]: p for p in truth["posts"]}
    for item in body["items"]:
        post = by_pk[item["pk"]]
        assert (post["like_count"], post["comment_count"]) == (
            item["like_count"],
            item["comment_count"],
        )
        assert post["play_count"] == item.get("play_count")
        assert post["pinned"] == ("timeline_pinned_user_ids" in item)
    assert any(p["play_count"] for p in truth["posts"] if p["media_type"] == 2)
    assert all(p["play_count"] is None for p in truth["posts"] if p["media_type"] != 2)
    owner, post = next(
        (e["username"], p)
        for e in apis.profiles()
        if not e["is_private"] and e["username"] != "giant"
        for p in apis.truth(e["username"])["posts"]
        if p["comment_count"] > 25
    )
    post_truth = _get(apis, f"/_sim/truth/instagram/{owner}/posts/{post['ext_id']}")
    assert post_truth["post"] == post
    comments = post_truth["comments"]
    assert len(comments) == post["comment_count"]
    assert set(comments[0]) == {
        "ext_id",
        "created_at",
        "like_count",
        "child_comment_count",
        "author_ext_id",
        "malformed",
        "replies",
    }
    status, page = apis.rocket_body("media/get_comments", id=post["ext_id"])
    assert [(c["pk"], c["created_at"], c["comment_like_count"]) for c in page["comments"]] == [
        (c["ext_id"], c["created_at"], c["like_count"]) for c in comments[:20]
    ]
    other = next(e["username"] for e in apis.profiles() if e["username"] != owner)
    for path in (f"{other}/posts/{post['ext_id']}", f"{owner}/posts/123", "nobody/posts/1"):
        assert apis.client.get(f"/_sim/truth/instagram/{path}").status_code == 404, path


def test_video_truth_lists_the_threads_the_api_lists(apis: Apis) -> None:
    channels = apis.client.get("/_sim/truth/youtube").json()["channels"]
    videos = [
        (c["channel_id"], v)
        for c in channels
        for v in _get(apis, f"/_sim/truth/youtube/{c['channel_id']}")["videos"]
    ]
    channel_id, video = max(videos, key=lambda cv: cv[1]["comment_thread_count"])
    truth = _get(apis, f"/_sim/truth/youtube/{channel_id}/videos/{video['ext_id']}")
    assert truth["video"] == video
    assert len(truth["comments"]) == video["comment_thread_count"] > 20
    page = apis.youtube("commentThreads", part="snippet", videoId=video["ext_id"]).json()
    assert [t["id"] for t in page["items"]] == [c["ext_id"] for c in truth["comments"][:20]]
    stats = apis.youtube("videos", part="statistics", id=video["ext_id"]).json()["items"][0]
    assert stats["statistics"]["viewCount"] == str(video["view_count"])
    other = next(c["channel_id"] for c in channels if c["channel_id"] != channel_id)
    for path in (f"{other}/videos/{video['ext_id']}", f"{channel_id}/videos/xxxxxxxxxxx"):
        assert apis.client.get(f"/_sim/truth/youtube/{path}").status_code == 404


@pytest.mark.parametrize("own_sim", [{"seed": 18}], indirect=True)
def test_a_two_day_old_post_grows_and_its_new_comments_come_first(own_sim: Apis) -> None:
    apis = own_sim
    candidates = []
    for entry in apis.profiles():
        if not entry["is_private"]:
            for post in apis.truth(entry["username"])["posts"]:
                if 1.5 * DAY <= SIM_START - post["taken_at"] <= 2.5 * DAY:
                    candidates.append((post["comment_count"], entry["username"], post["ext_id"]))
    _, username, post_pk = max(candidates)
    path = f"/_sim/truth/instagram/{username}/posts/{post_pk}"
    before = _get(apis, path)
    _advance_72h(apis)
    after = _get(apis, path)
    for count in ("like_count", "comment_count"):
        assert after["post"][count] > before["post"][count], count
    if before["post"]["play_count"] is not None:
        assert after["post"]["play_count"] > before["post"]["play_count"]
    old = {c["ext_id"] for c in before["comments"]}
    new = [c for c in after["comments"] if c["ext_id"] not in old]
    assert len(new) > 20, "enough for a whole first page"
    assert after["comments"][: len(new)] == new, "the new ones first"
    assert all(SIM_START < c["created_at"] <= SIM_START + 72 * 3600 for c in new)
    old_after = after["comments"][len(new) :]
    assert [{**c, "child_comment_count": 0, "replies": []} for c in old_after] == [
        {**c, "child_comment_count": 0, "replies": []} for c in before["comments"]
    ]
    for was, now in zip(before["comments"], old_after, strict=True):
        assert now["replies"][: len(was["replies"])] == was["replies"], "replies only arrive"
        assert now["child_comment_count"] == len(now["replies"])
    status, page = apis.rocket_body("media/get_comments", id=post_pk)
    assert status == 200 and page["comment_count"] == after["post"]["comment_count"]
    assert [c["pk"] for c in page["comments"]] == [c["ext_id"] for c in new[:20]]
    scraper = apis.scraper("/comments", id=post_pk).json()
    assert [c["pk"] for c in scraper["comments"]] == [c["ext_id"] for c in new[:20]]


@pytest.mark.parametrize("own_sim", [{"seed": 9}], indirect=True)
def test_a_recent_video_grows_and_its_new_threads_come_first(own_sim: Apis) -> None:
    apis = own_sim
    candidates = []
    for channel in apis.client.get("/_sim/truth/youtube").json()["channels"]:
        for video in _get(apis, f"/_sim/truth/youtube/{channel['channel_id']}")["videos"]:
            published = video["published_at"]
            if published >= "2025-12-24" and not video["comments_disabled"]:
                candidates.append((video["comment_thread_count"], channel["channel_id"], video))
    _, channel_id, video = max(candidates, key=lambda c: c[0])
    path = f"/_sim/truth/youtube/{channel_id}/videos/{video['ext_id']}"
    before = _get(apis, path)
    _advance_72h(apis)
    after = _get(apis, path)
    for count in ("view_count", "like_count", "comment_count", "comment_thread_count"):
        assert after["video"][count] > before["video"][count], count
    old = {c["ext_id"] for c in before["comments"]}
    new = [c for c in after["comments"] if c["ext_id"] not in old]
    assert len(new) > 20
    assert after["comments"][: len(new)] == new
    assert all(c["created_at"] > SIM_START for c in new)
    page = apis.youtube("commentThreads", part="snippet", videoId=video["ext_id"]).json()
    assert [t["id"] for t in page["items"]] == [c["ext_id"] for c in new[:20]]
    stats = apis.youtube("videos", part="statistics", id=video["ext_id"]).json()["items"][0]
    assert stats["statistics"]["viewCount"] == str(after["video"]["view_count"])
