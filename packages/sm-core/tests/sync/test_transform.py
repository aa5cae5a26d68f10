"""The Transform stage after a sync: media files downloaded into the object store while their
CDN links work, a link that expired before its download recorded as such and not retried, a
fresh link from a later sync downloaded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from devstack.pytest_plugin import DatabaseTemplates
from smcore.orchestration import task_queue
from smcore.orchestration.worker import running_worker
from smcore.orchestration.workflows import TransformWorkflow, transform_workflow_id
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.status import job_status
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


# ------------------------------------------------------------------ analyses
TRENDFLOW = Path(sys.executable).parent / "trendflow"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def analysis_service(
    *,
    port: int,
    database_url: str,
    temporal: WorkflowEnvironment,
    models: Path,
    tmp: Path,
    store: Path,
) -> Iterator[subprocess.Popen[bytes]]:
    """``trendflow serve`` (API and worker) on ``port``, sharing SM Core's media store."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DEVSTACK_"))},
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "TRENDFLOW_MODELS_DIR": str(models),
        "TRENDFLOW_MODEL_DOWNLOAD": "false",
        "TRENDFLOW_DATA_DIR": str(tmp / "trendflow"),
        "TRENDFLOW_OBJECT_STORE_URL": store.as_uri(),
        "TRENDFLOW_PORT": str(port),
    }
    log = tmp / "trendflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [TRENDFLOW, "serve"], env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_an_analysis_outage_leaves_the_sync_whole_and_every_job_completes_after(
    sim: RunningSim,
    syncer: Any,
    *,
    sim_settings: Callable[..., Settings],
    database_templates: DatabaseTemplates,
    trendflow_models: Path,
    tmp_path: Path,
) -> None:
    s = syncer(sim)
    store = tmp_path / "media"
    port = _free_port()  # nothing listens there yet: the service is down
    settings = sim_settings(
        sim,
        media_download=True,
        media_store_url=store.as_uri(),
        media_max_per_sync=3,
        analysis_api_url=f"http://127.0.0.1:{port}",
        analysis_comments=False,
        analysis_poll_initial_s=0.5,
        analysis_poll_max_s=2.0,
        analysis_wait_s=600.0,
    )
    username = _profile(sim)
    async with running_worker(settings, database_url=s.database_url, client=s.env.client):
        job = await s.job(platform="instagram", scope="posts", username=username)
        result = await (await s.start(job)).result()
        assert result.status == "succeeded", "an analysis outage never fails a sync"
        assert result.transform is not None
        transform = s.env.client.get_workflow_handle(transform_workflow_id(result.transform))

        # The outage shows: analyses open, unsubmitted, with the reason, in the sync's status.
        deadline = time.monotonic() + 60
        while not s.scalar(
            "SELECT count(*) FROM analyses WHERE error_code = 'service_unreachable'"
        ):
            assert time.monotonic() < deadline, "no analysis recorded the outage"
            await asyncio.sleep(0.3)
        status = await job_status(s.database_url, job)
        assert status is not None and status["status"] == "succeeded"
        assert status["transform"]["media"].get("stored") == 3
        assert status["transform"]["analyses"].get("unsubmitted", 0) >= 4  # 3 media, captions
        assert "service_unreachable" in status["transform"]["last_error"]

        # The service comes back: every job completes, with what socialsim put in the media.
        with (
            database_templates.clone(database_templates.template("trendflow_empty")) as db_url,
            analysis_service(
                port=port,
                database_url=db_url,
                temporal=s.env,
                models=trendflow_models,
                tmp=tmp_path,
                store=store,
            ),
        ):
            done = await asyncio.wait_for(transform.result(), timeout=240)
        assert done["open"] == 0, done
    rows = s.rows(
        "SELECT a.kind, a.status, a.result, a.versions, m.url, m.video_url, m.media_type "
        "FROM analyses a JOIN media m ON a.subject_type = 'media' AND m.id = a.subject_id"
    )
    assert len(rows) == 3 and {r[1] for r in rows} == {"done"}, rows
    for kind, _, found, versions, url, video_url, media_type in rows:
        assert kind == ("video" if media_type == "video" else "image")
        assert versions.get("dataprocessor") and versions.get("config_hash")
        truth = httpx.get(
            f"{sim.url}/_sim/truth/media",
            params={"url": video_url if media_type == "video" else url},
            timeout=30,
        ).json()
        if truth["face"]:
            assert found["faces"] >= 1, (truth, found)
        if truth["text"]:
            seen = found["text_on_screen"].lower()
            assert all(word.lower() in seen for word in truth["text"].split()), (truth, found)
        if truth["object"]:
            assert truth["object"] in {o["label"] for o in found["objects"]}, (truth, found)
    expected = {
        p["ext_id"]: p
        for p in s.truth(f"instagram/{username}")["posts"]
        if p["caption_language"] is not None  # a post with a caption
    }
    captions = s.rows(
        "SELECT p.ext_id, a.status, a.result FROM analyses a "
        "JOIN posts p ON a.subject_type = 'post' AND p.id = a.subject_id"
    )
    assert captions and {c[1] for c in captions} == {"done"}
    for ext_id, _, found in captions:
        if ext_id in expected:
            assert found["language"] == expected[ext_id]["caption_language"], (ext_id, found)
    mentions = {
        (ext_id, handle)
        for ext_id, handle in s.rows(
            "SELECT p.ext_id, m.handle FROM mentions m JOIN posts p ON p.id = m.post_id "
            "WHERE m.source = 'caption'"
        )
        if ext_id in expected
    }
    want = {(e, h.lower()) for e, p in expected.items() for h in p.get("mentions") or []}
    assert mentions == want and want, (mentions, want)
