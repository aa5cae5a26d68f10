"""``trendflow gc --jobs``: a job record lives as long as its run; gc removes both."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from devstack.pytest_plugin import DatabaseTemplates, environ_without
from trendflow.service import db, repository
from trendflow.settings import Settings
from trendflow.store.manifest import RunManifest

from ..conftest import SCRIPT  # noqa: TID252 - the package's shared fixtures


async def _job(url: str, data: Path, status: str, *, with_run: bool) -> tuple[str, Path]:
    """A job as the worker leaves it: its run (manifest, an NPZ, frames) and its row."""
    job_id = uuid.uuid4()
    run = data / "result_store" / "instagram" / "m" / str(job_id)
    if with_run:
        (run / "segmenter").mkdir(parents=True)
        RunManifest(run).upsert_run({"platform_id": "instagram", "video_id": "m"})
        (run / "segmenter" / "segmentation.npz").write_bytes(b"npz")
        frames = data / "frames" / "instagram" / "m" / str(job_id)
        frames.mkdir(parents=True)
        (frames / "frames_640.npy").write_bytes(b"npy")
    engine = db.async_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            values = {
                "id": job_id,
                "kind": "image",
                "platform": "instagram",
                "external_id": "m",
                "idempotency_key": f"key-{job_id}",
                "config_hash": "c",
                "versions": {},
                "spec": {},
            }
            await repository.insert_job(conn, values)
            await repository.start(conn, job_id)
            if with_run:
                await repository.set_run_dir(conn, job_id, str(run))
            if status == "done":
                await repository.finish_done(conn, job_id, result={}, run_dir=str(run), progress={})
            elif status == "failed":
                error = {"code": "bad_media", "message": "x", "retryable": False}
                await repository.finish_failed(conn, job_id, error=error)
    finally:
        await engine.dispose()
    return str(job_id), run


def _age(url: str, job_id: str, days: float) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE jobs SET finished_at = now() - make_interval(days => %s) WHERE id = %s",
            (days, job_id),
        )


def test_gc_removes_old_jobs_with_their_runs_and_jobs_whose_run_is_gone(
    tmp_path: Path, database_templates: DatabaseTemplates, jobs_template: str
) -> None:
    data = tmp_path / "data"
    with database_templates.clone(jobs_template) as url:

        async def setup() -> dict[str, tuple[str, Path]]:
            return {
                "old": await _job(url, data, "done", with_run=True),
                "recent": await _job(url, data, "done", with_run=True),
                "lost": await _job(url, data, "done", with_run=True),
                "failed": await _job(url, data, "failed", with_run=False),
                "running": await _job(url, data, "processing", with_run=False),
            }

        jobs = asyncio.run(setup())
        _age(url, jobs["old"][0], 100)
        _age(url, jobs["failed"][0], 2)
        shutil.rmtree(jobs["lost"][1])

        result = subprocess.run(
            [SCRIPT, "gc", "--jobs", "--now", datetime.now(UTC).isoformat()],
            env={
                **environ_without(Settings, tmp_path / "devstack"),
                "DATABASE_URL": url,
                "TRENDFLOW_DATA_DIR": str(data),
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert sorted(report["jobs_removed"]) == sorted([jobs["old"][0], jobs["lost"][0]])
        assert report["runs_removed"] == [str(jobs["old"][1])]
        assert not jobs["old"][1].exists()
        assert not (data / "frames" / "instagram" / "m" / jobs["old"][0]).exists()
        assert jobs["recent"][1].exists()
        with psycopg.connect(url) as conn:
            left = {str(r[0]) for r in conn.execute("SELECT id FROM jobs")}
        assert left == {jobs[n][0] for n in ("recent", "failed", "running")}
