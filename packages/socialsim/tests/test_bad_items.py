"""--bad-item-rate: the same single items are malformed on every request, pages stay valid."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from socialsim.apis.youtube import NOT_A_DATE
from socialsim.faults import FaultConfig, FaultPlan

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

RATE = {"bad_item_rate": 0.2}


def test_bad_items_are_a_pure_function_of_seed_and_item_id() -> None:
    ids = [str(10**18 + i) for i in range(5_000)]

    def bad(seed: int, rate: float, order: list[str]) -> set[str]:
        plan = FaultPlan(seed, FaultConfig(bad_item_rate=rate))
        return {i for i in order if plan.bad_item("media", i)}

    first = bad(4, 0.2, ids)
    assert first == bad(4, 0.2, ids[::-1]) == bad(4, 0.2, ids[::3] + ids)
    assert 0.17 < len(first) / len(ids) < 0.23
    assert bad(5, 0.2, ids) != first
    assert bad(4, 0.0, ids) == set()
    assert bad(4, 1.0, ids) == set(ids)


def _pages(
    fetch: Callable[[str | None], dict[str, Any]], next_cursor: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        page = fetch(cursor)
        pages.append(page)
        cursor = next_cursor(page)
        if not cursor:
            return pages


def _rocket(apis: Apis, method: str, cursor_in: str, **body: Any) -> Callable[[str | None], Any]:
    def fetch(cursor: str | None) -> dict[str, Any]:
        status, page = apis.rocket_body(method, **body, **({cursor_in: cursor} if cursor else {}))
        assert status == 200, page
        return page

    return fetch


def _scraper(apis: Apis, path: str, cursor_in: str, **query: Any) -> Callable[[str | None], Any]:
    def fetch(cursor: str | None) -> dict[str, Any]:
        response = apis.scraper(path, **query, **({cursor_in: cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    return fetch


def _youtube(apis: Apis, resource: str, **params: Any) -> Callable[[str | None], Any]:
    def fetch(cursor: str | None) -> dict[str, Any]:
        response = apis.youtube(resource, **params, **({"pageToken": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    return fetch


def _next_max_id(page: dict[str, Any]) -> Any:
    return page.get("next_max_id")


@pytest.mark.parametrize("own_sim", [RATE], indirect=True)
def test_instagram_items_are_malformed_alike_on_every_request(own_sim: Apis) -> None:
    apis = own_sim
    truth = apis.public_profile(300, 20_000)
    user_id = truth["profile"]["ext_id"]
    served = 0

    feed = _pages(_rocket(apis, "user/get_media", "max_id", id=user_id), _next_max_id)
    items = [i for page in feed for i in page["items"]]
    assert [i["pk"] for i in items] == apis.feed_order(truth), "none lost"
    bad = {i["pk"] for i in items if i["taken_at"] == "undefined"}
    assert bad == {p["ext_id"] for p in truth["posts"] if p["malformed"]} != set()
    assert all(isinstance(i["taken_at"], int) for i in items if i["pk"] not in bad)
    served += len(bad)
    again = _pages(_scraper(apis, "/user-feeds", "max_id", id=user_id), _next_max_id)
    assert {i["pk"] for p in again for i in p["items"] if i["taken_at"] == "undefined"} == bad
    served += len(bad)
    reels = apis.scraper("/reels", id=user_id).json()["items"]
    reel_bad = {i["media"]["pk"] for i in reels if i["media"]["taken_at"] == "undefined"}
    assert reel_bad == bad & {i["media"]["pk"] for i in reels}
    served += len(reel_bad)

    for method, key in (("user/get_followers", "followers"), ("user/get_following", "followings")):
        pages = _pages(_rocket(apis, method, "max_id", id=user_id, count=50), _next_max_id)
        users = [u for page in pages for u in page["users"]]
        assert len(users) == len(truth[key])
        malformed = [u for u in users if u["pk"] is None]
        assert all(u["pk_id"] is None and u["username"] for u in malformed)
        assert len(malformed) == len(truth[f"malformed_{key}"]) > 0
        good = set(truth[key]) - set(truth[f"malformed_{key}"])
        listed = [u["pk"] for u in users if u["pk"] is not None]
        assert listed == [pk for pk in truth[key] if pk in good]
        served += len(malformed)

    post = max(truth["posts"], key=lambda p: p["comment_count"])
    username = truth["profile"]["username"]
    post_truth = apis.client.get(f"/_sim/truth/instagram/{username}/posts/{post['ext_id']}")
    expected = post_truth.json()["comments"]
    pages = _pages(
        _scraper(apis, "/comments", "min_id", id=post["ext_id"]), lambda p: p.get("next_min_id")
    )
    comments = [c for page in pages for c in page["comments"]]
    assert len(comments) == len(expected) == post["comment_count"]
    assert [c["pk"] for c in comments] == [
        None if c["malformed"] else c["ext_id"] for c in expected
    ]
    assert any(c["malformed"] for c in expected)
    served += sum(c["malformed"] for c in expected)
    assert apis.stats()["faults"]["bad_item"] == served


@pytest.mark.parametrize("own_sim", [RATE], indirect=True)
def test_youtube_items_are_malformed_alike_on_every_request(own_sim: Apis) -> None:
    apis = own_sim
    served = 0
    videos: list[tuple[str, dict[str, Any]]] = []
    for channel in apis.client.get("/_sim/truth/youtube").json()["channels"]:
        truth = apis.client.get(f"/_sim/truth/youtube/{channel['channel_id']}").json()
        videos += [(channel["channel_id"], v) for v in truth["videos"]]
        playlist = channel["uploads_playlist_id"]
        fetch = _youtube(
            apis, "playlistItems", part="snippet,contentDetails", playlistId=playlist, maxResults=50
        )
        items = [i for p in _pages(fetch, lambda p: p.get("nextPageToken")) for i in p["items"]]
        assert [i["contentDetails"]["videoId"] for i in items] == [
            v["ext_id"] for v in truth["videos"]
        ]
        for item, video in zip(items, truth["videos"], strict=True):
            bad = item["snippet"]["publishedAt"] == NOT_A_DATE
            assert bad == (item["contentDetails"]["videoPublishedAt"] == NOT_A_DATE)
            assert bad == video["malformed_playlist_item"]
            assert item["id"] is not None
            served += bad
        first = truth["videos"][:50]
        ids = ",".join(v["ext_id"] for v in first)
        listed = apis.youtube("videos", part="statistics", id=ids).json()["items"]
        assert [i["id"] for i in listed] == [None if v["malformed"] else v["ext_id"] for v in first]
        assert all(i["statistics"]["viewCount"].isdigit() for i in listed)
        served += sum(i["id"] is None for i in listed)
    assert any(v["malformed"] for _, v in videos)
    assert any(v["malformed_playlist_item"] for _, v in videos)

    channel_id, video = max(videos, key=lambda cv: cv[1]["comment_thread_count"])
    path = f"/_sim/truth/youtube/{channel_id}/videos/{video['ext_id']}"
    expected = apis.client.get(path).json()["comments"]
    fetch = _youtube(
        apis, "commentThreads", part="snippet", videoId=video["ext_id"], maxResults=100
    )
    threads = [t for p in _pages(fetch, lambda p: p.get("nextPageToken")) for t in p["items"]]
    assert [t["id"] for t in threads] == [None if c["malformed"] else c["ext_id"] for c in expected]
    assert any(c["malformed"] for c in expected)
    for thread in threads:
        top = thread["snippet"]["topLevelComment"]
        assert (top["id"] is None) == (thread["id"] is None)
        assert top["snippet"]["publishedAt"].endswith("Z")
    served += sum(c["malformed"] for c in expected)
    assert apis.stats()["faults"]["bad_item"] == served


def test_without_a_rate_no_item_is_malformed(apis: Apis) -> None:
    truth = apis.public_profile(300, 20_000)
    assert truth["malformed_followers"] == truth["malformed_followings"] == []
    assert not any(p["malformed"] for p in truth["posts"])
    assert apis.stats()["faults"]["bad_item"] == 0
