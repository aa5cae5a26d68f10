"""Instagram stories, highlight stories, likers, comment replies and reels on both APIs,
walked to the end and compared with the truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

DAY = 86400
SHORT_USER = {"pk", "username", "full_name", "is_private", "is_verified", "profile_pic_url"}
STORY = {
    "pk",
    "id",
    "media_type",
    "taken_at",
    "expiring_at",
    "image_versions2",
    "product_type",
    "user",
}
REPLY = {
    "pk",
    "text",
    "created_at",
    "comment_like_count",
    "child_comment_count",
    "user",
    "parent_comment_id",
}
PRIVATE = (403, {"message": "Not authorized to view user", "status": "fail"})
INVALID_CURSOR = (400, {"message": "Invalid cursor", "status": "fail"})


def _now(apis: Apis) -> int:
    now: int = apis.client.get("/_sim/clock").json()["unix"]
    return now


def _public_truths(apis: Apis) -> list[dict[str, Any]]:
    """The truth of every public profile but the giant."""
    return [
        apis.truth(entry["username"])
        for entry in apis.profiles()
        if not entry["is_private"] and entry["username"] != "giant"
    ]


def _post_truth(apis: Apis, username: str, post_pk: str) -> dict[str, Any]:
    response = apis.client.get(f"/_sim/truth/instagram/{username}/posts/{post_pk}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _story_keys(item: dict[str, Any]) -> tuple[str, int, int, int]:
    return item["pk"], item["taken_at"], item["expiring_at"], item["media_type"]


def _truth_story_keys(story: dict[str, Any]) -> tuple[str, int, int, int]:
    return story["ext_id"], story["taken_at"], story["expiring_at"], story["media_type"]


def _check_story(item: dict[str, Any], owner: dict[str, Any]) -> None:
    assert set(item) >= STORY
    assert item["product_type"] == "story"
    assert item["id"] == f"{item['pk']}_{owner['ext_id']}"
    assert item["expiring_at"] == item["taken_at"] + DAY
    assert item["user"]["pk"] == owner["ext_id"]
    assert ("video_versions" in item) == (item["media_type"] == 2)
    assert item["media_type"] in (1, 2)


def _walk(fetch: Callable[[str | None], dict[str, Any]], cursor_key: str) -> list[dict[str, Any]]:
    """Every page of a listing: ``fetch(cursor)`` until the page's ``cursor_key`` is null."""
    pages, cursor = [], None
    while True:
        page = fetch(cursor)
        pages.append(page)
        cursor = page[cursor_key]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the listing does not end"


def _rocket_replies(apis: Apis, media_id: str, comment_id: str) -> list[dict[str, Any]]:
    def fetch(cursor: str | None) -> dict[str, Any]:
        body = {"id": comment_id, "media_id": media_id}
        status, page = apis.rocket_body(
            "comment/get_replies", **(body if cursor is None else {**body, "max_id": cursor})
        )
        assert status == 200, page
        return page

    return _walk(fetch, "next_max_child_cursor")


def _scraper_replies(apis: Apis, media_id: str, comment_id: str) -> list[dict[str, Any]]:
    def fetch(cursor: str | None) -> dict[str, Any]:
        query = {"comment_id": comment_id, "media_id": media_id}
        response = apis.scraper(
            "/comment-replies", **(query if cursor is None else {**query, "min_id": cursor})
        )
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    return _walk(fetch, "next_min_child_cursor")


def _threaded_post(apis: Apis, replies: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A public post's truth and one of its comments with more than ``replies`` replies."""
    for entry in apis.profiles():
        if entry["is_private"] or entry["username"] == "giant":
            continue
        for post in apis.truth(entry["username"])["posts"]:
            if post["comment_count"] < 40:
                continue
            truth = _post_truth(apis, entry["username"], post["ext_id"])
            for comment in truth["comments"]:
                if comment["child_comment_count"] > replies:
                    return truth, comment
    raise AssertionError(f"no comment with more than {replies} replies")


# ---------------------------------------------------------------------- stories


def test_live_stories_of_every_public_profile_equal_the_truth(apis: Apis) -> None:
    truths = _public_truths(apis)
    now = _now(apis)
    assert any(t["stories"] for t in truths) and any(not t["stories"] for t in truths)
    for start in range(0, len(truths), 4):
        batch = truths[start : start + 4]
        ids = [t["profile"]["ext_id"] for t in batch]
        status, body = apis.rocket_body("user/get_stories", ids=ids)
        assert status == 200 and body["status"] == "ok"
        reels = body["reels"]
        assert body["reels_media"] == [reels[pk] for pk in ids if pk in reels]
        for truth in batch:
            owner = truth["profile"]
            if not truth["stories"]:
                assert owner["ext_id"] not in reels
                continue
            reel = reels[owner["ext_id"]]
            assert reel["id"] == int(owner["ext_id"])
            assert [_story_keys(i) for i in reel["items"]] == [
                _truth_story_keys(s) for s in truth["stories"]
            ]
            assert reel["expiring_at"] == reel["items"][-1]["expiring_at"]
            assert set(reel["user"]) >= SHORT_USER and reel["user"]["pk"] == owner["ext_id"]
            for item in reel["items"]:
                _check_story(item, owner)
                assert item["taken_at"] <= now < item["expiring_at"]
            scraper = apis.scraper("/stories", id=owner["ext_id"]).json()["reel"]
            assert scraper == reel
    bare = next(t for t in truths if not t["stories"])
    assert apis.scraper("/stories", id=bare["profile"]["ext_id"]).json() == {"reel": None}


def test_get_stories_takes_one_to_four_ids(apis: Apis) -> None:
    ids = [t["profile"]["ext_id"] for t in _public_truths(apis)[:5]]
    assert apis.rocket_body("user/get_stories", ids=ids[:4])[0] == 200
    assert apis.rocket("user/get_stories", ids=ids).status_code == 400
    assert apis.rocket("user/get_stories", ids=[]).status_code == 400
    unknown = apis.rocket_body("user/get_stories", ids=[ids[0], "123"])
    assert unknown == (404, {"message": "User not found", "status": "fail"})


def test_highlight_stories_equal_the_truth_expired_ones_included(apis: Apis) -> None:
    truths = [t for t in _public_truths(apis) if t["highlights"]]
    truths.append(apis.truth("giant"))
    now = _now(apis)
    expired = 0
    for truth in truths:
        owner = truth["profile"]
        status, tray = apis.rocket_body("user/get_highlights", id=owner["ext_id"])
        assert status == 200
        ids = [f"highlight:{h['ext_id']}" for h in truth["highlights"]]
        assert [h["id"] for h in tray["tray"]] == ids
        assert [h["media_count"] for h in tray["tray"]] == [
            h["media_count"] for h in truth["highlights"]
        ]
        status, body = apis.rocket_body("highlight/get_stories", ids=ids)
        assert status == 200 and list(body["reels"]) == ids
        for highlight, hid in zip(truth["highlights"], ids, strict=True):
            reel = body["reels"][hid]
            assert (reel["id"], reel["title"]) == (hid, highlight["title"])
            assert [i["pk"] for i in reel["items"]] == highlight["items"]
            assert reel["media_count"] == len(reel["items"]) == highlight["media_count"] > 0
            for item in reel["items"]:
                _check_story(item, owner)
            expired += sum(i["expiring_at"] <= now for i in reel["items"])
            bare_id = apis.scraper("/highlight-stories", id=highlight["ext_id"]).json()["reel"]
            assert bare_id == reel == apis.scraper("/highlight-stories", id=hid).json()["reel"]
    assert expired > 0, "highlights keep stories long expired"
    unknown = apis.rocket_body("highlight/get_stories", ids=["highlight:17900000000000001"])
    assert unknown == (404, {"message": "Highlight not found", "status": "fail"})
    assert apis.scraper("/highlight-stories", id="highlight:1").status_code == 404


@pytest.mark.parametrize("own_sim", [{"seed": 8}], indirect=True)
def test_a_story_leaves_after_its_day_but_stays_in_its_highlight(own_sim: Apis) -> None:
    apis = own_sim
    truth, story, highlight = next(
        (t, s, h)
        for t in _public_truths(apis)
        for h in t["highlights"]
        for s in t["stories"]
        if s["ext_id"] in h["items"]
    )
    user_id, hid = truth["profile"]["ext_id"], f"highlight:{highlight['ext_id']}"
    _, live = apis.rocket_body("user/get_stories", ids=[user_id])
    _, kept = apis.rocket_body("highlight/get_stories", ids=[hid])
    live_item = next(i for i in live["reels"][user_id]["items"] if i["pk"] == story["ext_id"])
    kept_item = next(i for i in kept["reels"][hid]["items"] if i["pk"] == story["ext_id"])
    assert live_item == kept_item, "the same story, same pk, in both"

    assert apis.client.post("/_sim/clock", json={"advance_hours": 30}).status_code == 200
    later = apis.truth(truth["profile"]["username"])
    assert story["ext_id"] not in {s["ext_id"] for s in later["stories"]}
    _, live = apis.rocket_body("user/get_stories", ids=[user_id])
    listed = [i["pk"] for i in live["reels"].get(user_id, {"items": []})["items"]]
    assert listed == [s["ext_id"] for s in later["stories"]]
    assert story["ext_id"] not in listed
    _, kept = apis.rocket_body("highlight/get_stories", ids=[hid])
    items = [i["pk"] for i in kept["reels"][hid]["items"]]
    assert story["ext_id"] in items
    after = next(h for h in later["highlights"] if h["ext_id"] == highlight["ext_id"])
    assert items == after["items"] and items[: len(highlight["items"])] == highlight["items"]


# ---------------------------------------------------------------------- likers


def test_likers_are_the_newest_thousand_and_user_count_the_like_count(apis: Apis) -> None:
    giant = apis.truth("giant")
    big = next(p for p in giant["posts"] if p["like_count"] > 1_000)
    truth = _post_truth(apis, "giant", big["ext_id"])
    assert len(truth["likers"]) == len(set(truth["likers"])) == big["like_count"]
    assert truth["likers_listable"] == 1_000
    assert giant["profile"]["ext_id"] not in truth["likers"]
    status, body = apis.rocket_body("media/get_likes_by_id", id=big["ext_id"])
    assert status == 200 and set(body) == {"users", "user_count", "status"}
    assert body["user_count"] == big["like_count"]
    assert [u["pk"] for u in body["users"]] == truth["likers"][:1_000]
    assert set(body["users"][0]) >= SHORT_USER
    scraper = apis.scraper("/post-likers", id=big["ext_id"]).json()
    assert scraper == {"users": body["users"], "user_count": body["user_count"]}

    small = next(p for p in giant["posts"] if 0 < p["like_count"] <= 1_000)
    truth = _post_truth(apis, "giant", small["ext_id"])
    assert truth["likers_listable"] == small["like_count"]
    _, body = apis.rocket_body("media/get_likes_by_id", id=f"{small['ext_id']}_x")
    assert [u["pk"] for u in body["users"]] == truth["likers"]
    assert apis.rocket_body("media/get_likes_by_id", id="3000000000000000000")[0] == 404


# ---------------------------------------------------------------------- replies


def test_replies_walk_to_the_truth_tail_on_rocket_and_head_on_the_scraper(apis: Apis) -> None:
    post, comment = _threaded_post(apis, 20)
    media_id, comment_id = post["post"]["ext_id"], comment["ext_id"]
    replies = comment["replies"]
    assert len(replies) == comment["child_comment_count"] > 20
    assert [r["created_at"] for r in replies] == sorted(r["created_at"] for r in replies)
    assert replies[0]["created_at"] > comment["created_at"]

    pages = _rocket_replies(apis, media_id, comment_id)
    listed = [r for page in pages for r in page["child_comments"]]
    assert [r["pk"] for r in listed] == [r["ext_id"] for r in replies], "oldest first"
    assert [(r["created_at"], r["comment_like_count"], r["user"]["pk"]) for r in listed] == [
        (r["created_at"], r["like_count"], r["author_ext_id"]) for r in replies
    ]
    assert all(set(r) >= REPLY and r["parent_comment_id"] == comment_id for r in listed)
    assert all(p["has_more_tail_child_comments"] for p in pages[:-1])
    assert not pages[-1]["has_more_tail_child_comments"]
    assert all(len(p["child_comments"]) == 20 for p in pages[:-1])
    assert {p["child_comment_count"] for p in pages} == {len(replies)}
    assert {p["parent_comment_id"] for p in pages} == {comment_id}

    pages = _scraper_replies(apis, media_id, comment_id)
    listed = [r for page in pages for r in page["child_comments"]]
    assert [r["pk"] for r in listed] == [r["ext_id"] for r in reversed(replies)], "newest first"
    assert all(set(r) >= REPLY for r in listed)
    assert all(p["has_more_head_child_comments"] for p in pages[:-1])
    assert not pages[-1]["has_more_head_child_comments"]
    assert {p["child_comment_count"] for p in pages} == {len(replies)}


def test_every_reply_count_is_what_the_replies_list(apis: Apis) -> None:
    post, _ = _threaded_post(apis, 5)
    media_id = post["post"]["ext_id"]
    status, page = apis.rocket_body("media/get_comments", id=media_id)
    assert status == 200
    by_pk = {c["ext_id"]: c for c in post["comments"]}
    for listed in page["comments"]:
        comment = by_pk[listed["pk"]]
        assert listed["child_comment_count"] == comment["child_comment_count"]
        assert listed["user"]["pk"] == comment["author_ext_id"]
    threaded = [c for c in post["comments"] if c["child_comment_count"] > 0][:15]
    assert threaded
    for comment in threaded:
        pages = _rocket_replies(apis, media_id, comment["ext_id"])
        count = sum(len(p["child_comments"]) for p in pages)
        assert count == len(comment["replies"]) == comment["child_comment_count"]
    bare = next(c for c in post["comments"] if c["child_comment_count"] == 0)
    status, body = apis.rocket_body("comment/get_replies", id=bare["ext_id"], media_id=media_id)
    assert status == 200 and body["child_comments"] == [] and body["child_comment_count"] == 0
    assert body["next_max_child_cursor"] is None


def test_reply_cursors_are_bound_to_their_api_and_comment(apis: Apis) -> None:
    post, comment = _threaded_post(apis, 20)
    media_id = post["post"]["ext_id"]
    other = next(
        c for c in post["comments"] if c["child_comment_count"] and c["ext_id"] != comment["ext_id"]
    )
    first = {"id": comment["ext_id"], "media_id": media_id}
    rocket_cursor = apis.rocket_body("comment/get_replies", **first)[1]["next_max_child_cursor"]
    query = {"comment_id": comment["ext_id"], "media_id": media_id}
    scraper_cursor = apis.scraper("/comment-replies", **query).json()["next_min_child_cursor"]
    assert rocket_cursor and scraper_cursor
    assert apis.rocket_body("comment/get_replies", **first, max_id=scraper_cursor) == (
        INVALID_CURSOR
    )
    moved = {"id": other["ext_id"], "media_id": media_id, "max_id": rocket_cursor}
    assert apis.rocket_body("comment/get_replies", **moved) == INVALID_CURSOR
    assert apis.scraper("/comment-replies", **query, min_id=rocket_cursor).status_code == 400
    assert apis.rocket_body("comment/get_replies", id="1", media_id=media_id) == (
        404,
        {"message": "Comment not found", "status": "fail"},
    )
    foreign = next(p["ext_id"] for p in apis.truth("giant")["posts"] if p["ext_id"] != media_id)
    assert apis.rocket_body("comment/get_replies", id=comment["ext_id"], media_id=foreign)[0] == 404
    assert apis.rocket("comment/get_replies", id=comment["ext_id"]).status_code == 400
    assert apis.scraper("/comment-replies", comment_id=comment["ext_id"]).status_code == 400


# ---------------------------------------------------------------------- reels


def test_every_reel_is_listed_with_its_plays_and_in_the_feed(apis: Apis) -> None:
    truth = next(t for t in _public_truths(apis) if len(t["reels"]) > 12)
    user_id = truth["profile"]["ext_id"]
    posts = {p["ext_id"]: p for p in truth["posts"]}
    assert truth["reels"] == [p["ext_id"] for p in truth["posts"] if p["product_type"] == "clips"]

    def fetch(cursor: str | None) -> dict[str, Any]:
        body = {"id": user_id} if cursor is None else {"id": user_id, "max_id": cursor}
        status, page = apis.rocket_body("user/get_clips", **body)
        assert status == 200
        return {**page, "next": page["paging_info"].get("max_id")}

    reels = [i["media"] for page in _walk(fetch, "next") for i in page["items"]]
    assert [r["pk"] for r in reels] == truth["reels"]
    for reel in reels:
        assert reel["product_type"] == "clips" and reel["media_type"] == 2
        assert reel["play_count"] == posts[reel["pk"]]["play_count"] > 0

    def feed(cursor: str | None) -> dict[str, Any]:
        body = {"id": user_id} if cursor is None else {"id": user_id, "max_id": cursor}
        status, page = apis.rocket_body("user/get_media", **body)
        assert status == 200
        return {**page, "next": page.get("next_max_id")}

    in_feed = {i["pk"]: i for page in _walk(feed, "next") for i in page["items"]}
    assert all(in_feed[pk]["play_count"] == posts[pk]["play_count"] for pk in truth["reels"])


# ---------------------------------------------------------------------- private profiles


def test_a_private_profile_shows_no_stories_highlights_likers_or_replies(apis: Apis) -> None:
    private = next(
        apis.truth(e["username"])
        for e in apis.profiles()
        if e["is_private"] and apis.truth(e["username"])["highlights"]
    )
    owner = private["profile"]
    assert private["posts"], "real lists, which the APIs refuse"
    public = _public_truths(apis)[0]["profile"]["ext_id"]
    assert apis.rocket_body("user/get_stories", ids=[public, owner["ext_id"]]) == PRIVATE
    hid = f"highlight:{private['highlights'][0]['ext_id']}"
    assert apis.rocket_body("highlight/get_stories", ids=[hid]) == PRIVATE
    post = next(p for p in private["posts"] if p["comment_count"])
    truth = _post_truth(apis, owner["username"], post["ext_id"])
    assert truth["likers"], "real likers, which the APIs refuse"
    assert apis.rocket_body("media/get_likes_by_id", id=post["ext_id"]) == PRIVATE
    replies = {"id": truth["comments"][0]["ext_id"], "media_id": post["ext_id"]}
    assert apis.rocket_body("comment/get_replies", **replies) == PRIVATE
    for path, query in (
        ("/stories", {"id": owner["ext_id"]}),
        ("/highlight-stories", {"id": hid}),
        ("/post-likers", {"id": post["ext_id"]}),
        ("/comment-replies", {"comment_id": replies["id"], "media_id": post["ext_id"]}),
    ):
        response = apis.scraper(path, **query)
        assert response.status_code == 403, path
        assert response.json() == {"message": "This account is private"}


# ---------------------------------------------------------------------- growth


@pytest.mark.parametrize("own_sim", [{"seed": 18}], indirect=True)
def test_likers_and_replies_grow_with_the_clock(own_sim: Apis) -> None:
    apis = own_sim
    now = _now(apis)
    username, post = max(
        (
            (e["username"], p)
            for e in apis.profiles()
            if not e["is_private"]
            for p in apis.truth(e["username"])["posts"]
            if now - p["taken_at"] < 3 * DAY
        ),
        key=lambda up: up[1]["comment_count"],
    )
    before = _post_truth(apis, username, post["ext_id"])
    waiting = [c for c in before["comments"] if c["created_at"] > now - DAY]
    assert apis.client.post("/_sim/clock", json={"advance_hours": 48}).status_code == 200
    after = _post_truth(apis, username, post["ext_id"])
    grown = len(after["likers"]) - len(before["likers"])
    assert grown > 0 and len(after["likers"]) == after["post"]["like_count"]
    assert after["likers"][grown:] == before["likers"], "old likers stay, new ones come first"
    _, body = apis.rocket_body("media/get_likes_by_id", id=post["ext_id"])
    assert [u["pk"] for u in body["users"]] == after["likers"][: after["likers_listable"]]
    by_pk = {c["ext_id"]: c for c in after["comments"]}
    late = [
        (c, by_pk[c["ext_id"]])
        for c in waiting
        if len(by_pk[c["ext_id"]]["replies"]) > len(c["replies"])
    ]
    assert late, "replies of recent comments arrive later"
    for old, new in late:
        assert new["replies"][: len(old["replies"])] == old["replies"]
        assert all(r["created_at"] > now for r in new["replies"][len(old["replies"]) :])
        pages = _rocket_replies(apis, post["ext_id"], new["ext_id"])
        assert [r["pk"] for p in pages for r in p["child_comments"]] == [
            r["ext_id"] for r in new["replies"]
        ]
