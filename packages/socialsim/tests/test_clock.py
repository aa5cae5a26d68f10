"""Simulated time: only POST /_sim/clock moves it, and cursors survive the changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis


def _advance(apis: Apis, hours: float) -> dict[str, Any]:
    response = apis.client.post("/_sim/clock", json={"advance_hours": hours})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_clock_starts_fixed_and_moves_only_when_told(own_sim: Apis) -> None:
    assert own_sim.client.get("/_sim/clock").json() == {
        "now": "2026-01-01T00:00:00Z",
        "unix": 1767225600,
        "step": 0,
    }
    assert _advance(own_sim, 36)["now"] == "2026-01-02T12:00:00Z"
    assert own_sim.client.get("/_sim/clock").json()["step"] == 1
    for bad in ({"advance_hours": -1}, {"advance_hours": "x"}, {}):
        assert own_sim.client.post("/_sim/clock", json=bad).status_code == 400


@pytest.mark.parametrize("api", ["rocket", "scraper"])
def test_followers_paged_across_a_clock_step_are_neither_lost_nor_repeated(
    own_sim: Apis, api: str
) -> None:
    truth = own_sim.public_profile(1_500, 20_000)
    user_id = truth["profile"]["ext_id"]
    start = set(truth["followers"])
    seen: list[str] = []
    cursor = None
    for page_number in range(10_000):
        if page_number == 3:
            _advance(own_sim, 24 * 30)
        if api == "rocket":
            body = {"id": user_id, "count": 50} | ({"max_id": cursor} if cursor else {})
            page = own_sim.rocket("user/get_followers", **body).json()["response"]["body"]
        else:
            query = {"id": user_id, "count": 50} | ({"max_id": cursor} if cursor else {})
            page = own_sim.scraper("/followers", **query).json()
        seen += [user["pk"] for user in page["users"]]
        cursor = page.get("next_max_id")
        if cursor is None:
            break
    end = set(own_sim.truth(truth["profile"]["username"])["followers"])
    assert end - start, "the step brought new followers"
    assert start - end, "the step took some followers away"
    assert len(seen) == len(set(seen)), "no follower twice"
    assert start & end <= set(seen), "everyone present before and after was listed"


def test_a_step_grows_counts_and_adds_content(own_sim: Apis) -> None:
    truth = own_sim.public_profile(1_000, 20_000)
    username = truth["profile"]["username"]
    channel = own_sim.client.get("/_sim/truth/youtube").json()["channels"][0]["channel_id"]
    yt_before = own_sim.client.get(f"/_sim/truth/youtube/{channel}").json()
    _advance(own_sim, 24 * 10)
    after = own_sim.truth(username)
    yt_after = own_sim.client.get(f"/_sim/truth/youtube/{channel}").json()
    assert after["profile"]["posts_count"] > truth["profile"]["posts_count"]
    assert after["profile"]["followers_count"] == len(after["followers"])
    old_posts = {p["ext_id"]: p for p in truth["posts"]}
    assert any(
        p["like_count"] > old_posts[p["ext_id"]]["like_count"]
        for p in after["posts"]
        if p["ext_id"] in old_posts
    )
    assert yt_after["channel"]["video_count"] > yt_before["channel"]["video_count"]
    assert yt_after["channel"]["view_count"] > yt_before["channel"]["view_count"]
    assert yt_after["videos"][-1]["ext_id"] == yt_before["videos"][-1]["ext_id"]
