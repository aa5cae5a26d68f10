"""/_sim/stats counts requests by endpoint and status, faults, and repeated successes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis


def test_requests_are_counted_by_endpoint_and_status(own_sim: Apis) -> None:
    own_sim.rocket("user/get_info", username="user_0001")
    own_sim.rocket("user/get_info", username="user_0001", key="bad")
    own_sim.scraper("/followers", id="1")
    own_sim.youtube("playlistItems", part="snippet", playlistId="UUnone")
    own_sim.client.get("/_sim/truth/youtube")
    stats = own_sim.stats()
    assert stats["total"] == 4
    assert stats["by_endpoint"] == {
        "rocket user/get_info": {"200": 1, "401": 1},
        "scraper /followers": {"404": 1},
        "youtube playlistItems": {"404": 1},
    }
    assert set(stats["faults"]) == {
        "5xx",
        "timeout",
        "drop",
        "malformed",
        "truncated",
        "expired_cursor",
        "rate_limited",
        "quota",
        "bad_item",
    }
    assert not any(stats["faults"].values())


def test_repeated_ok_counts_successful_repeats_of_identical_requests(own_sim: Apis) -> None:
    truth = own_sim.public_profile(100, 20_000)
    user_id = truth["profile"]["ext_id"]
    own_sim.rocket("user/get_followers", id=user_id, count=50)
    assert own_sim.stats()["repeated_ok"] == 0
    own_sim.rocket("user/get_followers", id=user_id, count=50)
    own_sim.rocket("user/get_followers", count=50, id=user_id)
    assert own_sim.stats()["repeated_ok"] == 2, "same body, any key order"
    own_sim.scraper("/followers", id=user_id, count=50)
    own_sim.rocket("user/get_followers", id=user_id, count=49)
    own_sim.youtube("channels", part="snippet", forHandle="@channel0001")
    own_sim.youtube("channels", part="snippet", forHandle="@channel0001", key="other")
    assert own_sim.stats()["repeated_ok"] == 2, "another API, body, or a refused key differ"
    own_sim.youtube("channels", part="snippet", forHandle="@channel0001")
    assert own_sim.stats()["repeated_ok"] == 3, "the key is not part of the request"
    reset = own_sim.client.post("/_sim/stats/reset").json()
    assert reset["total"] == 0 and reset["repeated_ok"] == 0 and reset["by_endpoint"] == {}
    own_sim.rocket("user/get_followers", id=user_id, count=50)
    assert own_sim.stats()["repeated_ok"] == 0, "the reset forgets answered requests"


@pytest.mark.parametrize("own_sim", [{"fault_rate": 0.5, "timeout_fault_s": 0.05}], indirect=True)
def test_fault_injected_answers_never_count_as_answered(own_sim: Apis) -> None:
    client = httpx.Client(base_url=str(own_sim.client.base_url), timeout=2)
    outcomes = []
    with client:
        for _ in range(30):
            try:
                response = client.post(
                    "/instagram/user/get_info",
                    json={"username": "user_0001"},
                    headers={"Authorization": "Token sim-key"},
                )
                good = response.status_code == 200 and response.json()["status"] == "done"
            except (httpx.HTTPError, ValueError):
                good = False
            outcomes.append(good)
    stats = own_sim.stats()
    assert 0 < sum(outcomes) < 30
    assert stats["repeated_ok"] == sum(outcomes) - 1
