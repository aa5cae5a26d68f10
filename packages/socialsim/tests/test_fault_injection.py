"""Every injected fault is observable by a real HTTP client, and counted."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis

RECORDED = (
    Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "youtube-data-api-v3"
)


ROCKET = {"Authorization": "Token sim-key"}


def _classify(send: Callable[[], httpx.Response]) -> str:
    try:
        response = send()
    except httpx.ReadTimeout:
        return "timeout"
    except httpx.RemoteProtocolError:
        return "drop"
    if response.status_code in (500, 502, 503):
        return "5xx"
    if response.status_code == 200:
        try:
            response.json()
        except json.JSONDecodeError:
            return "malformed"
        return "ok"
    return str(response.status_code)


@pytest.mark.parametrize("own_sim", [{"fault_rate": 1.0, "timeout_fault_s": 1.0}], indirect=True)
def test_transport_faults_reach_the_client_as_each_kind(own_sim: Apis) -> None:
    client = httpx.Client(base_url=str(own_sim.client.base_url), timeout=0.5)

    def send() -> httpx.Response:
        body = {"username": "user_0001"}
        return client.post("/instagram/user/get_info", json=body, headers=ROCKET)

    seen: Counter[str] = Counter()
    with client:
        for _ in range(60):
            seen[_classify(send)] += 1
            if len(seen) == 4 and min(seen.values()) >= 2:
                break
    assert set(seen) == {"5xx", "timeout", "drop", "malformed"}, seen
    stats = own_sim.stats()
    assert {k: stats["faults"][k] for k in seen} == dict(seen)
    assert stats["total"] == sum(seen.values())
    by_status = stats["by_endpoint"]["rocket user/get_info"]
    assert by_status["drop"] == seen["drop"] and by_status["504"] == seen["timeout"]
    assert own_sim.client.get("/_sim/truth/instagram").status_code == 200, "/_sim is spared"


@pytest.mark.parametrize("own_sim", [{"rate_limit": 20}], indirect=True)
def test_over_the_rate_limit_answers_429_with_retry_after(own_sim: Apis) -> None:
    def until_limited(send: Callable[[], httpx.Response]) -> list[httpx.Response]:
        answers = [send()]
        while answers[-1].status_code != 429 and len(answers) < 100:
            answers.append(send())
        return answers

    rocket = until_limited(lambda: own_sim.rocket("user/get_info", username="user_0001"))
    assert rocket[-1].status_code == 429 and len(rocket) >= 6, "a burst of 20/4 = 5 passes"
    assert rocket[-1].json() == {"detail": "Too many requests"}
    assert rocket[-1].headers["Retry-After"] == "0", "sub-second waits round down to 0"
    scraper = until_limited(lambda: own_sim.scraper("/profile", username="user_0001"))
    assert scraper[0].status_code == 200, "each API has its own bucket"
    assert scraper[-1].json() == {"message": "Too many requests"}
    youtube = until_limited(lambda: own_sim.youtube("channels", part="id", id="UCx"))
    assert youtube[-1].json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert "Retry-After" in youtube[-1].headers
    time.sleep(0.3)
    assert own_sim.rocket("user/get_info", username="user_0001").status_code == 200
    assert own_sim.stats()["faults"]["rate_limited"] == 3


@pytest.mark.parametrize("own_sim", [{"quota": 3}], indirect=True)
def test_the_quota_runs_out_until_midnight_pacific(own_sim: Apis) -> None:
    def call() -> httpx.Response:
        return own_sim.youtube("channels", part="snippet", forHandle="@channel0001")

    assert [call().status_code for _ in range(3)] == [200, 200, 200]
    exhausted = call()
    assert exhausted.status_code == 403
    assert exhausted.json() == json.loads((RECORDED / "error_quota_exceeded.json").read_text())
    assert own_sim.rocket("user/get_info", username="user_0001").status_code == 200
    own_sim.client.post("/_sim/clock", json={"advance_hours": 7.5})  # 23:30 PST
    assert call().status_code == 403
    own_sim.client.post("/_sim/clock", json={"advance_hours": 0.5})  # 00:00 PST
    assert call().status_code == 200
    assert own_sim.stats()["faults"]["quota"] == 2


@pytest.mark.parametrize("own_sim", [{"truncate_rate": 0.5}], indirect=True)
def test_truncated_follower_lists_end_early_without_a_cursor(own_sim: Apis) -> None:
    truth = own_sim.public_profile(2_000, 20_000)
    user_id = truth["profile"]["ext_id"]
    ended_early = 0
    for _ in range(6):
        users, cursor = 0, None
        while True:
            query = {"id": user_id, "count": 50} | ({"max_id": cursor} if cursor else {})
            page = own_sim.scraper("/followers", **query).json()
            users += len(page["users"])
            cursor = page.get("next_max_id")
            if cursor is None:
                break
        ended_early += users < len(truth["followers"])
    assert ended_early >= 5
    body = own_sim.rocket("user/get_followers", id=user_id).json()["response"]["body"]
    for _ in range(20):
        if not body["has_more"]:
            break
        body = own_sim.rocket("user/get_followers", id=user_id).json()["response"]["body"]
    assert body["has_more"] is False and "next_max_id" not in body and len(body["users"]) == 50
    assert own_sim.stats()["faults"]["truncated"] >= 6


@pytest.mark.parametrize("own_sim", [{"expire_cursors": True, "cursor_ttl_s": 1.5}], indirect=True)
def test_expired_cursors_are_invalid_cursors(own_sim: Apis) -> None:
    truth = own_sim.public_profile(200, 20_000)
    user_id = truth["profile"]["ext_id"]
    rocket = own_sim.rocket("user/get_followers", id=user_id).json()["response"]["body"]
    scraper = own_sim.scraper("/followers", id=user_id).json()
    channel = own_sim.client.get("/_sim/truth/youtube").json()["channels"][0]
    playlist = {"part": "snippet", "playlistId": channel["uploads_playlist_id"], "maxResults": 1}
    youtube = own_sim.youtube("playlistItems", **playlist).json()
    fresh = own_sim.rocket("user/get_followers", id=user_id, max_id=rocket["next_max_id"])
    assert fresh.json()["response"]["status_code"] == 200
    time.sleep(1.6)
    stale = own_sim.rocket("user/get_followers", id=user_id, max_id=rocket["next_max_id"])
    assert stale.json()["response"]["status_code"] == 400
    assert stale.json()["response"]["body"] == {"message": "Invalid cursor", "status": "fail"}
    assert (
        own_sim.scraper("/followers", id=user_id, max_id=scraper["next_max_id"]).status_code == 400
    )
    stale_token = own_sim.youtube("playlistItems", **playlist, pageToken=youtube["nextPageToken"])
    assert stale_token.status_code == 400
    assert stale_token.json()["error"]["errors"][0]["reason"] == "invalidPageToken"
    assert own_sim.stats()["faults"]["expired_cursor"] == 3


@pytest.mark.parametrize("own_sim", [{"latency_ms": 80}], indirect=True)
def test_latency_delays_api_answers_only(own_sim: Apis) -> None:
    started = time.perf_counter()
    for _ in range(10):
        own_sim.rocket("user/get_info", username="user_0001")
    api_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        own_sim.client.get("/_sim/clock")
    assert api_s > 0.4
    assert time.perf_counter() - started < api_s / 2
