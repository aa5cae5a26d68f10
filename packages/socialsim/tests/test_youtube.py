"""YouTube Data API v3: shapes against Google's recorded responses, paging, errors."""

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
PARTS = "snippet,statistics,contentDetails"


def recorded(name: str) -> dict[str, Any]:
    """A genuine response recorded from Google (the shared fixtures beside the repository)."""
    if not RECORDED.is_dir():
        raise FileNotFoundError(f"{RECORDED}: the shared fixtures must sit beside the repository")
    result: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return result


def missing(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Key paths of Google's response that ours lacks or types differently."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: not an object"]
        out = []
        for key, value in theirs.items():
            if key not in ours:
                out.append(f"{path}.{key}")
            else:
                out += missing(ours[key], value, f"{path}.{key}")
        return out
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: not a list"]
        return missing(ours[0], theirs[0], f"{path}[0]") if theirs and ours else []
    return [] if type(ours) is type(theirs) else [f"{path}: {type(ours).__name__}"]


def uploads_of(apis: Apis, channel: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    index = apis.client.get("/_sim/truth/youtube").json()["channels"][channel]
    return index, apis.client.get(f"/_sim/truth/youtube/{index['channel_id']}").json()


def all_videos(apis: Apis) -> list[dict[str, Any]]:
    out = []
    for channel in apis.client.get("/_sim/truth/youtube").json()["channels"]:
        out += apis.client.get(f"/_sim/truth/youtube/{channel['channel_id']}").json()["videos"]
    return out


def test_channels_have_the_recorded_shape(apis: Apis) -> None:
    index, truth = uploads_of(apis)
    response = apis.youtube("channels", part=PARTS, id=index["channel_id"])
    assert response.status_code == 200
    body = response.json()
    assert missing(body, recorded("channel_info_single.json")) == []
    assert set(body) <= set(recorded("channel_info_multi.json")) | {"nextPageToken"}
    channel = body["items"][0]
    assert channel["kind"] == "youtube#channel" and channel["id"] == index["channel_id"]
    assert channel["contentDetails"]["relatedPlaylists"]["uploads"] == index["uploads_playlist_id"]
    assert channel["statistics"]["videoCount"] == str(truth["channel"]["video_count"])
    assert channel["statistics"]["viewCount"] == str(truth["channel"]["view_count"])
    by_handle = apis.youtube("channels", part=PARTS, forHandle=index["handle"]).json()
    assert by_handle["items"][0]["id"] == index["channel_id"]


def test_unknown_channels_answer_no_items(apis: Apis) -> None:
    response = apis.youtube("channels", part=PARTS, id="UC" + "x" * 22)
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert response.json()["pageInfo"]["totalResults"] == 0


def test_part_chooses_the_sections(apis: Apis) -> None:
    index, _ = uploads_of(apis)
    item = apis.youtube("channels", part="snippet", id=index["channel_id"]).json()["items"][0]
    assert "snippet" in item and "statistics" not in item and "contentDetails" not in item
    assert apis.youtube("channels", id=index["channel_id"]).status_code == 400


def test_uploads_page_through_every_video_newest_first(apis: Apis) -> None:
    index, truth = uploads_of(apis)
    ids, token, pages = [], None, []
    while True:
        params = {
            "part": "snippet,contentDetails",
            "playlistId": index["uploads_playlist_id"],
            "maxResults": 7,
        }
        if token:
            params["pageToken"] = token
        body = apis.youtube("playlistItems", **params).json()
        pages.append(body)
        ids += [item["contentDetails"]["videoId"] for item in body["items"]]
        assert all(
            i["snippet"]["resourceId"]["videoId"] == i["contentDetails"]["videoId"]
            for i in body["items"]
        )
        token = body.get("nextPageToken")
        if token is None:
            break
    assert ids == [v["ext_id"] for v in truth["videos"]]
    assert all(len(p["items"]) == 7 for p in pages[:-1])
    assert pages[0]["pageInfo"] == {"totalResults": len(ids), "resultsPerPage": 7}
    assert [i["snippet"]["position"] for p in pages for i in p["items"]] == list(range(len(ids)))
    assert missing(pages[0], recorded("playlist_items_playlist_items_paged_1.json")) == []


def test_playlist_items_allow_at_most_50(apis: Apis) -> None:
    index, _ = uploads_of(apis)
    params = {"part": "snippet", "playlistId": index["uploads_playlist_id"]}
    assert len(apis.youtube("playlistItems", **params, maxResults=50).json()["items"]) <= 50
    too_many = apis.youtube("playlistItems", **params, maxResults=51)
    assert too_many.status_code == 400


def test_videos_have_the_recorded_shape_and_string_counts(apis: Apis) -> None:
    videos = all_videos(apis)
    ids = [v["ext_id"] for v in videos[:40]]
    body = apis.youtube("videos", part=PARTS, id=",".join([*ids, "unknownid00"])).json()
    assert [item["id"] for item in body["items"]] == ids, "unknown ids are left out"
    single = recorded("videos_videos_info_single.json")
    del single["items"][0]["player"]  # part=player is not asked for
    assert missing(body, single) == []
    truth = {v["ext_id"]: v for v in videos}
    for item in body["items"]:
        statistics = item["statistics"]
        assert statistics["viewCount"] == str(truth[item["id"]]["view_count"])
        assert statistics["likeCount"] == str(truth[item["id"]]["like_count"])
        if not truth[item["id"]]["comments_disabled"]:
            assert statistics["commentCount"] == str(truth[item["id"]]["comment_count"])
        assert item["contentDetails"]["duration"].startswith("PT")


def test_videos_take_at_most_50_ids(apis: Apis) -> None:
    ids = [v["ext_id"] for v in all_videos(apis)[:51]]
    assert apis.youtube("videos", part="snippet", id=",".join(ids[:50])).status_code == 200
    assert apis.youtube("videos", part="snippet", id=",".join(ids)).status_code == 400


def test_comment_threads_page_through_every_thread(apis: Apis) -> None:
    video = max(all_videos(apis), key=lambda v: v["comment_thread_count"])
    assert video["comment_thread_count"] > 100
    threads, token, pages = [], None, 0
    while True:
        params = {
            "part": "snippet,replies",
            "videoId": video["ext_id"],
            "maxResults": 100,
            "textFormat": "plainText",
        }
        if token:
            params["pageToken"] = token
        body = apis.youtube("commentThreads", **params).json()
        threads += body["items"]
        pages += 1
        token = body.get("nextPageToken")
        if token is None:
            break
    assert len({t["id"] for t in threads}) == video["comment_thread_count"]
    assert pages == -(-video["comment_thread_count"] // 100)
    replies = sum(t["snippet"]["totalReplyCount"] for t in threads)
    assert video["comment_count"] == len(threads) + replies
    assert missing(body, recorded("comment_threads_comment_threads_by_video_paged_2.json")) == []
    with_replies = next(t for t in threads if t["snippet"]["totalReplyCount"] > 0)
    embedded = with_replies["replies"]["comments"]
    assert 0 < len(embedded) <= 5
    assert embedded[0]["snippet"]["parentId"] == with_replies["id"]
    assert (
        missing(embedded[0], recorded("comments_comments_by_parent_paged_2.json")["items"][0]) == []
    )


def _reason(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert error["errors"][0]["message"] == error["message"]
    return response.status_code, error["errors"][0]["domain"], error["errors"][0]["reason"]


def test_unknown_playlists_and_videos_are_404(apis: Apis) -> None:
    response = apis.youtube("playlistItems", part="snippet", playlistId="UUnope")
    assert _reason(response) == (404, "youtube.playlistItem", "playlistNotFound")
    response = apis.youtube("commentThreads", part="snippet", videoId="nope")
    assert _reason(response) == (404, "youtube.commentThread", "videoNotFound")


def test_videos_with_comments_off_answer_comments_disabled(apis: Apis) -> None:
    video = next(v for v in all_videos(apis) if v["comments_disabled"])
    response = apis.youtube("commentThreads", part="snippet", videoId=video["ext_id"])
    assert _reason(response) == (403, "youtube.commentThread", "commentsDisabled")
    assert missing(response.json(), recorded("error_quota_exceeded.json")) == []


@pytest.mark.parametrize("key", ["wrong", ""])
def test_a_wrong_or_missing_key_is_key_invalid(apis: Apis, key: str) -> None:
    response = apis.client.get("/youtube/v3/channels", params={"part": "snippet", "key": key})
    assert _reason(response) == (400, "usageLimits", "keyInvalid")
    assert response.json()["error"]["message"] == "API key not valid. Please pass a valid API key."


def test_foreign_or_bad_page_tokens_are_invalid(apis: Apis) -> None:
    index, _ = uploads_of(apis)
    truth = apis.public_profile(120, 20_000)
    rocket = apis.rocket("user/get_followers", id=truth["profile"]["ext_id"])
    rocket_cursor = rocket.json()["response"]["body"]["next_max_id"]
    params = {"part": "snippet", "playlistId": index["uploads_playlist_id"], "maxResults": 2}
    for token in (rocket_cursor, "CAoQAA"):
        response = apis.youtube("playlistItems", **params, pageToken=token)
        assert _reason(response) == (400, "youtube.parameter", "invalidPageToken")
    other, _ = uploads_of(apis, 1)
    token = apis.youtube("playlistItems", **params).json()["nextPageToken"]
    params["playlistId"] = other["uploads_playlist_id"]
    assert apis.youtube("playlistItems", **params, pageToken=token).status_code == 400
