"""The shared rate limit holds across processes: its only state is a row in PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from smcore.providers.ratelimit import Limit, PostgresRateLimiter
from smcore.store import db

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from smcore.providers.ratelimit import Limit, PostgresRateLimiter
    from smcore.store import db

    async def main(url, n, rps, burst):
        engine = db.async_engine(url, pool_size=1)
        limiter = PostgresRateLimiter(engine, {"rocket": Limit(rps=rps, burst=burst)})
        stamps = []
        for _ in range(n):
            await limiter.acquire("rocket")
            stamps.append(time.time())
        await engine.dispose()
        print(json.dumps(stamps))

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])))
    """
)


def test_two_processes_share_one_budget(database_url: str) -> None:
    rps, burst, per_process = 10.0, 2, 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, str(per_process), str(rps), str(burst)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    stamps = sorted(s for p in procs for s in json.loads(p.communicate(timeout=60)[0]))
    assert all(p.returncode == 0 for p in procs)
    assert len(stamps) == 2 * per_process
    # GCRA: after the burst, one request per 1/rps seconds, whoever sends it.
    span = stamps[-1] - stamps[0]
    assert span >= (len(stamps) - burst - 1) / rps - 0.05
    # No 1-second window holds more than rps + burst requests.
    for i, start in enumerate(stamps):
        in_window = sum(1 for s in stamps[i:] if s < start + 1.0)
        assert in_window <= rps + burst


async def test_unlimited_providers_pass_without_waiting(database_url: str) -> None:
    engine = db.async_engine(database_url, pool_size=1)
    try:
        limiter = PostgresRateLimiter(engine, {"rocket": Limit(rps=1, burst=1)})
        assert await limiter.reserve("scraper") == 0.0
        assert await limiter.reserve("rocket") == 0.0
        assert 0.9 <= await limiter.reserve("rocket") <= 1.0
        await limiter.penalize("rocket", 5)
        assert await limiter.reserve("rocket") >= 5.0, "a 429 holds every caller back"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("args", [{"rps": 0}, {"rps": 1, "burst": 0}, {"rps": -2}])
def test_limit_rejects_nonsense(args: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Limit(**args)  # type: ignore[arg-type]
