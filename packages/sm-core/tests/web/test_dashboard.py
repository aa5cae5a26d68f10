"""The dashboard in a real headless Chromium, over a real sync of a simulated TikTok account:
search by a misspelt name, the profile's follower chart against the stored snapshots, a post's
comments, starting a sync and following it to its end, and private reads refusing a visitor."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import httpx
import psycopg
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait
from temporalio.testing import WorkflowEnvironment

from smcore.api.app import create_app
from smcore.settings import Settings
from socialsim.testing import serve

KEY = "dashboard-test-key"
CREATOR = "tt_user_0002"  # seed 4: "Xenia Costa", 30 videos with comments


def _wait(browser: webdriver.Chrome, seconds: float = 30) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(browser, seconds)


def _sign_in(browser: webdriver.Chrome, key: str) -> None:
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()


async def test_the_dashboard_over_a_synced_account(
    syncer: Any, browser: webdriver.Chrome, temporal_env: WorkflowEnvironment, served: Any
) -> None:
    with serve(seed=4, profiles=1, channels=0, tiktok_accounts=4) as sim:
        s = syncer(sim)
        truth = s.truth(f"tiktok/{CREATOR}")
        full_name = truth["profile"]["nickname"]
        async with s.worker():
            first = await s.sync(platform="tiktok", scope="all", username=CREATOR, full=True)
            assert first.status == "succeeded", first.summary
            s.advance(24)
            second = await s.sync(platform="tiktok", scope="posts", username=CREATOR)
            assert second.status == "succeeded", second.summary

            profile_id = s.scalar("SELECT id FROM social_profiles WHERE username = %s", CREATOR)
            stored = s.rows(
                "SELECT s.followers FROM metric_snapshots s JOIN job_calls j "
                "ON j.id = s.job_call_id WHERE s.subject_type = 'profile' AND s.subject_id = %s "
                "ORDER BY (j.params->>'observed_at')::timestamptz, s.id",
                profile_id,
            )
            assert len(stored) == 2, "two syncs, two observations"

            address = temporal_env.client.service_client.config.target_host
            settings = Settings(api_keys=KEY, **s.settings(sim).model_dump(exclude={"api_keys"}))
            app = create_app(settings, database_url=s.database_url, temporal_address=address)
            with served(app) as base:
                await asyncio.to_thread(
                    _browse,
                    browser,
                    base,
                    s,
                    full_name=full_name,
                    profile_id=profile_id,
                    stored=stored,
                )


def _browse(
    browser: webdriver.Chrome,
    base: str,
    s: Any,
    *,
    full_name: str,
    profile_id: int,
    stored: list[Any],
) -> None:
    # Search with two letters swapped finds the profile.
    first, last = full_name.split(" ", 1)
    misspelt = f"{first[0]}{first[2]}{first[1]}{first[3:]} {last}"
    assert misspelt != full_name
    browser.get(f"{base}/")
    box = browser.find_element(By.ID, "q")
    box.send_keys(misspelt)
    box.submit()
    _wait(browser).until(ready.presence_of_element_located((By.ID, "results")))
    links = browser.find_elements(By.CSS_SELECTOR, "#results tbody a")
    assert links and links[0].text == full_name, [a.text for a in links]
    links[0].click()

    # The profile page: the follower chart holds the stored observations, in order.
    _wait(browser).until(ready.url_contains(f"/bloggers/{profile_id}"))
    assert browser.find_element(By.TAG_NAME, "h1").text == full_name
    dots = browser.find_elements(By.CSS_SELECTOR, "#followers-chart circle.dot")
    assert [float(d.get_attribute("data-value") or "nan") for d in dots] == [
        float(row[0]) for row in stored
    ]
    times = [datetime.fromisoformat(d.get_attribute("data-at") or "") for d in dots]
    assert times == sorted(times) and (times[1] - times[0]).total_seconds() >= 24 * 3600 - 60
    posts = browser.find_elements(By.CSS_SELECTOR, "#posts tbody tr")
    assert len(posts) == min(
        25, s.scalar("SELECT count(*) FROM posts WHERE social_profile_id = %s", profile_id)
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#posts svg.spark"), "sparklines for the posts"
    assert "Sync now" not in browser.page_source, "starting a sync needs a sign-in"

    # A post's comments load, newest first, as stored.
    post_id, want = s.rows(
        "SELECT p.id, array_agg(c.text ORDER BY c.created_at DESC, c.id DESC) FROM posts p "
        "JOIN comments c ON c.post_id = p.id AND c.parent_id IS NULL "
        "WHERE p.social_profile_id = %s GROUP BY p.id ORDER BY count(*) DESC LIMIT 1",
        profile_id,
    )[0]
    browser.find_element(By.CSS_SELECTOR, f"#posts a[href='/posts/{post_id}']").click()
    _wait(browser).until(ready.presence_of_element_located((By.ID, "comments")))
    texts = [
        e.text for e in browser.find_elements(By.CSS_SELECTOR, "#comments > li.comment > p.text")
    ]
    assert texts == list(want[:30]) and texts

    # Sign in, start a sync from the profile page, and follow it to its end.
    browser.get(f"{base}/login?next=/bloggers/{profile_id}")
    _sign_in(browser, KEY)
    _wait(browser).until(ready.url_contains(f"/bloggers/{profile_id}"))
    Select(browser.find_element(By.ID, "scope")).select_by_visible_text("posts")
    browser.find_element(By.XPATH, "//button[text()='Sync now']").click()
    _wait(browser).until(ready.url_matches(r"/syncs/\d+$"))
    job_id = int(browser.current_url.rsplit("/", 1)[1])
    seen: set[str] = set()

    def finished(driver: webdriver.Chrome) -> bool:
        seen.add(driver.find_element(By.ID, "sync-status").text)
        return driver.find_element(By.ID, "sync").get_attribute("data-finished") == "true"

    _wait(browser, 120).until(finished)
    assert browser.find_element(By.ID, "sync-status").text == "succeeded"
    assert seen & {"pending", "running"}, f"the page showed the sync before its end: {seen}"
    calls = s.scalar("SELECT count(*) FROM service_calls WHERE job_call_id = %s", job_id)
    assert browser.find_element(By.ID, "sync-calls").text == str(calls) and calls > 0
    assert len(browser.find_elements(By.CSS_SELECTOR, "#calls tbody tr")) == calls
    report = httpx.get(f"{base}/api/v1/syncs/{job_id}").json()
    for name, stream in report["streams"].items():
        row = browser.find_element(By.CSS_SELECTOR, f"#streams tr[data-stream='{name}']")
        for field in ("pages", "items", "failed", "skipped"):
            cell = row.find_element(By.CSS_SELECTOR, f"[data-field='{field}']")
            assert cell.text == str(stream[field]), (name, field)
    assert report["streams"]["videos"]["items"] > 0

    # The fleet page renders (no schedules in this world).
    browser.get(f"{base}/fleet")
    assert "No accounts scheduled" in browser.find_element(By.ID, "fleet-platforms").text

    # A form posted without the session's CSRF token is refused.
    cookie = browser.get_cookie("smcore_session")
    assert cookie is not None and cookie["httpOnly"]
    forged = httpx.post(
        f"{base}/syncs",
        data={"platform": "tiktok", "username": "tt_user_0001", "scope": "profile"},
        cookies={"smcore_session": cookie["value"]},
    )
    assert forged.status_code == 403
    browser.find_element(By.XPATH, "//button[text()='Sign out']").click()
    _wait(browser).until(ready.presence_of_element_located((By.LINK_TEXT, "Sign in")))


async def test_private_reads_refuse_a_visitor_without_a_key(
    database_url: str, browser: webdriver.Chrome, served: Any
) -> None:

    with psycopg.connect(database_url) as conn:
        profile_id = conn.execute(
            "INSERT INTO social_profiles (platform, ext_id, username, full_name, followers_count)"
            " VALUES ('instagram', '1', 'hidden_person', 'Hidden Person', 10) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
    settings = Settings(api_keys=KEY, api_public_reads=False)
    app = create_app(settings, database_url=database_url, temporal_address=None)
    with served(app) as base:
        await asyncio.to_thread(_refused, browser, base, profile_id)


def _refused(browser: webdriver.Chrome, base: str, profile_id: int) -> None:
    browser.delete_all_cookies()
    for path in ("/", f"/bloggers/{profile_id}", "/fleet", "/syncs"):
        browser.get(base + path)
        assert re.search(r"/login\?next=", browser.current_url), path
        assert "Hidden Person" not in browser.page_source
    assert httpx.get(f"{base}/syncs/1/progress").status_code == 401
    assert httpx.get(f"{base}/api/v1/bloggers").status_code == 401

    browser.get(f"{base}/bloggers/{profile_id}")
    _sign_in(browser, "not-the-key")
    error = _wait(browser).until(ready.presence_of_element_located((By.ID, "login-error"))).text
    assert "not one of this server's API keys" in error
    assert "Hidden Person" not in browser.page_source

    _sign_in(browser, KEY)
    _wait(browser).until(ready.url_contains(f"/bloggers/{profile_id}"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hidden Person"
    browser.delete_all_cookies()
