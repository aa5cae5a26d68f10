"""The Transform stage after a sync: media files downloaded into the object store while their
CDN links work, a link that expired before its download recorded as such and not retried, a
fresh link from a later sync downloaded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smcore.orchestration import task_queue
from smcore.orchestration.worker import running_worker
from smcore.orchestration.workflows import TransformWorkflow, transform_workflow_id
from smcore.settings import Settings
from smcore.store import db
from smcore.transform.models import TransformInput, TransformResult
from socialsim.testing import RunningSim, serve


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with serve(seed=5, profiles=6, channels=1, tiktok_accounts=0) as running:
        yield running


def _profile(sim: RunningSim) -> str:
    """A public profile with a few posts (between 5 and 15: quick to sync, more media than the
    test's downloads)."""
    profiles = httpx.get(f"{sim.url}/_sim/truth/instagram", timeout=30).json()["profiles"]
    for p in profiles:
        if p["exists"] and not p["is_private"]:
            truth = httpx.get(f"{sim.url}/_sim/truth/instagram/{p['username']}", timeout=30)
            if 5 <= len(truth.json()["posts"]) <= 15:
                return str(p["username"])
    raise AssertionError("the simulated world has no public profile with 5 to 15 posts")


async def _transform(s: Any, job_id: int, **options: Any) -> TransformResult:
    """Run a Transform of ``job_id`` to its end (a fresh run: the sync's own has finished)."""
    database = db.database_name(s.database_url)
    request = TransformInput(job_id, database, **options)
    result: TransformResult = await s.env.client.execute_workflow(
        TransformWorkflow.run,
        request,
        id=transform_workflow_id(request) + f"-again-{options}",
        task_queue=task_queue(database),
    )
    return result


async def test_media_are_stored_and_an_expired_link_is_recorded_not_retried(
    sim: RunningSim,
    syncer: Any,
    sim_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    s = syncer(sim)
    store = tmp_path / "media"
    settings = sim_settings(
        sim, media_download=True, media_store_url=store.as_uri(), media_max_per_sync=3
    )
    username = _profile(sim)
    async with running_worker(settings, database_url=s.database_url, client=s.env.client):
        job = await s.job(platform="instagram", scope="posts", username=username)
        result = await (await s.start(job)).result()
        assert result.status == "succeeded", result.summary
        assert result.transform is not None
        done = await s.env.client.get_workflow_handle(
            transform_workflow_id(result.transform)
        ).result()
        assert done["stored"] == 3, done  # an untyped handle: the result as JSON

        stored = s.rows(
            "SELECT m.url, m.video_url, m.media_type, m.object_key, m.bytes, m.content_type "
            "FROM media m WHERE m.fetch_status = 'stored'"
        )
        assert len(stored) == 3
        for url, video_url, media_type, key, size, content_type in stored:
            data = (store / key).read_bytes()
            assert len(data) == size
            # Content addressed: the key is the bytes' sha256, the bytes are the CDN's.
            assert hashlib.sha256(data).hexdigest() in key
            link = video_url if media_type == "video" else url
            assert httpx.get(link, timeout=30).content == data
            if media_type == "video":
                assert content_type == "video/mp4" and data[4:8] == b"ftyp"
            else:
                assert content_type == "image/jpeg" and data[:3] == b"\xff\xd8\xff"
        pending = s.scalar("SELECT count(*) FROM media WHERE fetch_status = 'pending'")
        assert pending > 0, "the cap left some for a later sync"

        # Four days on, the links the sync stored (valid three days) have expired.
        s.advance(24 * 4)
        again = await _transform(s, job, max_media=2, wait_s=30)
        assert again.expired == 2 and again.stored == 0, again
        expired = s.rows(
            "SELECT id, fetch_attempts, fetch_error FROM media WHERE fetch_status = 'expired'"
        )
        assert len(expired) == 2
        assert all(a == 1 and "URL signature expired" in e for _, a, e in expired), expired

        # Not retried: another Transform takes other pending media, never the expired ones.
        ids = [i for i, _, _ in expired]
        third = await _transform(s, job, max_media=2, wait_s=30)
        assert third.stored == 0, third
        assert s.rows(
            "SELECT id, fetch_attempts, fetch_status FROM media WHERE id = ANY(%s) ORDER BY id",
            ids,
        ) == sorted((i, 1, "expired") for i in ids)

        # A later sync stores fresh links: the expired media are pending again, a new try each.
        before = dict(s.rows("SELECT id, url FROM media WHERE id = ANY(%s)", ids))
        refresh = await s.job(
            platform="instagram", scope="posts", username=username, refresh_days=3650
        )
        result = await (await s.start(refresh)).result()
        assert result.status == "succeeded" and result.transform is not None
        await s.env.client.get_workflow_handle(transform_workflow_id(result.transform)).result()
        reopened = s.rows(
            "SELECT id, url, fetch_status, fetch_attempts FROM media WHERE id = ANY(%s)", ids
        )
        assert len(reopened) == 2
        for media_id, url, status, attempts in reopened:
            assert url != before[media_id], "a fresh link"
            # Pending again (the newest posts of the four days since took this sync's three
            # downloads), or downloaded with it: never expired on the old link again.
            assert (status, attempts) in (("pending", 0), ("stored", 1)), (status, attempts)
