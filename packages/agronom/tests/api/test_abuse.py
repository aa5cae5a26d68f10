"""Abuse limits on POST /v1/ai/diagnose, against the API served by uvicorn on loopback (real
HTTP, real PostgreSQL, the real vision server): photos a minute per user (429 LIMIT_EXCEEDED +
Retry-After, distinct from the monthly quota), the same photo answered from storage, a daily
cap on refused photos, and every refusal counted."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agronom import auth
from agronom.api.app import create_app
from agronom.settings import Settings
from agronom.store import objects as storage
from agrosim import photos
from agrosim.server import ThreadedServer, free_port
from agrosim.vision import Faults
from devstack import processes

from ..conftest import BOT_SECRET, MovableClock  # noqa: TID252

PER_MINUTE = 10
SMALL_LEAF = photos.leaf(size=(160, 120))
# The flood comes from another process (as it would from another machine), and the API runs
# in one of its own (``served_apart``), so neither takes CPU from the other users' client.
FLOOD_CONNECTIONS = 2
FLOOD_SECONDS = 50  # 1,000 photos evenly over this: "1,000 photos in a minute"
OTHER_SAMPLES = 20  # other users' diagnoses timed while idle (half before, half after the
# flood), and as many during it
OTHER_EVERY_S = 1.0  # during the flood (20 of its 50 s)
FLOOD = """
import asyncio, base64, json, sys, time
import httpx
from agronom import auth

url, tg_id, count, connections, secret, seconds = sys.argv[1:7]
image = base64.b64decode(sys.stdin.read())

async def main():
    gate = asyncio.Semaphore(int(connections))
    every = float(seconds) / int(count)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def one(n):
            await asyncio.sleep(n * every)  # evenly over the seconds given
            async with gate:
                started = time.perf_counter()
                r = await client.post(
                    "/v1/ai/diagnose",
                    auth=auth.BotAuth(int(tg_id), secret=secret),
                    files={"image": ("leaf.jpg", image, "image/jpeg")},
                )
                seconds = time.perf_counter() - started
                return [r.status_code, seconds, r.headers.get("retry-after"), r.json()]
        started = time.perf_counter()
        answers = await asyncio.gather(*(one(n) for n in range(int(count))))
        print(json.dumps({"elapsed": time.perf_counter() - started, "answers": answers}))

asyncio.run(main())
"""


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "photos_per_minute": PER_MINUTE,
            "refused_photos_per_day": 3,
            "free_photos_per_month": 1000,
        }
    )


@pytest.fixture
def served(
    limited: Settings, database_url: str, store: storage.ObjectStore, clock: MovableClock
) -> Iterator[str]:
    """The API as production runs it: uvicorn on a loopback port (its own thread and loop)."""
    app = create_app(limited, database_url=database_url, store=store, clock=clock)
    with ThreadedServer(app) as server:
        yield server.url


# The API in a process of its own, as production runs it: this process (the other user's
# client, the vision server) does not share an interpreter lock with it, so what the other
# user measures is the API's fairness, not the GIL's.
SERVE = """
import base64, pickle, sys
import uvicorn
from agronom.api.app import create_app
from agronom.store import objects

settings, database_url, port = pickle.loads(base64.b64decode(sys.stdin.read()))
store = objects.local(settings.storage_dir)
app = create_app(settings, database_url=database_url, store=store)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@pytest.fixture
def served_apart(limited: Settings, database_url: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVE], stdin=subprocess.PIPE, text=True)
    assert server.stdin is not None
    server.stdin.write(base64.b64encode(pickle.dumps((limited, database_url, port))).decode())
    server.stdin.close()

    def up() -> bool:
        assert server.poll() is None, "the API process exited"
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code < 500
        except httpx.TransportError:
            return False

    try:
        assert processes.wait_until(up, timeout=30, interval=0.1), "the API did not start"
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _as(tg_id: int) -> auth.BotAuth:
    return auth.BotAuth(tg_id, secret=BOT_SECRET)


def _photo(image: bytes = SMALL_LEAF, **fields: str) -> dict[str, Any]:
    return {"files": {"image": ("leaf.jpg", image, "image/jpeg")}, "data": fields}


async def _timed(
    client: httpx.AsyncClient, tg_id: int, **kwargs: Any
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post("/v1/ai/diagnose", auth=_as(tg_id), **(kwargs or _photo()))
    return response, time.perf_counter() - started


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_a_thousand_photos_in_a_minute_reach_the_model_at_most_the_limit(
    served_apart: str, vision, sql
) -> None:
    """1,000 photos from one user within a minute (evenly, over two connections, from another
    process): at most PHOTOS_PER_MINUTE a minute reach the model, the rest are refused fast,
    and other users' diagnoses meanwhile take as long as when the API is idle."""
    flooder, warm = 7001, 7003
    others = iter(range(8000, 9000))  # one photo each: no other user meets their own limit
    async with httpx.AsyncClient(base_url=served_apart, timeout=30) as client:
        for _ in range(2):  # connections, the first decode, the first model call
            assert (await _timed(client, warm))[0].status_code == 200
        idle: list[float] = []

        async def idle_users() -> None:  # half before the flood, half after: CI's load moves
            for _ in range(OTHER_SAMPLES // 2):
                await asyncio.sleep(0.25)
                idle.append((await _timed(client, next(others)))[1])

        await idle_users()
        before = vision.requests
        flooding = asyncio.Event()

        async def other_users() -> list[float]:
            taken: list[float] = []
            while not flooding.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)  # the flood's first tokens spent: it is refused from here
            while len(taken) < OTHER_SAMPLES:
                await asyncio.sleep(OTHER_EVERY_S)
                response, seconds = await _timed(client, next(others))
                assert response.status_code == 200, response.text
                taken.append(seconds)
            return taken

        async def flood() -> tuple[bytes, bytes]:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                FLOOD,
                served_apart,
                str(flooder),
                "1000",
                str(FLOOD_CONNECTIONS),
                BOT_SECRET,
                str(FLOOD_SECONDS),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            flooding.set()
            out = await process.communicate(base64.b64encode(SMALL_LEAF))
            assert process.returncode == 0
            return out

        out, during = await asyncio.gather(flood(), other_users())
        reached = vision.requests - before
        await idle_users()
    result = json.loads(out[0])
    elapsed, answers = result["elapsed"], result["answers"]
    assert len(answers) == 1000
    assert elapsed < 60, "the flood is 1,000 photos within a minute"
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    # A bucket of PER_MINUTE that refills one photo every 60/PER_MINUTE s (real time here).
    refills = int(elapsed * PER_MINUTE / 60) + 1
    assert PER_MINUTE <= len(ok) <= PER_MINUTE + refills, len(ok)
    assert len(refused) == 1000 - len(ok)
    assert reached == len(ok) + len(during), "only the admitted reach it"
    _, _, retry_after, body = refused[0]
    assert (body["error_code"], body["reason"]) == ("LIMIT_EXCEEDED", "rate")
    assert f"at most {PER_MINUTE} a minute" in body["message"]
    assert "not the monthly quota" in body["message"]
    assert 1 <= int(retry_after) <= 60
    latencies = [a[1] for a in refused]
    p50, p99 = statistics.median(latencies), _p(latencies, 0.99)
    idle_p50, during_p50 = statistics.median(idle), statistics.median(during)
    print(  # noqa: T201 - the measurement is the point of this test
        f"\nflood: {len(answers)} photos over {FLOOD_CONNECTIONS} connections in {elapsed:.1f} s, "
        f"{len(ok)} admitted; refusals p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; other "
        f"users' diagnoses ({OTHER_SAMPLES} each): idle p50 {idle_p50 * 1000:.0f} ms, p90 "
        f"{_p(idle, 0.9) * 1000:.0f} ms; during the flood p50 {during_p50 * 1000:.0f} ms, p90 "
        f"{_p(during, 0.9) * 1000:.0f} ms"
    )
    # Bounds with room for CI's other tests beside this one; measured alone on 2 cores: see
    # docs/agronom.md (abuse limits).
    assert p99 < 0.25, f"refusals are quick: p99 {p99 * 1000:.0f} ms"
    assert during_p50 < 1.5 * idle_p50 + 0.03, "other users are not slowed down"
    assert sql.one("SELECT count(*) FROM events WHERE event = 'refused_rate'") == len(refused)
    assert sql.one(
        "SELECT used FROM photo_usage JOIN users u ON u.id = user_id WHERE u.tg_id = %s",
        flooder,
    ) == len(ok)


async def test_the_rate_limit_refills_with_time_and_is_per_user(served: str, clock, vision) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        codes = [(await _timed(client, 7101))[0].status_code for _ in range(PER_MINUTE + 1)]
        assert codes == [200] * PER_MINUTE + [429]
        refused = (await _timed(client, 7101))[0]
        assert refused.headers["Retry-After"] == str(60 // PER_MINUTE)
        assert (await _timed(client, 7102))[0].status_code == 200, "another user is not limited"
        clock.advance(seconds=60 // PER_MINUTE)
        assert (await _timed(client, 7101))[0].status_code == 200, "one more after 60/N s"
        assert (await _timed(client, 7101))[0].status_code == 429


async def test_a_user_refused_for_speed_is_refused_again_without_reading_the_bucket(
    served: str, clock, vision, sql
) -> None:
    """Until their next token, this process refuses them from memory (a flood costs the
    database one event row a photo): emptying the bucket behind its back changes nothing until
    then, and every refusal is still counted."""
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        for _ in range(PER_MINUTE):
            assert (await _timed(client, 7201))[0].status_code == 200
        assert (await _timed(client, 7201))[0].status_code == 429
        sql("DELETE FROM rate_limits RETURNING 1")  # the bucket is not asked until then
        clock.advance(seconds=60 // PER_MINUTE - 1)
        again = (await _timed(client, 7201))[0]
        assert again.status_code == 429 and again.headers["Retry-After"] == "1"
        clock.advance(seconds=1)
        assert (await _timed(client, 7201))[0].status_code == 200, "the next token is there"
    assert sql.one("SELECT count(*) FROM events WHERE event = 'refused_rate'") == 2


async def test_a_refused_user_deleted_meanwhile_starts_afresh(served: str, vision, sql) -> None:
    """What this process remembers of a refused user does not outlive the user (DSR)."""
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        for _ in range(PER_MINUTE):
            assert (await _timed(client, 7301))[0].status_code == 200
        assert (await _timed(client, 7301))[0].status_code == 429
        deleted = await client.post("/v1/dsr/delete_user", auth=_as(7301), json={})
        assert deleted.status_code == 200, deleted.text
        again = (await _timed(client, 7301))[0]
        assert again.status_code == 200, again.text
    assert sql.one("SELECT count(*) FROM users WHERE tg_id = 7301") == 1


async def test_the_same_photo_again_is_answered_from_storage(served: str, vision, sql) -> None:
    """Same user, same file_unique_id: the stored diagnosis and protocol, no model call, not
    counted again; another user's identical file is diagnosed on its own."""
    sick = photos.leaf(spots="brown", size=(160, 120))
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        first, _ = await _timed(client, 7201, **_photo(sick, file_unique_id="AQADuniq"))
        calls = vision.requests
        again, _ = await _timed(client, 7201, **_photo(sick, file_unique_id="AQADuniq"))
        assert vision.requests == calls, "the model is not asked again"
        theirs, _ = await _timed(client, 7202, **_photo(sick, file_unique_id="AQADuniq"))
    assert first.status_code == again.status_code == theirs.status_code == 200
    a, b = first.json(), again.json()
    assert (a["repeated"], b["repeated"]) == (False, True)
    assert b["photo_id"] == a["photo_id"] and b["protocol"] == a["protocol"]
    assert (b["crop"], b["disease"], b["confidence"]) == (a["crop"], a["disease"], a["confidence"])
    assert b["usage"] == a["usage"] == {"used": 1, "allowed": 1000}
    assert theirs.json()["photo_id"] != a["photo_id"]
    assert sql.one("SELECT count(*) FROM photos") == 2


async def test_the_same_photo_twice_at_once_asks_the_model_once(served: str, vision, sql) -> None:
    """A double tap: the second request waits for the first's answer, the model is asked
    once and the photo counted once."""
    sick = photos.leaf(spots="brown", size=(160, 120))
    vision.faults = Faults(slow_next=1, slow_s=0.25)  # the first is still being diagnosed
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        calls = vision.requests
        (a, _), (b, _) = await asyncio.gather(
            _timed(client, 7501, **_photo(sick, file_unique_id="AQADtwice")),
            _timed(client, 7501, **_photo(sick, file_unique_id="AQADtwice")),
        )
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert vision.requests - calls == 1
    assert sorted([a.json()["repeated"], b.json()["repeated"]]) == [False, True]
    assert a.json()["photo_id"] == b.json()["photo_id"]
    assert sql.one("SELECT count(*) FROM photos") == 1
    assert sql.one("SELECT used FROM photo_usage") == 1


async def test_after_the_daily_cap_of_refused_photos_every_photo_is_refused_early(
    served: str, clock, vision, sql
) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        kinds = [
            (await _timed(client, 7301, **_photo(photos.wall())))[0],
            (await _timed(client, 7301, **_photo(b"not an image at all")))[0],
            (await _timed(client, 7301, **_photo(photos.sky())))[0],
        ]
        assert [r.json()["error_code"] for r in kinds] == ["NO_LEAF", "BAD_REQUEST", "NO_LEAF"]
        calls = vision.requests
        capped, _ = await _timed(client, 7301)  # a good leaf, refused before any work
        assert capped.status_code == 429
        assert (capped.json()["error_code"], capped.json()["reason"]) == ("LIMIT_EXCEEDED", "daily")
        assert "reason" not in kinds[0].json(), "NO_LEAF has one cause"
        assert "could not be used" in capped.json()["message"]
        # 12:00 UTC is 15:00 in Moscow: nine hours to midnight there.
        assert int(capped.headers["Retry-After"]) == 9 * 3600
        assert vision.requests == calls
        assert (await _timed(client, 7302))[0].status_code == 200, "others are not capped"
        clock.advance(hours=9)
        assert (await _timed(client, 7301))[0].status_code == 200, "a new day"
    events = dict(sql("SELECT event, count(*) FROM events GROUP BY event"))
    assert events == {"refused_no_leaf": 2, "refused_bad_image": 1, "refused_daily": 1}


async def test_the_monthly_quota_refusal_is_counted_and_says_it_is_the_quota(
    settings: Settings, database_url: str, store, *, clock, vision, sql
) -> None:
    app = create_app(settings, database_url=database_url, store=store, clock=clock)
    with ThreadedServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(settings.free_photos_per_month):
                assert (await _timed(client, 7401))[0].status_code == 200
            refused, _ = await _timed(client, 7401)
    assert refused.status_code == 429
    assert "monthly limit" in refused.json()["message"]
    assert refused.json()["reason"] == "quota"
    assert "Retry-After" not in refused.headers
    assert sql.one("SELECT count(*) FROM events WHERE event = 'refused_quota'") == 1
