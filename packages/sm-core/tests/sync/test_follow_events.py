"""``GET /api/v1/bloggers/{id}/follow-events`` after two follower passes 72 simulated hours
apart: the unfollows and new follows the truth shows, each with its account, between the two
syncs' times, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from smcore.api.app import create_app
from smcore.settings import Settings
from socialsim.testing import serve


async def _events(s: Any, profile_id: int, **params: Any) -> list[dict[str, Any]]:
    app = create_app(Settings(), database_url=s.database_url, temporal_address=None)
    found: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            cursor = None
            while True:
                query = params | ({"cursor": cursor} if cursor else {})
                answer = await client.get(
                    f"/api/v1/bloggers/{profile_id}/follow-events", params=query
                )
                assert answer.status_code == 200, answer.text
                found += answer.json()["items"]
                cursor = answer.json()["next_cursor"]
                if cursor is None:
                    return found


async def test_follow_events_are_the_changes_between_two_passes(syncer: Any) -> None:
    with serve(seed=6, profiles=1, channels=0, tiktok_accounts=4) as sim:
        s = syncer(sim)
        creator = next(
            a["username"]
            for a in s.truth("tiktok")["accounts"]
            if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
        )
        before = set(s.truth(f"tiktok/{creator}")["followers"])
        async with s.worker():
            first = await s.sync(platform="tiktok", scope="subscriptions", username=creator)
            assert first.status == "succeeded", first.summary
            s.advance(72)
            after = set(s.truth(f"tiktok/{creator}")["followers"])
            second = await s.sync(platform="tiktok", scope="subscriptions", username=creator)
            assert second.status == "succeeded", second.summary
        assert before - after and after - before, "the simulated days had follows and unfollows"
        profile_id = s.scalar(
            "SELECT id FROM social_profiles WHERE platform = 'tiktok' AND username = %s", creator
        )

        # The second sync recorded the changes (its JobCall, on SM Core's clock).
        started = s.scalar(
            "SELECT min(created_at) FROM job_calls WHERE id = %s OR parent_job_call_id = %s",
            second.job_call_id,
            second.job_call_id,
        )
        gone = await _events(s, profile_id, kind="unfollow", limit=3)
        assert {e["account_ext_id"] for e in gone} == before - after
        assert all(datetime.fromisoformat(e["observed_at"]) >= started for e in gone)
        assert all(e["not_before"] is not None for e in gone), "seen followed by the first pass"
        new = await _events(s, profile_id, kind="follow", **{"from": started.isoformat()})
        assert {e["account_ext_id"] for e in new} == after - before
        every = await _events(s, profile_id, limit=7)
        times = [(e["observed_at"], e["id"]) for e in every]
        assert times == sorted(times, reverse=True), "newest first"
        assert (
            len({e["id"] for e in every})
            == len(every)
            == s.scalar(
                "SELECT count(*) FROM follow_events WHERE social_profile_id = %s "
                "AND direction = 'follower'",
                profile_id,
            )
        )
