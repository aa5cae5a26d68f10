"""The Transform stage after a sync: media files downloaded into the object store while their
CDN links work, a link that expired before its download recorded as such and not retried, a
fresh link from a later sync downloaded; analyses through an outage of the analysis service;
forecasts of recent videos, asked again by a later sync, shown by the API and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pytest
from temporalio.testing import WorkflowEnvironment

from devstack.processes import free_port
from devstack.pytest_plugin import DatabaseTemplates
from smcore.api.app import create_app
from smcore.orchestration import task_queue
from smcore.orchestration.worker import running_worker
from smcore.orchestration.workflows import TransformWorkflow, transform_workflow_id
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.status import job_status
from smcore.transform import analysis
from smcore.transform.models import TransformInput, TransformResult
from smcore.web.charts import compact
from smcore.web.testing import serving
from socialsim.testing import RunningSim, serve
from trendflow.service.app import create_app as trendflow_app
from trendflow.settings import Settings as TrendflowSettings


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
        # A profile-only sync stores nothing the Transform works on: none is started.
        only = await s.job(platform="instagram", scope="profile", username=username)
        result = await (await s.start(only)).result()
        assert result.status == "succeeded" and result.transform is None, result

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


@contextlib.contextmanager
def analysis_service(
    *,
    port: int,
    database_url: str,
    temporal: WorkflowEnvironment,
    models: Path,
    tmp: Path,
    store: Path,
    prediction_model: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``trendflow serve`` (API and worker) on ``port``, sharing SM Core's media store, with
    ``prediction_model`` as its forecast model when given."""
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
    if prediction_model is not None:
        env["TRENDFLOW_PREDICTION_MODEL"] = str(prediction_model)
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
    port = free_port()  # nothing listens there yet: the service is down
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


# ------------------------------------------------------------------ forecasts
FORECASTER = (
    "tt_user_0003"  # socialsim seed 4: 46 videos, two in the last 21 days, one more a day on
)


def _forecast_dataset(out: Path, *, videos: int = 60, channels: int = 4) -> Path:
    """A synthetic dataset in TrendFlow's contract (its ladder's columns, ``dataset.json``),
    observed up to 21 days after publication: any snapshot of a recent video is an early count,
    so each later snapshot changes what the model is given."""
    rng = random.Random(17)  # noqa: S311 - a synthetic dataset's noise, not a secret
    start = datetime(2025, 1, 1, tzinfo=UTC)
    cols: dict[str, list[Any]] = {
        "platform": ["tiktok"] * videos,
        "video_id": [f"v{i:03d}" for i in range(videos)],
        "channel": [f"ch{i % channels}" for i in range(videos)],
        "published_at": [start + timedelta(days=2 * i) for i in range(videos)],
        "meta.hour_utc": [float(rng.randrange(24)) for _ in range(videos)],
        "meta.channel_followers_log1p": [rng.uniform(6, 12) for _ in range(videos)],
        "early.obs_age_hours": [rng.uniform(24, 500) for _ in range(videos)],
    }
    for metric, scale in (("views", 1.0), ("likes", 0.05)):
        obs = [math.log1p(scale * math.exp(rng.gauss(7, 1))) for _ in range(videos)]
        cols[f"early.{metric}_obs_log1p"] = obs
        for horizon, growth in ((7, 0.5), (14, 0.8), (21, 1.0)):
            cols[f"target.{metric}.h{horizon}.log1p"] = [
                o + growth + rng.gauss(0, 0.1) for o in obs
            ]
            cols[f"target.{metric}.h{horizon}.present"] = [True] * videos
    out.mkdir(parents=True)
    arrays = {
        name: pa.array(values, type=pa.timestamp("us", tz="UTC"))
        if name == "published_at"
        else pa.array(values)
        for name, values in cols.items()
    }
    pq.write_table(pa.table(arrays), out / "dataset.parquet")
    as_of = start + timedelta(days=2 * videos + 30)
    described = {
        "provenance": {"label": "simulated", "simulated": True},
        "observation_hours": 21 * 24.0,
        "sources": {"snapshots": {"where": "synthetic", "sha256": "ab" * 32, "videos": videos}},
        "targets_parameters": [{"as_of": as_of.isoformat(), "tolerance_hours": 12}],
    }
    (out / "dataset.json").write_text(json.dumps(described), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def forecast_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small forecast model made by ``trendflow train`` (as a user would make one)."""
    root = tmp_path_factory.mktemp("forecast-model")
    data = _forecast_dataset(root / "dataset")
    done = subprocess.run(
        [TRENDFLOW, "train", str(data), "--out", str(root / "model"), "--folds", "2",
         "--rounds", "20"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "model"


def _body(s: Any, post_id: int) -> dict[str, Any]:
    """The prediction job a post's stored rows make, read here on their own."""
    ((platform, ext_id, published, caption, channel, profile_id),) = s.rows(
        "SELECT p.platform, p.ext_id, p.taken_at, p.caption, sp.username, sp.id "
        "FROM posts p JOIN social_profiles sp ON sp.id = p.social_profile_id WHERE p.id = %s",
        post_id,
    )
    seen = s.rows(
        "SELECT (j.params->>'observed_at')::timestamptz AS t, s.views, s.likes "
        "FROM metric_snapshots s JOIN job_calls j ON j.id = s.job_call_id "
        "WHERE s.subject_type = 'post' AND s.subject_id = %s ORDER BY t",
        post_id,
    )
    followers = s.scalar(
        "SELECT s.followers FROM metric_snapshots s JOIN job_calls j ON j.id = s.job_call_id "
        "WHERE s.subject_type = 'profile' AND s.subject_id = %s "
        "AND (j.params->>'observed_at')::timestamptz <= %s "
        "ORDER BY (j.params->>'observed_at')::timestamptz DESC LIMIT 1",
        profile_id,
        published,
    )
    return {
        "kind": "prediction",
        "platform": platform,
        "external_id": ext_id,
        "published_at": published.astimezone(UTC).isoformat(),
        "observations": [
            {"observed_at": t.astimezone(UTC).isoformat(), "views": views, "likes": likes}
            for t, views, likes in seen
        ],
        "channel": channel,
        "caption": caption or None,
        "channel_followers": followers,
    }


async def test_recent_videos_are_forecast_and_forecast_again_after_a_later_sync(
    syncer: Any,
    *,
    sim_settings: Callable[..., Settings],
    database_templates: DatabaseTemplates,
    forecast_model: Path,
    tmp_path: Path,
) -> None:
    """Each video published in the 21 days before a sync gets TrendFlow's forecast (the very
    job the service makes of the video's stored history); a sync a day later asks again with
    its new snapshot; the API and the dashboard show the forecast."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with (
        serve(seed=4, profiles=1, channels=0, tiktok_accounts=4) as sim,
        database_templates.clone(database_templates.template("trendflow_empty")) as db_url,
    ):
        s = syncer(sim)
        settings = sim_settings(
            sim,
            analysis_api_url=api,
            analysis_predictions=True,
            analysis_comments=False,
            analysis_poll_initial_s=0.2,
            analysis_poll_max_s=1.0,
            analysis_wait_s=120.0,
        )
        with contextlib.ExitStack() as stack:
            # TrendFlow starts while the worker starts and the account syncs (the sync's
            # Transform, if first, waits out the outage as it would in production).
            service = asyncio.create_task(
                asyncio.to_thread(
                    stack.enter_context,
                    analysis_service(
                        port=port,
                        database_url=db_url,
                        temporal=s.env,
                        models=tmp_path / "models",
                        tmp=tmp_path,
                        store=tmp_path / "media",
                        prediction_model=forecast_model,
                    ),
                )
            )
            try:
                async with running_worker(
                    settings, database_url=s.database_url, client=s.env.client
                ):
                    first = await _synced(s, FORECASTER, service)
                    forecasts = _forecasts(s)
                    recent = s.rows(
                        "SELECT p.id FROM posts p JOIN job_calls j ON j.id = %s "
                        "WHERE p.taken_at > (j.params->>'observed_at')::timestamptz "
                        "- interval '21 days' ORDER BY p.id",
                        first,
                    )
                    assert [r[0] for r in recent] == sorted(forecasts) and len(forecasts) == 2
                    for post_id, (status, job, remote, result) in forecasts.items():
                        assert (status, job) == ("done", first), forecasts
                        body = _body(s, post_id)
                        assert len(body["observations"]) == 1
                        # The same history posted by hand is the job SM Core asked for.
                        answer = httpx.post(f"{api}/v1/jobs", json=body, timeout=30)
                        assert answer.status_code == 200, answer.text
                        assert answer.json()["id"] == remote
                        assert answer.json()["result"]["summary"] == result
                        assert result["forecast"]["views"]["h21"]["count"] > 0

                    s.advance(24)
                    second = await _synced(s, FORECASTER, service)
                    again = _forecasts(s)
                    assert len(again) == 3, "yesterday's two and the video published since"
                    for post_id, (status, job, remote, result) in again.items():
                        assert (status, job) == ("done", second), again
                        body = _body(s, post_id)
                        if post_id in forecasts:
                            assert remote != forecasts[post_id][2], "asked again"
                            assert len(body["observations"]) == 2
                        answer = httpx.post(f"{api}/v1/jobs", json=body, timeout=30)
                        assert (answer.status_code, answer.json()["id"]) == (200, remote)
                        assert answer.json()["result"]["summary"] == result
            finally:
                await asyncio.wait([service])  # started (or failed) before it is stopped

        shown = max(again)
        forecast = again[shown][3]
        views = forecast["forecast"]["views"]["h21"]["count"]
        address = s.env.client.service_client.config.target_host
        app = create_app(settings, database_url=s.database_url, temporal_address=address)
        with serving(app) as base:
            detail = httpx.get(f"{base}/api/v1/posts/{shown}", timeout=30).json()
            assert detail["prediction"]["kind"] == "prediction"
            assert detail["prediction"]["status"] == "done"
            assert detail["prediction"]["result"] == forecast
            profile_id = s.scalar("SELECT social_profile_id FROM posts WHERE id = %s", shown)
            page = httpx.get(f"{base}/bloggers/{profile_id}", timeout=30).text
            cell = re.search(
                rf'href="/posts/{shown}".*?<td class="num forecast">(.*?)</td>', page, re.S
            )
            assert cell is not None, page
            assert (
                "Views 21 days after publication" in cell[1]
                and forecast["model_version"] in cell[1]
            )
            assert f">{compact(views)}<" in cell[1]
            assert page.count('<td class="num forecast"><span class="muted">—') == (
                min(
                    25,
                    s.scalar("SELECT count(*) FROM posts WHERE social_profile_id = %s", profile_id),
                )
                - 3
            )
            post_page = httpx.get(f"{base}/posts/{shown}", timeout=30).text
            assert 'id="forecast"' in post_page and "21 days" in post_page


async def test_a_service_without_a_prediction_model_fails_the_forecasts_at_one_request(
    database_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """TrendFlow without ``TRENDFLOW_PREDICTION_MODEL`` refuses a forecast with a 422 that SM
    Core reads as "no model": the profile's open forecasts fail at the first refusal, and
    the next round asks nothing; the 422 of a body the service cannot read is not that."""
    app = trendflow_app(
        TrendflowSettings(data_dir=tmp_path),
        database_url=database_url,
        temporal_address=None,
        client=temporal_env.client,
    )
    observed = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with psycopg.connect(database_url) as conn:
        profile = conn.execute(
            "INSERT INTO social_profiles (platform, ext_id, username) "
            "VALUES ('tiktok', '42', 'no_model') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        job = conn.execute(
            "INSERT INTO job_calls (platform, subject_id, params) "
            "VALUES ('tiktok', %s, jsonb_build_object('observed_at', %s::text)) RETURNING id",
            (profile, observed.isoformat()),
        ).fetchone()[0]  # type: ignore[index]
        for ext_id, age_days in (("7301", 1), ("7302", 3), ("7303", 40)):  # the last: too old
            post = conn.execute(
                "INSERT INTO posts (platform, ext_id, social_profile_id, taken_at) "
                "VALUES ('tiktok', %s, %s, %s) RETURNING id",
                (ext_id, profile, observed - timedelta(days=age_days)),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO metric_snapshots (subject_type, subject_id, views, likes, "
                "job_call_id, captured_at) VALUES ('post', %s, 500, 20, %s, now())",
                (post, job),
            )
    sent: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        sent.append(request)

    engine = db.async_engine(database_url, pool_size=1)
    try:
        with serving(app) as base:
            async with httpx.AsyncClient(timeout=30, event_hooks={"request": [count]}) as http:
                client = analysis.AnalysisClient(http, base)
                analyst = analysis.Analyst(client, namespace="t", predictions=True)
                first = await analysis.advance(engine, analyst, job_id=job, profile_id=profile)
                assert (first.failed, first.submitted, first.open) == (2, 0, 0), first
                assert len(sent) == 1, "one refusal fails them all"
                again = await analysis.advance(engine, analyst, job_id=job, profile_id=profile)
                assert (again.failed, again.open, len(sent)) == (0, 0, 1), again

                body = json.loads(sent[0].content)
                with pytest.raises(analysis.AnalysisRefusedError) as unreadable:
                    await client.submit({**body, "observations": []}, "no-observations")
                assert unreadable.value.status == 422
                assert not unreadable.value.no_prediction_model
    finally:
        await engine.dispose()
    with psycopg.connect(database_url) as conn:
        rows = set(
            conn.execute(
                "SELECT p.ext_id, a.status, a.error_code FROM analyses a "
                "JOIN posts p ON p.id = a.subject_id WHERE a.kind = 'prediction'"
            ).fetchall()
        )
    assert rows == {
        ("7301", "failed", analysis.NO_PREDICTION_MODEL),
        ("7302", "failed", analysis.NO_PREDICTION_MODEL),
    }


async def _synced(s: Any, username: str, service: asyncio.Task[Any]) -> int:
    """Sync the account's videos and wait for its Transform (and for ``service`` to be up);
    the sync's id."""
    job = await s.job(platform="tiktok", scope="posts", username=username)
    result = await (await s.start(job)).result()
    assert result.status == "succeeded", result.summary
    assert result.transform is not None
    await service
    done = await s.env.client.get_workflow_handle(transform_workflow_id(result.transform)).result()
    assert done["open"] == 0, done
    return job


def _forecasts(s: Any) -> dict[int, tuple[str, int, str, dict[str, Any]]]:
    """Post id → its prediction's status, sync, remote job and result."""
    return {
        post_id: (status, job, remote, result)
        for post_id, status, job, remote, result in s.rows(
            "SELECT subject_id, status, job_call_id, remote_job_id, result FROM analyses "
            "WHERE subject_type = 'post' AND kind = 'prediction'"
        )
    }
