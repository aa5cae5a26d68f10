"""YouTube client against genuine recorded Data API v3 responses, parsed and replayed over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from smcore.providers import Providers, paginate
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.youtube import (
    classify,
    parse_channel,
    parse_comment_thread,
    parse_reply,
    parse_upload,
)
from smcore.settings import Settings


def load(fixtures: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures / name).read_text())
    return data


Replay = Any  # the youtube_replay fixture (conftest.py): url, key, routes, requests


def providers_for(url: str, key: str = "replay-key") -> Providers:
    settings = Settings(youtube_api_host=url, youtube_api_key=key)  # type: ignore[arg-type]
    return Providers.from_settings(settings)


def test_parsers_keep_every_field_the_recording_has(youtube_fixtures: Path) -> None:
    raw = load(youtube_fixtures, "channel_info_single.json")["items"][0]
    channel = parse_channel(raw)
    assert channel.ext_id == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    assert channel.title == "Google Developers"
    assert channel.handle == "@googledevelopers"
    assert channel.country == "US"
    assert (channel.subscriber_count, channel.view_count, channel.video_count) == (
        1927873,
        160361638,
        5026,
    )
    assert channel.published_at is not None and channel.published_at.year == 2007
    assert channel.raw is raw or channel.raw == raw

    upload = parse_upload(
        load(youtube_fixtures, "playlist_items_playlist_items_paged_1.json")["items"][0]
    )
    assert upload.ext_id == "CvTApw9X8aA"
    assert upload.title.startswith("Welcome from Google Developers")
    assert upload.position == 0

    thread = parse_comment_thread(
        load(youtube_fixtures, "comment_threads_comment_threads_by_video_paged_2.json")["items"][0]
    )
    assert thread.post_ext_id == "F1UP7wRCPH8"
    assert thread.text == "Google.com", "textOriginal, not the HTML of textDisplay"
    assert thread.author_ext_id == "UCzj-CjKYmGlZ7vTL-vOe57A"
    assert thread.reply_count == 0


def test_replies_of_a_thread_parse_with_their_parent(youtube_fixtures: Path) -> None:
    body = load(youtube_fixtures, "comments_comments_by_parent_paged_1.json")
    replies = [parse_reply(raw, "F1UP7wRCPH8") for raw in body["items"]]
    first = replies[0]
    assert first.ext_id == "Ugw5zYU6n9pmIgAZWvN4AaABAg.91zT3cYb5B291za6voUoRh"
    assert first.parent_ext_id == "Ugw5zYU6n9pmIgAZWvN4AaABAg"
    assert first.post_ext_id == "F1UP7wRCPH8"
    assert first.text == "this is the third reply!"
    assert first.author_ext_id == "UCNvMBmCASzTNNX8lW3JRMbw"
    assert first.created_at.isoformat() == "2019-12-01T04:46:31+00:00"
    assert {r.parent_ext_id for r in replies} == {"Ugw5zYU6n9pmIgAZWvN4AaABAg"}
    assert body["nextPageToken"], "the recording's first page says there is more"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("error_quota_exceeded.json", ErrorKind.QUOTA_EXHAUSTED),
        ("error_permission_resp.json", ErrorKind.AUTH),
    ],
)
def test_recorded_error_bodies_are_classified(
    youtube_fixtures: Path, name: str, kind: ErrorKind
) -> None:
    response = httpx.Response(403, content=(youtube_fixtures / name).read_bytes())
    with pytest.raises(ProviderError) as caught:
        classify(response)
    assert caught.value.kind is kind
    if kind is ErrorKind.QUOTA_EXHAUSTED:
        assert caught.value.retry_after_s is not None
        assert 0 < caught.value.retry_after_s <= 25 * 3600, "until midnight Pacific"


async def test_channel_over_http(youtube_replay: Replay) -> None:
    async with providers_for(youtube_replay.url, youtube_replay.key) as providers:
        page = await providers.youtube.channel(channel_id="UC_x5XG1OV2P6uZZ5FSM9Ttw")
    assert page.success and page.api_provider == "youtube"
    assert page.item is not None
    assert page.item.title == "Google Developers"
    assert page.item.subscriber_count == 1927873
    sent = youtube_replay.requests[-1]
    assert sent["part"] == ["snippet,statistics,contentDetails"]
    assert page.request["params"]["id"] == "UC_x5XG1OV2P6uZZ5FSM9Ttw"
    assert "key" not in page.request["params"], "the key never reaches the raw layer"


async def test_every_video_of_a_paged_playlist(
    youtube_replay: Replay, youtube_fixtures: Path
) -> None:
    expected = [
        item["snippet"]["resourceId"]["videoId"]
        for name in (
            "playlist_items_playlist_items_paged_1.json",
            "playlist_items_playlist_items_paged_2.json",
        )
        for item in load(youtube_fixtures, name)["items"]
    ]
    async with providers_for(youtube_replay.url, youtube_replay.key) as providers:
        pages = [
            p
            async for p in paginate(
                providers.youtube.uploads, playlist_id="PLOU2XLYxmsIKpaV8h0AGE05so0fAwwfTw"
            )
        ]
    assert [p.success for p in pages] == [True, True]
    assert pages[0].end_cursor == "CAoQAA" and pages[0].has_more
    assert not pages[1].has_more and pages[1].end_cursor is None
    ids = [item.ext_id for p in pages for item in p.items]
    assert ids == expected and len(ids) == 13
    assert youtube_replay.requests[-1]["pageToken"] == ["CAoQAA"]


async def test_videos_and_comment_threads(youtube_replay: Replay, youtube_fixtures: Path) -> None:
    recorded = load(youtube_fixtures, "videos_videos_info_multi.json")["items"]
    async with providers_for(youtube_replay.url, youtube_replay.key) as providers:
        videos = await providers.youtube.videos(ids=["D-lhorsDlUQ", "ovdbrdCIP7U"])
        threads = await providers.youtube.comment_threads(video_id="F1UP7wRCPH8")
    assert videos.success
    assert [v.title for v in videos.items] == [r["snippet"]["title"] for r in recorded]
    assert videos.items[0].tags == recorded[0]["snippet"]["tags"]
    assert videos.items[0].view_count is None, "this recording asked for no statistics"
    assert threads.success and len(threads.items) == 5 and not threads.has_more
    assert {t.post_ext_id for t in threads.items} == {"F1UP7wRCPH8"}


async def test_http_errors_become_typed_failures(youtube_replay: Replay) -> None:
    async with providers_for(youtube_replay.url, youtube_replay.key) as providers:
        quota = await providers.youtube.channel(channel_id="UC_quota_spent_0000000000")
        missing = await providers.youtube.channel(channel_id="UC_not_recorded_000000000")
    async with providers_for(youtube_replay.url, key="wrong") as providers:
        auth = await providers.youtube.channel(channel_id="UC_x5XG1OV2P6uZZ5FSM9Ttw")
    assert not quota.success and quota.error is not None
    assert quota.error.kind is ErrorKind.QUOTA_EXHAUSTED and quota.error.status == 403
    assert missing.error is not None and missing.error.kind is ErrorKind.NOT_FOUND
    assert auth.error is not None and auth.error.kind is ErrorKind.AUTH
    # Terminal errors are not retried: one request each.
    assert len(youtube_replay.requests) == 3


async def test_too_many_ids_is_a_usage_error() -> None:
    async with providers_for("http://127.0.0.1:9") as providers:
        with pytest.raises(ValueError, match="1 to 50 ids"):
            await providers.youtube.videos(ids=[f"v{i}" for i in range(51)])
