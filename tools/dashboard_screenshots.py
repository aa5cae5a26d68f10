"""Screenshots of the dashboard's main pages, as committed under ``docs/dashboard/``.

Builds the data the pages show the way a user gets it: a temporary embedded stack, socialsim's
world (seed 4: Instagram profiles, a YouTube channel, TikTok accounts), a worker with the media
store on, three syncs of every account a simulated day apart (so charts and sparklines have
points), the accounts imported into the fleet. Then it serves the API and its dashboard on a
loopback port and photographs, in Debian's headless Chromium, the search, a profile (desktop
and phone widths), a post, a sync and the fleet.

    uv run python tools/dashboard_screenshots.py [--out docs/dashboard]

Needs Debian's ``chromium`` and ``chromium-driver`` (``bash .ci/run`` installs them).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from rich.console import Console
from selenium import webdriver
from temporalio.client import Client

from devstack.stack import ensure
from smcore.api.app import create_app
from smcore.fleet import accounts as fleet_accounts
from smcore.orchestration import client as orchestration
from smcore.orchestration.worker import running_worker
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import SyncInput
from smcore.sync.service import create_job
from smcore.web.testing import chromium, serving
from socialsim.testing import serve

console = Console(stderr=True)
ROOT = Path(__file__).resolve().parents[1]
KEY = "screenshot-key"
SEED, PROFILES, CHANNELS, TIKTOK = 4, 4, 1, 3
ROUNDS = 3
# Every provider at socialsim (RAPID_API_KEY serves the Rapid scraper's host).
_HOSTS = ("rocket", "rapid_scraper", "youtube", "tikapi23", "tikwm")
_KEYS = ("rocket", "rapid", "youtube", "tikapi23", "tikwm")
DESKTOP, PHONE = (1280, 900), (390, 844)


def targets(sim_url: str) -> list[dict[str, str]]:
    """Every account of the world that exists and is public."""
    with httpx.Client(base_url=sim_url, timeout=60) as http:
        found = [
            {"platform": "instagram", "username": p["username"]}
            for p in http.get("/_sim/truth/instagram").json()["profiles"]
            if p["exists"] and not p.get("is_private")
        ]
        found += [
            {"platform": "youtube", "ext_id": c["channel_id"]}
            for c in http.get("/_sim/truth/youtube").json()["channels"]
        ]
        found += [
            {"platform": "tiktok", "username": a["username"]}
            for a in http.get("/_sim/truth/tiktok").json()["accounts"]
            if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
        ]
    return found


async def build(settings: Settings, url: str, temporal: str, sim_url: str) -> None:
    """Three sync rounds a simulated day apart, then the fleet."""
    client = await Client.connect(temporal)
    engine = db.async_engine(url, pool_size=4)
    accounts = targets(sim_url)
    try:
        async with running_worker(settings, database_url=url, client=client):
            for round_ in range(ROUNDS):
                with console.status(f"sync round {round_ + 1} of {ROUNDS}"):
                    handles = []
                    for target in accounts:
                        job = await create_job(engine, scope="all", full=round_ == 0, **target)
                        handles.append(
                            await orchestration.start_sync(client, SyncInput(job, "screens"))
                        )
                    await asyncio.gather(*(h.result() for h in handles))
                if round_ < ROUNDS - 1:
                    async with httpx.AsyncClient(timeout=60) as http:
                        await http.post(f"{sim_url}/_sim/clock", json={"advance_hours": 24})
        rows = fleet_accounts.read_text(
            "platform,username,ext_id,cadence\n"
            + "".join(
                f"{t['platform']},{t.get('username', '')},{t.get('ext_id', '')},1d\n"
                for t in accounts
            ),
            fmt="csv",
        )
        await fleet_accounts.import_rows(engine, rows)
    finally:
        await engine.dispose()


def shoot(driver: webdriver.Chrome, url: str, path: Path, width: int, max_height: int) -> None:
    """The page at ``url``, as tall as its content (up to ``max_height``), to ``path``."""
    driver.set_window_size(width, 900)
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 20, max_height))
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    console.print(f"wrote {path.relative_to(ROOT)}")


def photograph(base: str, url: str, out: Path) -> None:
    with psycopg.connect(url) as conn:
        # The account whose first page of posts has the most seen more than once (sparklines).
        profile, name = conn.execute(
            "SELECT p.id, p.full_name FROM social_profiles p, LATERAL (SELECT o.id FROM posts o "
            "WHERE o.social_profile_id = p.id ORDER BY o.taken_at DESC LIMIT 25) o "
            "WHERE (SELECT count(*) FROM metric_snapshots s WHERE s.subject_type = 'post' "
            "AND s.subject_id = o.id AND COALESCE(s.views, s.likes) IS NOT NULL) > 1 "
            "GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        post = conn.execute(
            "SELECT post_id FROM comments c JOIN posts p ON p.id = c.post_id "
            "WHERE p.social_profile_id = %s GROUP BY post_id ORDER BY count(*) DESC LIMIT 1",
            (profile,),
        ).fetchone()[0]  # type: ignore[index]
        sync = conn.execute(
            "SELECT job_call_id FROM service_calls GROUP BY job_call_id "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]  # type: ignore[index]
    first, last = str(name).split(" ", 1)
    misspelt = f"{first[0]}{first[2]}{first[1]}{first[3:]} {last}"
    driver = chromium(*DESKTOP)
    try:
        driver.get(f"{base}/login")
        driver.find_element("id", "key").send_keys(KEY)
        driver.find_element("css selector", "form[action='/login'] button").click()
        shoot(driver, f"{base}/?q={misspelt}", out / "search.png", DESKTOP[0], 900)
        shoot(driver, f"{base}/bloggers/{profile}", out / "profile.png", DESKTOP[0], 2600)
        shoot(driver, f"{base}/posts/{post}", out / "post.png", DESKTOP[0], 2000)
        shoot(driver, f"{base}/syncs/{sync}", out / "sync.png", DESKTOP[0], 2000)
        shoot(driver, f"{base}/fleet", out / "fleet.png", DESKTOP[0], 2000)
        shoot(driver, f"{base}/bloggers/{profile}", out / "profile-phone.png", PHONE[0], 2400)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dashboard-screens-"))
    try:
        with (
            ensure(work / "stack") as info,
            serve(seed=SEED, profiles=PROFILES, channels=CHANNELS, tiktok_accounts=TIKTOK) as sim,
        ):
            if not info.database_url or not info.temporal_address:
                raise SystemExit("the embedded stack did not start")
            url = info.database_url.rsplit("/", 1)[0] + "/screens"
            with psycopg.connect(info.database_url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE screens")
            db.upgrade(url)
            settings = Settings(
                api_keys=KEY,  # type: ignore[arg-type] - pydantic makes the SecretStr
                media_download=True,
                media_store_url=str(work / "media"),
                **{f"{provider}_api_host": sim.url for provider in _HOSTS},
                **{f"{provider}_api_key": sim.api_key for provider in _KEYS},
            )
            asyncio.run(build(settings, url, info.temporal_address, sim.url))
            app = create_app(settings, database_url=url, temporal_address=info.temporal_address)
            with serving(app) as base:
                photograph(base, url, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
