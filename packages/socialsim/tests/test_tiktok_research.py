"""TikTok's Research API: tokens, the recorded shapes, bare integer ids, listings that add up to
the truth, pages shorter than asked, NUL in usernames, quotas per UTC day, expiring search ids."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialsim.testing import serve
from socialsim.world.clock import SIM_START

RECORDED = (
    Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "tiktok-research-api"
)
WORLD = {"profiles": 5, "channels": 1, "tiktok_accounts": 30}
VIDEO_FIELDS = "id,create_time,username,region_code,video_description,like_count,comment_count"
VIDEO_FIELDS += ",share_count,view_count,hashtag_names,music_id,effect_ids"
COMMENT_FIELDS = "id,video_id,text,like_count,reply_count,parent_comment_id,create_time"


def recorded(name: str) -> dict[str, Any]:
    """A recorded response, as it is."""
    body: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return body


def type_names(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The value types each key has across items (a list by its elements' types)."""
    out: dict[str, set[str]] = {}
    for item in items:
        for key, value in item.items():
            name = type(value).__name__
            if isinstance(value, list):
                name += "[" + ",".join(sorted({type(v).__name__ for v in value})) + "]"
            out.setdefault(key, set()).add(name)
    return out


class Research:
    """A Research API client (its token fetched with client credentials) and the truth."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.token = self.new_token()

    def new_token(self) -> str:
        response = self.client.post(
            "/v2/oauth/token/",
            data={
                "client_key": "k",
                "client_secret": "sim-key",
                "grant_type": "client_credentials",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["expires_in"] == 7200 and body["token_type"] == "Bearer"
        token: str = body["access_token"]
        return token

    def post(self, endpoint: str, fields: str | None, body: dict[str, Any]) -> httpx.Response:
        query = f"?fields={fields}" if fields else ""
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.post(f"/v2/research/{endpoint}/{query}", json=body, headers=headers)

    def data(self, endpoint: str, fields: str | None, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(endpoint, fields, body)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["error"]["code"] == "ok" and set(payload["error"]) == {
            "code",
            "message",
            "log_id",
        }
        data: dict[str, Any] = payload["data"]
        return data

    def refusal(self, endpoint: str, fields: str | None, body: dict[str, Any]) -> tuple[int, str]:
        response = self.post(endpoint, fields, body)
        error = response.json()["error"]
        assert set(error) == {"code", "message", "log_id"}
        return response.status_code, f"{error['code']}: {error['message']}"

    def truth(self, path: str = "") -> dict[str, Any]:
        response = self.client.get(f"/_sim/truth/tiktok{path}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def public(self) -> list[dict[str, Any]]:
        return [
            a
            for a in self.truth()["accounts"]
            if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
        ]

    def advance(self, hours: float) -> None:
        assert self.client.post("/_sim/clock", json={"advance_hours": hours}).status_code == 200


def video_query(username: str, start: dt.date, **extra: Any) -> dict[str, Any]:
    """A query for one user's videos from ``start`` over 30 days."""
    return {
        "query": {
            "and": [{"operation": "EQ", "field_name": "username", "field_values": [username]}]
        },
        "start_date": start.strftime("%Y%m%d"),
        "end_date": (start + dt.timedelta(days=30)).strftime("%Y%m%d"),
        **extra,
    }


@contextmanager
def research_sim(**options: Any) -> Iterator[Research]:
    with (
        serve(seed=13, **WORLD, **options) as sim,
        httpx.Client(base_url=sim.url, timeout=30) as client,
    ):
        yield Research(client)


@pytest.fixture(scope="module")
def api() -> Iterator[Research]:
    """A fault-free simulator whose clock the tests never move."""
    with research_sim() as research:
        yield research


TODAY = dt.datetime.fromtimestamp(SIM_START, dt.UTC).date()


def test_tokens_come_from_client_credentials_and_guard_every_call(api: Research) -> None:
    bad = api.client.post(
        "/v2/oauth/token/",
        data={"client_key": "k", "client_secret": "wrong", "grant_type": "client_credentials"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    for header in ({}, {"Authorization": "Bearer clt.forged"}):
        response = api.client.post(
            "/v2/research/user/info/?fields=display_name",
            json={"username": "tt_user_0001"},
            headers=header,
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "access_token_invalid"


def test_user_info_holds_the_fields_asked_for(api: Research) -> None:
    entry = api.public()[0]
    truth = api.truth(f"/{entry['username']}")["profile"]
    data = api.data(
        "user/info",
        "display_name,follower_count,following_count,likes_count,video_count,is_verified",
        {"username": entry["username"]},
    )
    assert data == {
        "display_name": truth["nickname"],
        "follower_count": truth["follower_count"],
        "following_count": truth["following_count"],
        "likes_count": truth["heart_count"],
        "video_count": truth["video_count"],
        "is_verified": truth["is_verified"],
    }
    assert (
        api.refusal("user/info", "display_name,user_id", {"username": entry["username"]})[0] == 400
    )
    status, error = api.refusal("user/info", "display_name", {"username": "tt_missing_1"})
    assert status == 400 and error.startswith("invalid_params")


def test_video_query_has_the_recorded_shape_and_walks_windows_to_the_truth(
    api: Research,
) -> None:
    page_1 = recorded("api_videos_response_page_1_of_2.json")
    recorded_types = type_names(page_1["data"]["videos"])
    entry = max(
        (a for a in api.public() if len(api.truth(f"/{a['username']}")["videos"]) < 120),
        key=lambda a: len(api.truth(f"/{a['username']}")["videos"]),
    )
    videos = api.truth(f"/{entry['username']}")["videos"]
    oldest = dt.datetime.fromtimestamp(videos[-1]["create_time"], dt.UTC).date()
    listed: list[dict[str, Any]] = []
    short_pages = 0
    end = TODAY
    while end >= oldest:
        start = end - dt.timedelta(days=30)
        cursor, search_id = 0, None
        while True:
            extra = {"max_count": 3, "cursor": cursor} | (
                {"search_id": search_id} if search_id else {}
            )
            response = api.post(
                "video/query", VIDEO_FIELDS, video_query(entry["username"], start, **extra)
            )
            assert response.status_code == 200, response.text
            body = json.loads(response.text)
            assert set(body) == set(page_1) and set(body["data"]) == set(page_1["data"])
            data = body["data"]
            assert data["search_id"].isdigit()
            listed += data["videos"]
            short_pages += data["has_more"] and len(data["videos"]) < 3
            if not data["has_more"]:
                break
            assert data["cursor"] == cursor + 3, "the cursor moves by max_count, as recorded"
            cursor, search_id = data["cursor"], data["search_id"]
        end = start - dt.timedelta(days=1)
    assert [str(v["id"]) for v in listed] == [v["ext_id"] for v in videos]
    assert short_pages, "a page held fewer than max_count with has_more true"
    ours = type_names(listed)
    assert set(ours) <= set(recorded_types)
    for key, kinds in ours.items():
        assert kinds <= recorded_types[key] | {"list[]"}, (key, kinds, recorded_types[key])
    assert all(isinstance(v["id"], int) and v["id"] > 2**53 for v in listed)
    by_id = {v["ext_id"]: v for v in videos}
    for video in listed:
        truth = by_id[str(video["id"])]
        assert (video["create_time"], video["view_count"], video["video_description"]) == (
            truth["create_time"],
            truth["play_count"],
            truth["desc"],
        )
        assert video.get("like_count", truth["like_count"]) == truth["like_count"]
        assert video["username"].replace("\u0000", "") == entry["username"]


def test_some_usernames_hold_nul_characters_as_recorded(api: Research) -> None:
    trap = recorded("api_videos_response_unicode_with_null_bytes.json")
    assert "\u0000" in trap["data"]["videos"][0]["username"]
    served = set()
    for entry in api.public():
        newest = api.truth(f"/{entry['username']}")["videos"][0]
        day = dt.datetime.fromtimestamp(newest["create_time"], dt.UTC).date()
        query = video_query(entry["username"], day, max_count=100)
        data = api.data("video/query", "id,username", query)
        assert data["videos"] and str(data["videos"][0]["id"]) == newest["ext_id"]
        served.add(data["videos"][0]["username"])
    with_nul = {name for name in served if "\u0000" in name}
    assert with_nul and len(with_nul) < len(served)
    assert {name.replace("\u0000", "") for name in served} == {a["username"] for a in api.public()}


def test_comment_list_has_the_recorded_shape_and_lists_comments_then_their_replies(
    api: Research,
) -> None:
    page = recorded("api_comments_response.json")
    recorded_types = type_names(page["data"]["comments"])
    username, video = max(
        (
            (a["username"], v)
            for a in api.public()[:8]
            for v in api.truth(f"/{a['username']}")["videos"]
        ),
        key=lambda uv: uv[1]["comment_count"],
    )
    comments = api.truth(f"/{username}/videos/{video['ext_id']}")["comments"]
    expected = []
    for comment in comments:
        expected.append((comment["ext_id"], video["ext_id"]))
        expected += [(reply["ext_id"], comment["ext_id"]) for reply in comment["replies"]]
    assert len(expected) == video["comment_count"] > 100
    listed: list[dict[str, Any]] = []
    cursor = 0
    while True:
        response = api.post(
            "video/comment/list",
            COMMENT_FIELDS,
            {"video_id": int(video["ext_id"]), "max_count": 100, "cursor": cursor},
        )
        body = json.loads(response.text)
        assert set(body) == set(page) and set(body["data"]) == set(page["data"])
        assert f'"video_id":{video["ext_id"]}' in response.text, "a bare integer id"
        listed += body["data"]["comments"]
        if not body["data"]["has_more"]:
            break
        assert body["data"]["cursor"] == cursor + 100
        cursor = body["data"]["cursor"]
    assert [(str(c["id"]), str(c["parent_comment_id"])) for c in listed] == expected
    ours = type_names(listed)
    assert set(ours) == set(recorded_types) | {"reply_count"}
    for key, kinds in recorded_types.items():
        assert ours[key] == kinds, key
    replies = {c["ext_id"]: c["reply_count"] for c in comments}
    assert [c["reply_count"] for c in listed if str(c["id"]) in replies] == list(replies.values())


def test_follower_listings_name_users_and_stop_at_the_cap(api: Research) -> None:
    giant = api.truth("/tt_giant")
    users: list[dict[str, Any]] = []
    cursor = 0
    while True:
        data = api.data(
            "user/followers", None, {"username": "tt_giant", "max_count": 100, "cursor": cursor}
        )
        users += data["user_followers"]
        if not data["has_more"]:
            break
        cursor = data["cursor"]
    assert len(users) == giant["list_cap"] < giant["profile"]["follower_count"]
    assert set(users[0]) == {"display_name", "username"}
    assert len({u["username"] for u in users}) == len(users)
    entry = api.public()[1]
    following = api.data("user/following", None, {"username": entry["username"], "max_count": 100})
    tikapi23 = api.client.get(
        "/api/user/followings",
        params={"secUid": entry["sec_uid"], "count": 50},
        headers={"x-rapidapi-key": "sim-key"},
    ).json()
    assert [u["username"] for u in following["user_following"][:50]] == [
        u["user"]["uniqueId"] for u in tikapi23["userList"]
    ]


def test_quotas_run_out_until_utc_midnight_and_tokens_expire_with_the_clock() -> None:
    with research_sim(research_daily_requests=3, research_follow_daily_requests=2) as api:
        body = {"username": "tt_user_0001"}
        assert [api.post("user/info", "display_name", body).status_code for _ in range(3)] == [
            200,
            200,
            200,
        ]
        status, error = api.refusal("user/info", "display_name", body)
        assert (status, error.split(":")[0]) == (429, "rate_limit_exceeded")
        follow = [api.post("user/followers", None, body).status_code for _ in range(3)]
        assert follow == [200, 200, 429], "followers have a budget of their own"
        api.advance(23.5)
        assert api.post("user/info", "display_name", body).status_code == 401, "token expired"
        api.token = api.new_token()
        assert api.post("user/info", "display_name", body).status_code == 429, "same UTC day"
        api.advance(0.5)
        assert api.post("user/info", "display_name", body).status_code == 200, "a new UTC day"
        stats = api.client.get("/_sim/stats").json()
        assert stats["faults"]["quota"] == 3


def test_records_count_towards_the_quota() -> None:
    with research_sim(research_daily_records=5) as api:
        entry = api.public()[0]
        for _ in range(10):
            response = api.post(
                "user/following", None, {"username": entry["username"], "max_count": 2}
            )
            assert response.status_code == 200, "followers and following have their own records"
        video = next(
            v
            for a in api.public()
            for v in api.truth(f"/{a['username']}")["videos"]
            if v["comment_count"] >= 5
        )
        body = {"video_id": int(video["ext_id"]), "max_count": 5}
        assert len(api.data("video/comment/list", "id", body)["comments"]) == 5
        status, error = api.refusal("video/comment/list", "id", body)
        assert status == 429 and error.startswith("rate_limit_exceeded")


def test_a_search_id_expires_when_the_clock_moves() -> None:
    with research_sim() as api:
        entry = max(api.public(), key=lambda a: len(api.truth(f"/{a['username']}")["videos"]))
        videos = api.truth(f"/{entry['username']}")["videos"]
        start = dt.datetime.fromtimestamp(videos[0]["create_time"], dt.UTC).date() - dt.timedelta(
            days=30
        )
        first = api.data("video/query", "id", video_query(entry["username"], start, max_count=1))
        assert first["has_more"]
        again = api.data("video/query", "id", video_query(entry["username"], start, max_count=1))
        assert again == first, "the same search while the clock stands still"
        follow_up = video_query(
            entry["username"],
            start,
            max_count=1,
            cursor=first["cursor"],
            search_id=first["search_id"],
        )
        assert api.post("video/query", "id", follow_up).status_code == 200
        api.advance(1)
        status, error = api.refusal("video/query", "id", follow_up)
        assert (status, error) == (400, "invalid_params: search_id invalid or expired")
        restarted = api.data(
            "video/query", "id", video_query(entry["username"], start, max_count=1)
        )
        assert restarted["search_id"] != first["search_id"]
        assert api.client.get("/_sim/stats").json()["faults"]["expired_cursor"] == 1


def test_a_window_longer_than_30_days_is_refused(api: Research) -> None:
    body = video_query("tt_user_0001", TODAY - dt.timedelta(days=40))
    body["end_date"] = TODAY.strftime("%Y%m%d")
    status, error = api.refusal("video/query", "id", body)
    assert status == 400 and error.startswith("invalid_params")
    status, _ = api.refusal("video/query", "id", video_query("tt_user_0001", TODAY, max_count=101))
    assert status == 400
