"""``socialsim``: command line of the socialsim package."""

from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import version
from typing import Annotated

import typer

from socialsim import server
from socialsim.faults import FaultConfig
from socialsim.sim import SimConfig
from socialsim.world import WorldConfig

app = typer.Typer(
    help="Local simulator of the third-party APIs SM Core calls (Instagram providers, YouTube, "
    "TikTok providers).",
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"socialsim {version('socialsim')}")
        raise typer.Exit


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None and not show_version:
        print(ctx.get_help())


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    profiles: Annotated[int, typer.Option(min=1, help="Instagram profiles user_NNNN.")] = 200,
    channels: Annotated[int, typer.Option(min=0, help="YouTube channels.")] = 20,
    giant_followers: Annotated[
        int, typer.Option(min=0, help="Followers of an extra 'giant' profile (0: no giant).")
    ] = 0,
    giant_posts: Annotated[int, typer.Option(min=0, help="Posts of the 'giant' profile.")] = 0,
    tiktok_accounts: Annotated[
        int,
        typer.Option(
            min=0,
            max=1000,
            help="TikTok creators tt_user_NNNN (a tt_giant comes on top; 0: no TikTok).",
        ),
    ] = 30,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Mean added latency per API response (lognormal).")
    ] = 0.0,
    rate_limit: Annotated[
        float | None, typer.Option(min=0.001, help="Requests per second per API (token bucket).")
    ] = None,
    fault_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of API requests with a transport fault.")
    ] = 0.0,
    truncate_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of follower pages that end early.")
    ] = 0.0,
    bad_item_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Share of list items served malformed in valid pages (the same items "
            "every time; /_sim/truth marks them).",
        ),
    ] = 0.0,
    expire_cursors: Annotated[
        bool, typer.Option("--expire-cursors", help="Reject cursors older than --cursor-ttl-s.")
    ] = False,
    cursor_ttl_s: Annotated[
        float, typer.Option(min=0, help="Cursor lifetime in wall-clock seconds.")
    ] = 20.0,
    quota: Annotated[
        int | None, typer.Option(min=0, help="YouTube quota units per Pacific day.")
    ] = None,
    api_key: Annotated[str, typer.Option(help="The key every API accepts.")] = "sim-key",
    timeout_fault_s: Annotated[
        float, typer.Option(min=0, help="How long a 'timeout' fault holds the response.")
    ] = 30.0,
    research_daily_requests: Annotated[
        int, typer.Option(min=0, help="TikTok Research API requests per UTC day.")
    ] = 1_000,
    research_daily_records: Annotated[
        int, typer.Option(min=0, help="Records the Research API returns per UTC day.")
    ] = 100_000,
    research_follow_daily_requests: Annotated[
        int, typer.Option(min=0, help="Research API follower/following requests per UTC day.")
    ] = 20_000,
    research_follow_daily_records: Annotated[
        int, typer.Option(min=0, help="Research API follower/following records per UTC day.")
    ] = 2_000_000,
    cdn_ttl_hours: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Simulated hours a media URL works after an API served it (YouTube "
            "thumbnails never expire).",
        ),
    ] = 72.0,
) -> None:
    """Serve RocketAPI, the RapidAPI scraper, YouTube Data API v3 and TikTok (tikapi23, tikwm,
    the Research API) on one port, and the media behind their URLs (``/cdn/…``).

    Prints one JSON line ({"url", "pid", "seed"}) on stdout once connections are accepted;
    logs go to stderr.
    """
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    config = SimConfig(
        world=WorldConfig(
            seed=seed,
            profiles=profiles,
            channels=channels,
            giant_followers=giant_followers,
            giant_posts=giant_posts,
            tiktok_accounts=tiktok_accounts,
        ),
        faults=FaultConfig(
            latency_ms=latency_ms,
            rate_limit=rate_limit,
            fault_rate=fault_rate,
            truncate_rate=truncate_rate,
            quota=quota,
            timeout_fault_s=timeout_fault_s,
            bad_item_rate=bad_item_rate,
        ),
        api_key=api_key,
        expire_cursors=expire_cursors,
        cursor_ttl_s=cursor_ttl_s,
        research_daily_requests=research_daily_requests,
        research_daily_records=research_daily_records,
        research_follow_daily_requests=research_follow_daily_requests,
        research_follow_daily_records=research_follow_daily_records,
        cdn_ttl_hours=cdn_ttl_hours,
    )

    def announce(url: str, pid: int) -> None:
        print(json.dumps({"url": url, "pid": pid, "seed": seed}), flush=True)

    server.serve(config, host=host, port=port, on_ready=announce)


def main() -> None:
    app()
