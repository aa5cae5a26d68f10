"""Shared simulators and a small client for the three APIs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from socialsim.testing import RunningSim, serve

SEED = 8
WORLD = {"seed": SEED, "profiles": 80, "channels": 6, "giant_followers": 100_000, "giant_posts": 30}


class Apis:
    """Calls the simulated APIs the way their clients do."""

    def __init__(self, client: httpx.Client, key: str = "sim-key") -> None:
        self.client = client
        self.key = key

    def rocket(self, method: str, key: str | None = None, **body: Any) -> httpx.Response:
        """``POST /instagram/<method>`` with a token."""
        headers = {"Authorization": f"Token {key or self.key}"}
        return self.client.post(f"/instagram/{method}", json=body, headers=headers)

    def rocket_body(self, method: str, **body: Any) -> tuple[int, dict[str, Any]]:
        """Instagram's status and body from inside RocketAPI's envelope."""
        response = self.rocket(method, **body)
        assert response.status_code == 200, response.text
        envelope = response.json()
        assert envelope["status"] == "done"
        assert envelope["response"]["content_type"] == "application/json"
        return envelope["response"]["status_code"], envelope["response"]["body"]

    def scraper(self, path: str, key: str | None = None, **params: Any) -> httpx.Response:
        """``GET /<path>`` with RapidAPI headers."""
        headers = {"x-rapidapi-key": key or self.key, "x-rapidapi-host": "scraper.example"}
        return self.client.get(path, params=params, headers=headers)

    def youtube(self, resource: str, key: str | None = None, **params: Any) -> httpx.Response:
        """``GET /youtube/v3/<resource>?key=…``."""
        return self.client.get(f"/youtube/v3/{resource}", params={"key": key or self.key, **params})

    def truth(self, username: str) -> dict[str, Any]:
        """``/_sim/truth/instagram/<username>``."""
        response = self.client.get(f"/_sim/truth/instagram/{username}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    @staticmethod
    def feed_order(truth: dict[str, Any]) -> list[str]:
        """A profile truth's post ids in feed order: the pinned ones first, then the rest."""
        posts = truth["posts"]
        return [p["ext_id"] for p in posts if p["pinned"]] + [
            p["ext_id"] for p in posts if not p["pinned"]
        ]

    def profiles(self) -> list[dict[str, Any]]:
        """Every existing profile of the truth index."""
        index = self.client.get("/_sim/truth/instagram").json()["profiles"]
        return [p for p in index if p["exists"]]

    def public_profile(self, low: int, high: int) -> dict[str, Any]:
        """The truth of a public profile with between ``low`` and ``high`` followers."""
        for entry in self.profiles():
            if entry["is_private"] or entry["username"] == "giant":
                continue
            truth = self.truth(entry["username"])
            if low <= truth["profile"]["followers_count"] <= high:
                return truth
        raise AssertionError(f"no public profile with {low}-{high} followers")

    def busy_post(self, comments: int) -> dict[str, Any]:
        """The truth of a public profile's post with more than ``comments`` comments."""
        for entry in self.profiles():
            if not entry["is_private"]:
                for post in self.truth(entry["username"])["posts"]:
                    if post["comment_count"] > comments:
                        return post
        raise AssertionError(f"no post with more than {comments} comments")

    def private_profile(self) -> dict[str, Any]:
        """The truth of a private profile."""
        entry = next(p for p in self.profiles() if p["is_private"])
        return self.truth(entry["username"])

    def stats(self) -> dict[str, Any]:
        """``/_sim/stats``."""
        result: dict[str, Any] = self.client.get("/_sim/stats").json()
        return result


@pytest.fixture(scope="session")
def sim() -> Iterator[RunningSim]:
    """A fault-free simulator whose clock the tests never move."""
    with serve(**WORLD) as running:
        yield running


@pytest.fixture(scope="session")
def apis(sim: RunningSim) -> Iterator[Apis]:
    """A client of the shared simulator."""
    with httpx.Client(base_url=sim.url, timeout=30) as client:
        yield Apis(client)


@pytest.fixture
def own_sim(request: pytest.FixtureRequest) -> Iterator[Apis]:
    """A simulator of the test's own, options from ``@pytest.mark.parametrize('own_sim',
    [{...}], indirect=True)``; the client's timeout is 10 s."""
    options = {**WORLD, "giant_followers": 0, "giant_posts": 0, **getattr(request, "param", {})}
    with serve(**options) as running, httpx.Client(base_url=running.url, timeout=10) as client:
        yield Apis(client, key=str(options.get("api_key", "sim-key")))
