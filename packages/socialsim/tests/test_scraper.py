"""The RapidAPI scraper: bare Instagram payloads, HTTP refusals, pagination against the truth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis


def _all_pages(apis: Apis, path: str, cursor_in: str, **params: Any) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        query = dict(params) if cursor is None else {**params, cursor_in: cursor}
        response = apis.scraper(path, **query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        cursor = page.get("next_max_id") or page.get("next_min_id")
        cursor = cursor or page.get("paging_info", {}).get("max_id")
        if cursor is None:
            return pages


def test_profile_by_username_or_id_is_the_web_user(apis: Apis) -> None:
    truth = apis.public_profile(100, 20_000)["profile"]
    by_name = apis.scraper("/profile", username=truth["username"]).json()
    by_id = apis.scraper("/profile", id=truth["ext_id"]).json()
    assert by_name == by_id
    assert by_name["id"] == truth["ext_id"]
    assert by_name["edge_followed_by"] == {"count": truth["followers_count"]}
    assert by_name["edge_owner_to_timeline_media"] == {"count": truth["posts_count"]}


def test_followers_and_followings_paginate_to_the_truth(apis: Apis) -> None:
    truth = apis.public_profile(120, 3_000)
    user_id = truth["profile"]["ext_id"]
    followers = _all_pages(apis, "/followers", "max_id", id=user_id, count=50)
    assert [u["pk"] for p in followers for u in p["users"]] == truth["followers"]
    assert all(len(p["users"]) == 50 for p in followers[:-1])
    assert "next_max_id" not in followers[-1]
    followings = _all_pages(apis, "/followings", "max_id", id=user_id, count=50)
    assert [u["pk"] for p in followings for u in p["users"]] == truth["followings"]


def test_feeds_reels_and_comments_paginate(apis: Apis) -> None:
    truth = apis.public_profile(0, 20_000)
    user_id = truth["profile"]["ext_id"]
    feeds = _all_pages(apis, "/user-feeds", "max_id", id=user_id, count=12)
    assert [i["pk"] for p in feeds for i in p["items"]] == apis.feed_order(truth)
    assert all(p["more_available"] for p in feeds[:-1]) and not feeds[-1]["more_available"]
    reels = _all_pages(apis, "/reels", "max_id", id=user_id)
    assert [i["media"]["pk"] for p in reels for i in p["items"]] == [
        p["ext_id"] for p in truth["posts"] if p["product_type"] == "clips"
    ]
    post = apis.busy_post(25)
    comments = _all_pages(apis, "/comments", "min_id", id=post["ext_id"])
    assert sum(len(p["comments"]) for p in comments) == post["comment_count"]
    assert comments[0]["comment_count"] == post["comment_count"]


def test_highlights(apis: Apis) -> None:
    giant = apis.truth("giant")["profile"]
    tray = apis.scraper("/highlights", id=giant["ext_id"]).json()["tray"]
    assert len(tray) == 5 and all(h["id"].startswith("highlight:") for h in tray)


def test_refusals_are_http_errors(apis: Apis) -> None:
    not_found = apis.scraper("/profile", username="missing_0002")
    assert (not_found.status_code, not_found.json()) == (404, {"message": "User not found"})
    assert apis.scraper("/followers", id="42").status_code == 404
    assert apis.scraper("/comments", id="123_456").status_code == 404
    private = apis.private_profile()["profile"]
    assert apis.scraper("/profile", id=private["ext_id"]).status_code == 200
    for path in ("/followers", "/followings", "/user-feeds", "/reels", "/highlights"):
        response = apis.scraper(path, id=private["ext_id"])
        assert (response.status_code, response.json()) == (
            403,
            {"message": "This account is private"},
        ), path
    assert apis.scraper("/followers").status_code == 400


def test_rocket_cursors_are_invalid_here(apis: Apis) -> None:
    truth = apis.public_profile(120, 20_000)
    user_id = truth["profile"]["ext_id"]
    response = apis.rocket("user/get_followers", id=user_id)
    rocket_cursor = response.json()["response"]["body"]["next_max_id"]
    refused = apis.scraper("/followers", id=user_id, max_id=rocket_cursor)
    assert (refused.status_code, refused.json()) == (400, {"message": "Invalid cursor"})
    own = apis.scraper("/followers", id=user_id).json()["next_max_id"]
    assert apis.scraper("/followers", id=user_id, max_id=own).status_code == 200
    assert apis.scraper("/user-feeds", id=user_id, max_id=own).status_code == 400


def test_a_wrong_or_missing_key_is_refused(apis: Apis) -> None:
    response = apis.scraper("/profile", key="other", username="user_0001")
    assert response.status_code == 403
    assert response.json() == {"message": "You are not subscribed to this API."}
    assert apis.client.get("/profile", params={"username": "user_0001"}).status_code == 403
