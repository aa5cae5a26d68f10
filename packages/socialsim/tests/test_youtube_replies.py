"""YouTube ``comments.list``: every reply of a thread, shaped like Google's recording, equal
to the truth and to what threads embed; replies that arrive over time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

RECORDED = (
    Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "youtube-data-api-v3"
)


def _recorded(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return result


def _key_types(value: Any, path: str = "$") -> dict[str, str]:
    """Every key path of a JSON value with its type (a list's first item stands for all)."""
    out = {path: type(value).__name__}
    if isinstance(value, dict):
        for key, item in value.items():
            out |= _key_types(item, f"{path}.{key}")
    elif isinstance(value, list) and value:
        out |= _key_types(value[0], f"{path}[]")
    return out


def _get(apis: Apis, path: str) -> dict[str, Any]:
    response = apis.client.get(path)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _videos(apis: Apis) -> list[tuple[str, dict[str, Any]]]:
    """(channel id, VIDEO truth) of every video with comments on."""
    return [
        (channel["channel_id"], video)
        for channel in _get(apis, "/_sim/truth/youtube")["channels"]
        for video in _get(apis, f"/_sim/truth/youtube/{channel['channel_id']}")["videos"]
        if not video["comments_disabled"]
    ]


def _video_truth(apis: Apis, channel_id: str, video_id: str) -> dict[str, Any]:
    return _get(apis, f"/_sim/truth/youtube/{channel_id}/videos/{video_id}")


def _walk(apis: Apis, parent_id: str, per_page: int) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"part": "snippet", "parentId": parent_id, "maxResults": per_page}
        if token:
            params["pageToken"] = token
        response = apis.youtube("comments", **params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        token = pages[-1].get("nextPageToken")
        if token is None:
            return pages
        assert len(pages) < 50, "the listing does not end"


def _reason(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return response.status_code, error["errors"][0]["domain"], error["errors"][0]["reason"]


def _busiest_thread(apis: Apis) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(channel id, video truth, thread truth) of a thread with the most replies."""
    best: tuple[str, dict[str, Any], dict[str, Any]] | None = None
    for channel_id, video in sorted(_videos(apis), key=lambda cv: -cv[1]["comment_count"])[:5]:
        truth = _video_truth(apis, channel_id, video["ext_id"])
        thread = max(truth["comments"], key=lambda t: t["reply_count"])
        if best is None or thread["reply_count"] > best[2]["reply_count"]:
            best = (channel_id, truth, thread)
    assert best is not None
    return best


def test_comments_list_walks_every_reply_in_the_recorded_shape(apis: Apis) -> None:
    channel_id, truth, thread = _busiest_thread(apis)
    video_id = truth["video"]["ext_id"]
    replies = thread["replies"]
    assert len(replies) == thread["reply_count"] > 20
    pages = _walk(apis, thread["ext_id"], 10)
    items = [item for page in pages for item in page["items"]]
    assert [i["id"] for i in items] == [r["ext_id"] for r in replies]
    assert len(pages) == -(-len(replies) // 10)
    assert all(len(p["items"]) == 10 for p in pages[:-1])
    assert [i["snippet"]["likeCount"] for i in items] == [r["like_count"] for r in replies]
    published = [i["snippet"]["publishedAt"] for i in items]
    assert published == sorted(published, reverse=True), "newest first, as recorded"
    assert min(r["created_at"] for r in replies) > thread["created_at"]
    for item in items:
        snippet = item["snippet"]
        assert item["id"].startswith(thread["ext_id"] + ".")
        assert snippet["parentId"] == thread["ext_id"]
        assert (snippet["videoId"], snippet["channelId"]) == (video_id, channel_id)
    for page, name in ((pages[0], "paged_1"), (pages[-1], "paged_2")):
        theirs = _key_types(_recorded(f"comments_comments_by_parent_{name}.json"))
        ours = _key_types(page)
        assert {k: ours.get(k) for k in theirs} == theirs
        assert page["kind"] == "youtube#commentListResponse"
        assert page["pageInfo"] == {"totalResults": len(page["items"]), "resultsPerPage": 10}

    threads = apis.youtube(
        "commentThreads", part="snippet,replies", videoId=video_id, maxResults=100
    ).json()
    token = threads.get("nextPageToken")
    listed = threads["items"]
    while token and not any(t["id"] == thread["ext_id"] for t in listed):
        threads = apis.youtube(
            "commentThreads",
            part="snippet,replies",
            videoId=video_id,
            maxResults=100,
            pageToken=token,
        ).json()
        listed, token = threads["items"], threads.get("nextPageToken")
    embedding = next(t for t in listed if t["id"] == thread["ext_id"])
    assert embedding["snippet"]["totalReplyCount"] == len(replies)
    assert embedding["replies"]["comments"] == items[:5], "the first five listed, embedded"


def test_every_reply_count_is_what_comments_list_lists(apis: Apis) -> None:
    channel_id, video = max(_videos(apis), key=lambda cv: cv[1]["comment_thread_count"])
    truth = _video_truth(apis, channel_id, video["ext_id"])
    threaded = [t for t in truth["comments"] if t["reply_count"] > 0]
    assert len(threaded) > 10
    for thread in threaded:
        page = apis.youtube(
            "comments", part="snippet", parentId=thread["ext_id"], maxResults=100
        ).json()
        assert "nextPageToken" not in page
        assert [i["id"] for i in page["items"]] == [r["ext_id"] for r in thread["replies"]]
        assert len(thread["replies"]) == thread["reply_count"]
    replies = sum(t["reply_count"] for t in truth["comments"])
    assert video["comment_count"] == len(truth["comments"]) + replies
    bare = next(t for t in truth["comments"] if t["reply_count"] == 0)
    page = apis.youtube("comments", part="snippet", parentId=bare["ext_id"]).json()
    assert page["items"] == [] and "nextPageToken" not in page


def test_comments_by_id_answers_threads_and_replies(apis: Apis) -> None:
    _, truth, thread = _busiest_thread(apis)
    wanted = [thread["ext_id"], thread["replies"][3]["ext_id"], "Ugznope", thread["replies"][0]]
    ids = ",".join(w if isinstance(w, str) else w["ext_id"] for w in wanted)
    page = apis.youtube("comments", part="snippet", id=ids, textFormat="plainText").json()
    assert [i["id"] for i in page["items"]] == [
        thread["ext_id"],
        thread["replies"][3]["ext_id"],
        thread["replies"][0]["ext_id"],
    ]
    top, reply = page["items"][0], page["items"][1]
    assert (
        "parentId" not in top["snippet"] and top["snippet"]["videoId"] == truth["video"]["ext_id"]
    )
    assert reply["snippet"]["parentId"] == thread["ext_id"]


def test_unknown_parents_missing_filters_and_foreign_tokens_are_refused(apis: Apis) -> None:
    _, truth, thread = _busiest_thread(apis)
    for parent in ("Ugzxxxxxxxxxxxxxxxx4AaABAg", "nope", truth["video"]["ext_id"]):
        response = apis.youtube("comments", part="snippet", parentId=parent)
        assert _reason(response) == (404, "youtube.comment", "commentNotFound"), parent
    response = apis.youtube("comments", part="snippet")
    assert _reason(response) == (400, "youtube.parameter", "missingRequiredParameter")
    response = apis.youtube("comments", part="snippet", parentId=thread["ext_id"], maxResults=101)
    assert _reason(response) == (400, "youtube.parameter", "invalidParameter")
    token = apis.youtube(
        "comments", part="snippet", parentId=thread["ext_id"], maxResults=2
    ).json()["nextPageToken"]
    other = next(
        t["ext_id"]
        for t in truth["comments"]
        if t["reply_count"] > 2 and t["ext_id"] != thread["ext_id"]
    )
    response = apis.youtube("comments", part="snippet", parentId=other, pageToken=token)
    assert _reason(response) == (400, "youtube.parameter", "invalidPageToken")
    threads_token = apis.youtube(
        "commentThreads", part="snippet", videoId=truth["video"]["ext_id"], maxResults=2
    ).json()["nextPageToken"]
    response = apis.youtube(
        "comments", part="snippet", parentId=thread["ext_id"], pageToken=threads_token
    )
    assert _reason(response) == (400, "youtube.parameter", "invalidPageToken")


@pytest.mark.parametrize("own_sim", [{"quota": 2}], indirect=True)
def test_comments_list_costs_one_quota_unit(own_sim: Apis) -> None:
    _, _, thread = _busiest_thread(own_sim)
    calls = [
        own_sim.youtube("comments", part="snippet", parentId=thread["ext_id"]).status_code
        for _ in range(3)
    ]
    assert calls == [200, 200, 403]


@pytest.mark.parametrize("own_sim", [{"seed": 9}], indirect=True)
def test_replies_arrive_after_their_thread_and_counts_follow(own_sim: Apis) -> None:
    apis = own_sim
    now = apis.client.get("/_sim/clock").json()["unix"]
    channel_id, video = max(
        (cv for cv in _videos(apis) if cv[1]["published_at"] >= "2025-12-24"),
        key=lambda cv: cv[1]["comment_thread_count"],
    )
    before = _video_truth(apis, channel_id, video["ext_id"])
    assert apis.client.post("/_sim/clock", json={"advance_hours": 24}).status_code == 200
    after = _video_truth(apis, channel_id, video["ext_id"])
    by_id = {t["ext_id"]: t for t in after["comments"]}
    grown = [
        (t, by_id[t["ext_id"]])
        for t in before["comments"]
        if by_id[t["ext_id"]]["reply_count"] > t["reply_count"]
    ]
    assert grown, "some replies of recent threads arrive later"
    for old, new in grown:
        arrived = len(new["replies"]) - len(old["replies"])
        assert new["replies"][arrived:] == old["replies"], "new replies come first"
        assert all(r["created_at"] > now for r in new["replies"][:arrived])
        pages = _walk(apis, new["ext_id"], 100)
        assert [i["id"] for p in pages for i in p["items"]] == [r["ext_id"] for r in new["replies"]]
    for truth in (before, after):
        replies = sum(t["reply_count"] for t in truth["comments"])
        assert truth["video"]["comment_count"] == len(truth["comments"]) + replies
    stats = apis.youtube("videos", part="statistics", id=video["ext_id"]).json()["items"][0]
    assert stats["statistics"]["commentCount"] == str(after["video"]["comment_count"])
