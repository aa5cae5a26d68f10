"""RocketAPI: envelope, shapes, Instagram's refusals, pagination against the truth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

SHORT_USER = {"pk", "username", "full_name", "is_private", "is_verified", "profile_pic_url"}
MEDIA = {
    "pk",
    "id",
    "code",
    "taken_at",
    "media_type",
    "product_type",
    "caption",
    "like_count",
    "comment_count",
    "user",
    "image_versions2",
}


def _all_pages(apis: Apis, method: str, cursor_in: str, **body: Any) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        request = dict(body) if cursor is None else {**body, cursor_in: cursor}
        status, page = apis.rocket_body(method, **request)
        assert status == 200, page
        pages.append(page)
        cursor = page.get("next_max_id") or page.get("next_min_id")
        cursor = cursor or page.get("paging_info", {}).get("max_id")
        if cursor is None:
            return pages


def test_user_get_info_answers_the_web_profile_in_the_envelope(apis: Apis) -> None:
    truth = apis.public_profile(100, 20_000)["profile"]
    status, body = apis.rocket_body("user/get_info", username=truth["username"])
    assert status == 200 and body["status"] == "ok"
    user = body["data"]["user"]
    assert user["id"] == truth["ext_id"] and isinstance(user["id"], str)
    assert user["edge_followed_by"]["count"] == truth["followers_count"]
    assert user["edge_follow"]["count"] == truth["follows_count"]
    assert user["edge_owner_to_timeline_media"]["count"] == truth["posts_count"]
    for key in (
        "username",
        "full_name",
        "biography",
        "profile_pic_url",
        "external_url",
        "is_private",
        "is_verified",
    ):
        assert key in user


def test_user_get_info_by_id_answers_the_api_user(apis: Apis) -> None:
    truth = apis.public_profile(100, 20_000)["profile"]
    status, body = apis.rocket_body("user/get_info_by_id", id=truth["ext_id"])
    assert status == 200
    user = body["user"]
    assert user["pk"] == truth["ext_id"]
    assert (user["follower_count"], user["following_count"], user["media_count"]) == (
        truth["followers_count"],
        truth["follows_count"],
        truth["posts_count"],
    )


def test_followers_paginate_to_exactly_the_truth(apis: Apis) -> None:
    truth = apis.public_profile(120, 3_000)
    pages = _all_pages(
        apis, "user/get_followers", "max_id", id=truth["profile"]["ext_id"], count=50
    )
    pks = [u["pk"] for page in pages for u in page["users"]]
    assert pks == truth["followers"]
    assert all(len(page["users"]) == 50 for page in pages[:-1])
    assert all(page["has_more"] and page["big_list"] for page in pages[:-1])
    last = pages[-1]
    assert not last["has_more"] and "next_max_id" not in last
    assert set(pages[0]["users"][0]) >= SHORT_USER


def test_followings_accept_pages_of_200(apis: Apis) -> None:
    truth = apis.public_profile(0, 20_000)
    pages = _all_pages(
        apis, "user/get_following", "max_id", id=truth["profile"]["ext_id"], count=500
    )
    assert [u["pk"] for p in pages for u in p["users"]] == truth["followings"]
    assert pages[0]["page_size"] == 200


def test_media_pages_hold_12_posts_newest_first(apis: Apis) -> None:
    truth = apis.public_profile(0, 20_000)
    pages = _all_pages(apis, "user/get_media", "max_id", id=truth["profile"]["ext_id"], count=12)
    items = [item for page in pages for item in page["items"]]
    assert [i["pk"] for i in items] == apis.feed_order(truth)
    assert all(page["num_results"] == 12 and page["more_available"] for page in pages[:-1])
    assert not pages[-1]["more_available"]
    for item in items:
        assert set(item) >= MEDIA
        assert item["id"] == f"{item['pk']}_{truth['profile']['ext_id']}"
        assert int(item["pk"]) > 2**53
        if item["media_type"] == 8:
            assert len(item["carousel_media"]) >= 2
        if item["caption"] is not None:
            assert set(item["caption"]) == {"pk", "text", "created_at"}
    by_pk = {p["ext_id"]: p for p in truth["posts"]}
    assert all(i["like_count"] == by_pk[i["pk"]]["like_count"] for i in items)
    assert {i["media_type"] for p in apis.profiles()[:1] for i in items} <= {1, 2, 8}


def test_comments_paginate_to_comment_count(apis: Apis) -> None:
    post = apis.busy_post(45)
    pages = _all_pages(
        apis, "media/get_comments", "min_id", id=post["ext_id"], can_support_threading=True
    )
    comments = [c for page in pages for c in page["comments"]]
    assert len({c["pk"] for c in comments}) == post["comment_count"] == pages[0]["comment_count"]
    assert all(page["has_more_comments"] for page in pages[:-1])
    assert not pages[-1]["has_more_comments"]
    assert set(comments[0]) >= {
        "pk",
        "text",
        "created_at",
        "comment_like_count",
        "child_comment_count",
        "user",
    }
    assert [c["created_at"] for c in comments] == sorted(
        (c["created_at"] for c in comments), reverse=True
    )


def test_clips_are_the_reels_only(apis: Apis) -> None:
    for entry in apis.profiles():
        truth = apis.truth(entry["username"])
        reels = [p["ext_id"] for p in truth["posts"] if p["product_type"] == "clips"]
        if len(reels) > 12 and not entry["is_private"]:
            break
    else:
        pytest.fail("no public profile with more than 12 reels")
    pages = _all_pages(apis, "user/get_clips", "max_id", id=truth["profile"]["ext_id"])
    assert [i["media"]["pk"] for p in pages for i in p["items"]] == reels
    assert pages[0]["paging_info"]["more_available"]


def test_highlights_tray(apis: Apis) -> None:
    giant = apis.truth("giant")["profile"]
    status, body = apis.rocket_body("user/get_highlights", id=giant["ext_id"])
    assert status == 200 and len(body["tray"]) == 5
    assert body["tray"][0]["id"].startswith("highlight:")
    assert body["tray"][0]["cover_media"]["cropped_image_version"]["url"]


def test_missing_and_unknown_users_are_not_found(apis: Apis) -> None:
    assert apis.rocket_body("user/get_info", username="missing_0001") == (
        404,
        {"message": "User not found", "status": "fail"},
    )
    assert apis.rocket_body("user/get_followers", id="123")[0] == 404
    assert apis.rocket_body("user/get_info_by_id", id="1")[0] == 404
    assert apis.rocket_body("media/get_comments", id="3000000000000000000")[0] == 404


def test_private_profiles_show_their_profile_only(apis: Apis) -> None:
    truth = apis.private_profile()["profile"]
    status, body = apis.rocket_body("user/get_info", username=truth["username"])
    assert status == 200 and body["data"]["user"]["is_private"] is True
    private = {"message": "Not authorized to view user", "status": "fail"}
    for method in (
        "user/get_followers",
        "user/get_following",
        "user/get_media",
        "user/get_clips",
        "user/get_highlights",
    ):
        assert apis.rocket_body(method, id=truth["ext_id"]) == (403, private), method


def test_cursors_of_the_scraper_or_another_profile_are_invalid(apis: Apis) -> None:
    truth = apis.public_profile(120, 20_000)
    other = apis.public_profile(60, 119)
    user_id = truth["profile"]["ext_id"]
    scraper_cursor = apis.scraper("/followers", id=user_id).json()["next_max_id"]
    invalid = (400, {"message": "Invalid cursor", "status": "fail"})
    assert apis.rocket_body("user/get_followers", id=user_id, max_id=scraper_cursor) == invalid
    rocket_cursor = apis.rocket_body("user/get_followers", id=user_id)[1]["next_max_id"]
    assert apis.rocket_body("user/get_following", id=user_id, max_id=rocket_cursor) == invalid
    other_id = other["profile"]["ext_id"]
    assert apis.rocket_body("user/get_followers", id=other_id, max_id=rocket_cursor) == invalid
    assert apis.rocket_body("user/get_followers", id=user_id, max_id="garbage") == invalid


def test_a_wrong_or_missing_token_is_refused(apis: Apis) -> None:
    response = apis.rocket("user/get_info", key="nope", username="user_0001")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})
    response = apis.client.post("/instagram/user/get_info", json={"username": "user_0001"})
    assert response.status_code == 401


def test_bad_requests_and_unknown_methods(apis: Apis) -> None:
    assert apis.rocket("user/get_followers").status_code == 400
    response = apis.client.post(
        "/instagram/user/get_info",
        content=b"{not json",
        headers={"Authorization": "Token sim-key"},
    )
    assert response.status_code == 400
    assert apis.rocket("user/get_everything", id="1").status_code == 404
