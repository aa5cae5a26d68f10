"""TikTok parsers against genuine recordings, used as they are: TikTok's web JSON as a RapidAPI
host passed it through (tiktok-api45, ``{"data": …}``-wrapped) and the Research API's answers.

The wire-level cases no recording shows (a repeated cursor, RapidAPI's rate headers, a refused
Research token, the local Research quota) are answered by HTTP servers on loopback, one per
provider, serving recorded bodies and the providers' documented errors: every part of our
client, its HTTP client included, runs for real.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from smcore.providers import Providers, paginate, tikapi23, tiktok_research
from smcore.providers import tiktok as tt
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.models import Post
from smcore.providers.transport import RetryPolicy, decode_json
from smcore.settings import Settings

FIXTURES = Path(__file__).resolve().parents[5] / "shared" / "fixtures"
WEB = FIXTURES / "tiktok-web-json-api45"
RESEARCH = FIXTURES / "tiktok-research-api"
ZG = tt.TikTokUser(
    ext_id="6799838955094836230",
    username="zg.520",
    sec_uid="MS4wLjABAAAAkagks5n_8XDIMWf94LZDUYs54FG5bJmEFJkWtjA__uRUN8QWaavHhzSyEO6WBPQj",
)


@pytest.fixture(scope="module", autouse=True)
def _fixtures_present() -> None:
    if not WEB.is_dir() or not RESEARCH.is_dir():
        raise FileNotFoundError(f"{FIXTURES}: the shared fixtures must sit beside the repository")


def recording(name: str) -> dict[str, Any]:
    """The JSON after ``// Example Response`` in a tiktok-api45 example, ``// `` stripped."""
    source = (WEB / name).read_text()
    _, example = source.split("// Example Response", 1)
    lines = [line.removeprefix("//").removeprefix(" ") for line in example.splitlines()]
    body: dict[str, Any] = json.loads("\n".join(lines))
    return body


def research(name: str) -> dict[str, Any]:
    """A Research API answer, decoded as the client decodes it (exact integers)."""
    body: dict[str, Any] = decode_json(httpx.Response(200, content=(RESEARCH / name).read_bytes()))
    return body


# --------------------------------------------------------------------------- web JSON
@pytest.mark.parametrize("wrapped", [True, False], ids=["api45-wrapped", "web-json"])
def test_user_info_prefers_exact_statsv2_over_rounded_stats(wrapped: bool) -> None:
    body = recording("get-user-detail.js")
    body = body if wrapped else body["data"]
    assert tikapi23.classify_body(body) is body
    (profile,), cursor, more = tikapi23.user_info_page(body)
    assert profile.ext_id == "6799838955094836230"
    assert profile.username == "zg.520" and profile.full_name == "小邹旅行🇨🇳"
    assert profile.sec_uid == ZG.sec_uid
    assert profile.biography.startswith("账号出售")
    # stats says 427700 and 6800000 (rounded as TikTok shows them); statsV2 the exact counts.
    assert profile.followers_count == 427682
    assert profile.likes_total == 6764096
    assert (profile.follows_count, profile.posts_count) == (176, 1605)
    assert not profile.is_private and not profile.is_verified
    assert profile.avatar_url is not None and "1080:1080" in profile.avatar_url
    assert cursor is None and not more


def test_unknown_user_is_a_final_not_found() -> None:
    """TikTok's answer for an unknown user: HTTP 200, ``statusCode`` 10221, empty userInfo."""
    body = recording("get-user-detail.js")["data"]
    gone = {**body, "statusCode": 10221, "userInfo": {}}
    with pytest.raises(ProviderError) as caught:
        tikapi23.classify_body(gone)
    assert caught.value.kind is ErrorKind.NOT_FOUND and caught.value.kind.final
    with pytest.raises(ProviderError) as empty:
        tikapi23.user_info_page({**body, "userInfo": {}})
    assert empty.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize("wrapped", [True, False], ids=["api45-wrapped", "web-json"])
def test_user_posts_page(wrapped: bool) -> None:
    body = recording("get-user-post.js")
    body = body if wrapped else body["data"]
    items, cursor, more = tikapi23.posts_page(body)
    assert (cursor, more) == ("1758331327601", True), "the ms-timestamp cursor, as a string"
    (post,) = items
    assert isinstance(post, Post)
    assert post.ext_id == "7513039993741397256"
    assert int(post.taken_at.timestamp()) == 1749265942
    assert (post.kind, post.pinned, post.duration_s) == ("video", True, 18.0)
    assert post.caption == "高铁穿过莆田市湄洲湾跨海特大桥#china #中国高铁🚅 "
    assert (post.play_count, post.like_count, post.comment_count) == (1900000, 68300, 1502)
    assert (post.share_count, post.save_count) == (2528, 5012)
    assert post.owner_ext_id == ZG.ext_id
    (media,) = post.media
    assert media.media_type == "video" and media.url is not None and "tiktokcdn" in media.url


def test_a_malformed_item_is_set_aside_not_the_page() -> None:
    body = recording("get-user-post.js")["data"]
    item = body["itemList"][0]
    broken = {k: v for k, v in item.items() if k != "createTime"}
    items, _, more = tikapi23.posts_page({**body, "itemList": [broken, item]})
    rejected = [i for i in items if not isinstance(i, Post)]
    assert len(items) == 2 and len(rejected) == 1 and more
    assert rejected[0].ext_id == "7513039993741397256"
    assert "createTime" in rejected[0].reason


@pytest.mark.parametrize(
    ("name", "ids", "cursor", "total"),
    [
        (
            "get-user-followers.js",
            ["7420366745511658502", "7455102459049985030"],
            "1760897938",
            427682,
        ),
        (
            "get-user-followings.js",
            ["7539740651619009544", "7089075067078771718"],
            "1745042188",
            176,
        ),
    ],
)
def test_follower_lists_with_their_real_total(
    name: str, ids: list[str], cursor: str, total: int
) -> None:
    body = recording(name)
    items, next_cursor, more = tikapi23.users_page(body)
    assert [a.ext_id for a in items] == ids
    assert (next_cursor, more) == (cursor, True), "minCursor (epoch seconds) goes back"
    assert tikapi23.users_total(body) == total
    assert all(a.username and a.avatar_url for a in items)


# --------------------------------------------------------------------------- Research API
def _ids_in(name: str) -> list[str]:
    """The ``id`` values as the file spells them (digits), beside what a float would make."""
    return re.findall(r'"id":\s*(\d+)', (RESEARCH / name).read_text())


def test_research_ids_above_2_pow_53_stay_exact() -> None:
    name = "api_videos_response_page_1_of_2.json"
    walk = tiktok_research.Walk(end=date(2024, 1, 6))
    items, _, _ = tiktok_research.videos_page(research(name), walk)
    assert [p.ext_id for p in items] == _ids_in(name)
    assert len(items) == 27
    assert items[0].ext_id == "7320768196569599275"
    assert str(int(float("7320768196569599275"))) != "7320768196569599275", "a float loses it"


def test_research_video_fields() -> None:
    walk = tiktok_research.Walk(end=date(2024, 1, 6))
    items, _, _ = tiktok_research.videos_page(
        research("api_videos_response_page_1_of_2.json"), walk
    )
    first = items[0]
    assert isinstance(first, Post)
    assert first.caption == "#duet with @MarvelKitties2022 #cats "
    assert (first.like_count, first.play_count, first.share_count) == (6, 4, 0)
    assert first.comment_count == 0 and int(first.taken_at.timestamp()) == 1704499196
    assert first.owner_ext_id is None, "the Research API names the creator by username only"


def test_research_pages_keep_the_window_until_has_more_is_false() -> None:
    """27 videos on a page asked for 100, ``has_more`` true: the same window goes on with the
    API's cursor and search_id; the last page moves the walk to the window before."""
    walk = tiktok_research.Walk(end=date(2024, 1, 30), total=1000)
    _, cursor, more = tiktok_research.videos_page(
        research("api_videos_response_page_1_of_2.json"), walk
    )
    assert more and cursor is not None
    inside = tiktok_research.Walk.decode(cursor)
    assert (inside.end, inside.cursor, inside.search_id) == (
        date(2024, 1, 30),
        100,
        "7354367454467855403",
    )
    assert inside.seen == 27
    items, cursor, more = tiktok_research.videos_page(
        research("api_videos_response_page_2_of_2.json"), inside
    )
    assert len(items) == 27 and more and cursor is not None
    before = tiktok_research.Walk.decode(cursor)
    assert before.end == date(2023, 12, 31), "the day before the window's first (2024-01-01)"
    assert (before.cursor, before.search_id, before.seen) == (0, None, 54)


def test_research_walk_stops_once_it_listed_what_the_user_has() -> None:
    walk = tiktok_research.Walk(end=date(2024, 1, 30), cursor=100, search_id="x", seen=27, total=54)
    _, cursor, more = tiktok_research.videos_page(
        research("api_videos_response_page_2_of_2.json"), walk
    )
    assert (cursor, more) == (None, False)


# The recorded username without its six NULs, escaped (ruff flags the Arabic alef as ambiguous).
NUL_USERNAME = "\u062d\u0645\u0648\u062f\u064a\u0627\u0644\u0628\u0627\u0634\u0627" + "4"


def test_research_walk_floor_is_the_account_creation_day() -> None:
    """A TikTok id holds its creation time in its upper 32 bits (the recorded video's id says
    2025-06-07, its createTime too): the walk goes back no further than the account's."""
    today = date(2026, 1, 1)
    assert tiktok_research.created_on("7513039993741397256", today) == date(2025, 6, 7)
    assert tiktok_research.created_on(ZG.ext_id, today) == date(2020, 3, 3)
    assert tiktok_research.created_on("107955", today) == tiktok_research.EARLIEST
    walk = tiktok_research.Walk(end=date(2020, 3, 20), total=1000, floor=date(2020, 3, 3))
    assert walk.start == date(2020, 3, 3)
    body = research("api_videos_response_page_2_of_2.json")
    _, cursor, more = tiktok_research.videos_page(body, walk)
    assert (cursor, more) == (None, False), "nothing before the account existed"
    with pytest.raises(ProviderError) as caught:
        tiktok_research.Walk.decode("1758331327601")
    assert caught.value.kind is ErrorKind.CURSOR_EXPIRED


def test_research_username_with_nul_is_stored_without_it() -> None:
    body = research("api_videos_response_unicode_with_null_bytes.json")
    raw = body["data"]["videos"][0]
    assert "\x00" in raw["username"], "the recording holds NUL characters"
    owner = tt.TikTokUser(ext_id="1", username=NUL_USERNAME)
    walk = tiktok_research.Walk(end=date(2024, 11, 18), total=1)
    (video,), _, more = tiktok_research.videos_page(body, walk, owner)
    assert not more, "the one video the user has was listed"
    assert isinstance(video, Post)
    assert video.ext_id == "7435406205763226897"
    assert video.owner_ext_id == "1", "its username, NUL removed, is the owner's"
    assert video.caption is not None and "\x00" not in video.caption
    # Whole answers lose their NULs on arrival too: raw payloads are stored as jsonb.
    response = httpx.Response(
        200, content=(RESEARCH / "api_videos_response_unicode_with_null_bytes.json").read_bytes()
    )
    cleaned = tt.clean_body(response, decode_json(response))
    assert "\\u0000" not in json.dumps(cleaned)
    assert cleaned["data"]["videos"][0]["username"] == NUL_USERNAME
    assert cleaned["data"]["videos"][0]["id"] == 7435406205763226897


def test_research_comments_top_level_and_ids() -> None:
    name = "api_comments_response.json"
    items, _, more = tiktok_research.comments_page(research(name))
    assert not more, "has_more false ends the listing"
    assert [c.ext_id for c in items] == _ids_in(name)
    assert {c.post_ext_id for c in items} == {"7385291383449439519"}
    # parent_comment_id is the video's id for a top-level comment: no parent comment.
    assert all(c.parent_ext_id is None for c in items)
    texts = {c.ext_id: c.text for c in items}
    assert texts["7386190478574388010"] == "OMG so cute" and texts["7386111312293610270"] == ""
    reply = {**research(name)["data"]["comments"][0], "parent_comment_id": 7386190478574388010}
    assert tt.parse_research_comment(reply).parent_ext_id == "7386190478574388010"


# --------------------------------------------------------------------------- over the wire
Handler = Callable[[httpx.Request], httpx.Response]
FAST = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, max_wait_s=5)


def _server(name: str, handler: Handler) -> ThreadingHTTPServer:
    """A loopback HTTP server that hands each request to ``handler`` as an ``httpx.Request``
    addressed to ``http://<name>.test`` (so a handler can tell the providers apart)."""

    class Serve(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                self.command,
                f"http://{name}.test{self.path}",
                headers=dict(self.headers.items()),
                content=self.rfile.read(length),
            )
            response = handler(request)
            body = response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@asynccontextmanager
async def wired(handler: Handler, **settings: Any) -> AsyncIterator[Providers]:
    """The TikTok providers, each pointed at a loopback server answering with ``handler``."""
    servers = {name: _server(name, handler) for name in ("tikapi23", "tikwm", "research")}
    url = {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in servers.items()}
    values: dict[str, Any] = {
        "tikapi23_api_host": url["tikapi23"],
        "tikapi23_api_key": "k",
        "tikwm_api_host": url["tikwm"],
        "tikwm_api_key": "k",
        "tiktok_research_api_host": url["research"],
        **settings,
    }
    try:
        async with Providers.from_settings(Settings(**values), policy=FAST) as providers:
            yield providers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


async def test_a_provider_repeating_its_cursor_ends_the_listing() -> None:
    """The recorded posts page served for every cursor: the second page hands back the cursor
    it was sent, and the listing ends there instead of looping."""
    body = recording("get-user-post.js")
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("cursor"))
        return httpx.Response(200, json=body)

    pages = []
    async with wired(handler, tiktok_provider_priority="tikapi23") as p:
        async for page in paginate(p.tiktok.user_posts, user=ZG):
            pages.append(page)
            if len(pages) > 3:  # looping: fail below instead of hanging
                break
    assert seen == ["0", "1758331327601"]
    assert [page.has_more for page in pages] == [True, False]
    assert pages[-1].end_cursor is None


async def test_rapidapi_rate_headers_type_the_429_and_pace_the_next_call() -> None:
    calls: list[str] = []
    limits = {"x-ratelimit-requests-limit": "1000", "x-ratelimit-requests-remaining": "0"}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        return httpx.Response(
            429,
            json={"message": "You have exceeded the DAILY quota for Requests on your plan"},
            headers={**limits, "x-ratelimit-requests-reset": "3600"},
        )

    async with wired(handler, tiktok_provider_priority="tikapi23") as p:
        first = await p.tiktok.user_info(username="zg.520")
        second = await p.tiktok.user_info(username="zg.520")
    assert first.error is not None and first.error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert first.error.retry_after_s == 3600
    assert "plan 0/1000 left" in first.error.message
    assert second.error is not None and second.error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert "not sent" in second.error.message
    assert calls == ["tikapi23.test"], "the spent plan was not asked again"


def _research_handler(
    calls: list[str], *, refuse_first_token: bool = False, limit_first: bool = False
) -> Callable[[httpx.Request], httpx.Response]:
    tokens = iter(["t1", "t2", "t3"])

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        calls.append(path)
        if path == tiktok_research.TOKEN_PATH:
            return httpx.Response(
                200, json={"access_token": next(tokens), "expires_in": 7200, "token_type": "Bearer"}
            )
        auth = request.headers.get("authorization")
        if refuse_first_token and auth == "Bearer t1":
            return httpx.Response(
                401,
                json={"error": {"code": "access_token_invalid", "message": "", "log_id": "x"}},
            )
        assert auth in ("Bearer t1", "Bearer t2")
        if limit_first and calls.count(path) == 1:
            return httpx.Response(
                429,
                headers={"Retry-After": "0"},
                json={
                    "error": {
                        "code": "rate_limit_exceeded",
                        "message": "API rate limit exceeded, please retry later.",
                        "log_id": "x",
                    }
                },
            )
        return httpx.Response(200, content=(RESEARCH / "api_comments_response.json").read_bytes())

    return handler


async def test_research_token_is_kept_and_renewed_on_401() -> None:
    calls: list[str] = []
    settings = {"tiktok_provider_priority": "research"}
    async with wired(_research_handler(calls), **settings) as p:
        for _ in range(3):
            page = await p.tiktok.post_comments(post_id="7385291383449439519")
            assert page.success and len(page.items) == 6
    assert calls.count(tiktok_research.TOKEN_PATH) == 1, "one token for every call"

    calls.clear()
    async with wired(_research_handler(calls, refuse_first_token=True), **settings) as p:
        page = await p.tiktok.post_comments(post_id="7385291383449439519")
    assert page.success and page.api_provider == "research"
    assert calls == [
        tiktok_research.TOKEN_PATH,
        tiktok_research.COMMENT_LIST_PATH,
        tiktok_research.TOKEN_PATH,
        tiktok_research.COMMENT_LIST_PATH,
    ]


async def test_research_refuses_locally_once_its_daily_quota_is_spent() -> None:
    calls: list[str] = []
    settings = {"tiktok_provider_priority": "research", "tiktok_research_daily_requests": 2}
    async with wired(_research_handler(calls), **settings) as p:
        pages = [await p.tiktok.post_comments(post_id="7385291383449439519") for _ in range(3)]
    assert [page.success for page in pages] == [True, True, False]
    error = pages[-1].error
    assert error is not None and error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert error.retry_after_s is not None and 0 < error.retry_after_s <= 86400
    assert calls.count(tiktok_research.COMMENT_LIST_PATH) == 2, "the third was never sent"


async def test_research_short_rate_limit_is_waited_out_not_taken_for_the_daily_quota() -> None:
    calls: list[str] = []
    settings = {"tiktok_provider_priority": "research"}
    async with wired(_research_handler(calls, limit_first=True), **settings) as p:
        first = await p.tiktok.post_comments(post_id="7385291383449439519")
        second = await p.tiktok.post_comments(post_id="7385291383449439519")
    assert first.success and second.success, "a 429 with a short Retry-After is retried"
    assert calls.count(tiktok_research.COMMENT_LIST_PATH) == 3
