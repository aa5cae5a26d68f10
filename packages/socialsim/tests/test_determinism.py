"""Same seed and same requests: the same answers, byte for byte, faults included."""

from __future__ import annotations

from typing import Any

import httpx

from socialsim.testing import serve

OPTIONS: dict[str, Any] = {
    "profiles": 30,
    "channels": 3,
    "fault_rate": 0.3,
    "timeout_fault_s": 0.05,
    "bad_item_rate": 0.2,
}


def _script(url: str) -> list[tuple[str, bytes]]:
    """A fixed sequence of requests: what each returned (status and body, or the failure),
    the server's own address in media URLs replaced by ``SIM`` (each server has its port)."""
    out: list[tuple[str, bytes]] = []
    with httpx.Client(base_url=url, timeout=5) as client:

        def record(method: str, path: str, **kwargs: Any) -> None:
            try:
                response = client.request(method, path, **kwargs)
            except httpx.RemoteProtocolError:
                out.append(("drop", b""))
                return
            out.append((str(response.status_code), response.content.replace(url.encode(), b"SIM")))

        profiles = client.get("/_sim/truth/instagram").json()["profiles"]
        channels = client.get("/_sim/truth/youtube").json()["channels"]
        for step in range(2):
            for profile in profiles[:6]:
                user_id = profile.get("ext_id", "0")
                rocket = {"Authorization": "Token sim-key"}
                record(
                    "POST", "/instagram/user/get_followers", json={"id": user_id}, headers=rocket
                )
                scraper = {"x-rapidapi-key": "sim-key"}
                record("GET", "/user-feeds", params={"id": user_id}, headers=scraper)
            for channel in channels:
                query = {
                    "key": "sim-key",
                    "part": "snippet",
                    "playlistId": channel["uploads_playlist_id"],
                }
                record("GET", "/youtube/v3/playlistItems", params=query)
            client.post("/_sim/clock", json={"advance_hours": 12 + step})
        username = profiles[0]["username"]
        out.append(("truth", client.get(f"/_sim/truth/instagram/{username}").content))
    return out


def test_same_seed_same_answers_other_seed_other_answers() -> None:
    with serve(seed=21, **OPTIONS) as first, serve(seed=21, **OPTIONS) as second:
        one, two = _script(first.url), _script(second.url)
    assert one == two
    assert {status for status, _ in one} >= {"200", "drop"}
    with serve(seed=22, **OPTIONS) as other:
        assert _script(other.url) != one
