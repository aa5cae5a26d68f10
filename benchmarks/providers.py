"""Requests/s the provider client sustains against socialsim, as a ratio to a bare httpx loop.

Both sides page through the same follower lists of the same simulator (no faults, no rate
limit), with the same concurrency, in the same run, alternating, best of several rounds each:
the ratio is what our client costs on top of HTTP (envelope checks, parsing and validating
every user, failover and retry bookkeeping). Goal: >= 0.8.

    uv run python benchmarks/providers.py [--followers 20000] [--concurrency 4] [--rounds 3]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from smcore.providers import Providers, paginate
from smcore.settings import Settings
from socialsim.testing import serve

KEY = "bench-key"


async def bare_loop(url: str, user_id: str, concurrency: int) -> int:
    """The baseline: the same RocketAPI requests with nothing but httpx and json."""
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:

        async def one_listing() -> int:
            requests, cursor = 0, None
            while True:
                body: dict[str, Any] = {"id": user_id, "count": 50}
                if cursor:
                    body["max_id"] = cursor
                response = await client.post(
                    f"{url}/instagram/user/get_followers",
                    json=body,
                    headers={"Authorization": f"Token {KEY}"},
                )
                requests += 1
                page = response.json()["response"]["body"]
                cursor = page.get("next_max_id")
                if not cursor:
                    return requests

        return sum(await asyncio.gather(*(one_listing() for _ in range(concurrency))))


async def client_loop(url: str, user_id: str, concurrency: int) -> int:
    """Ours: smcore.providers with its defaults (pooling, retries armed, parsing)."""
    settings = Settings(  # type: ignore[call-arg]
        rocket_api_host=url, rocket_api_key=KEY, instagram_provider_priority="rocket"
    )
    async with Providers.from_settings(settings) as providers:

        async def one_listing() -> int:
            requests = 0
            async for page in paginate(providers.instagram.followers, user_id=user_id):
                if not page.success:
                    raise RuntimeError(f"benchmark call failed: {page.error}")
                requests += 1
            return requests

        return sum(await asyncio.gather(*(one_listing() for _ in range(concurrency))))


async def timed(fn: Any, *args: Any) -> tuple[int, float]:
    started = time.perf_counter()
    requests = await fn(*args)
    return requests, time.perf_counter() - started


async def main(followers: int, concurrency: int, rounds: int) -> dict[str, Any]:
    console = Console(stderr=True)
    with serve(seed=1, profiles=20, giant_followers=followers, giant_posts=12, api_key=KEY) as sim:
        async with httpx.AsyncClient(timeout=60) as client:
            truth = (await client.get(f"{sim.url}/_sim/truth/instagram/giant")).json()
        user_id = truth["profile"]["ext_id"]
        await bare_loop(sim.url, user_id, 1)  # warm the simulator's lazy world and the pools
        best = {"bare httpx": 0.0, "smcore.providers": 0.0}
        results: dict[str, list[float]] = {name: [] for name in best}
        with console.status("measuring…"):
            for _ in range(rounds):
                for name, fn in (("bare httpx", bare_loop), ("smcore.providers", client_loop)):
                    requests, seconds = await timed(fn, sim.url, user_id, concurrency)
                    results[name].append(requests / seconds)
                    best[name] = max(best[name], requests / seconds)
    table = Table(title=f"followers pages of 50, {concurrency} listings at once, {rounds} rounds")
    table.add_column("client")
    table.add_column("requests/s (best)", justify="right")
    table.add_column("all rounds", justify="right")
    for name, rps in best.items():
        table.add_row(name, f"{rps:,.0f}", " ".join(f"{r:,.0f}" for r in results[name]))
    console.print(table)
    ratio = best["smcore.providers"] / best["bare httpx"]
    return {
        "benchmark": "providers",
        "baseline_rps": round(best["bare httpx"], 1),
        "client_rps": round(best["smcore.providers"], 1),
        "ratio": round(ratio, 3),
        "goal": 0.8,
        "followers": followers,
        "concurrency": concurrency,
        "rounds": rounds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followers", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(main(args.followers, args.concurrency, args.rounds))
    print(json.dumps(figures))  # noqa: T201 - the benchmark's output
