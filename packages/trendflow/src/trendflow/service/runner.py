"""Running one job: get its input, run the DataProcessor, summarise the run.

One :class:`JobRunner` per worker process holds what jobs share: the model store (weights
verified once; ONNX sessions cached by the components), the ``gpu_max_concurrent`` semaphore
every job's DataProcessor takes its GPU slots from, the object store and the HTTP client.

The run lives at ``result_store/<platform>/<external_id>/<job id>/`` (manifest and NPZ only);
the downloaded media and a text job's items stay in ``work/<job id>/``, removed at the end.
A retried job reuses its run: components already computed are ``reused`` (the manifest's
idempotency keys say so).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import httpx
import structlog

from devstack.objectstore import ObjectStore
from trendflow.config import PipelineConfig
from trendflow.errors import InputError, TrendflowError
from trendflow.models.registry import ModelStore
from trendflow.pipeline.contracts import MediaKind, RunInputs
from trendflow.pipeline.image import decode_image
from trendflow.pipeline.service import DataProcessor, RunRequest, enabled_components
from trendflow.service import media, summary
from trendflow.service.errors import JobFailure
from trendflow.service.jobs import PREDICTION
from trendflow.service.repository import JobRow
from trendflow.store.manifest import run_dir

if TYPE_CHECKING:
    from trendflow.learn.predict import Predictor

log = structlog.get_logger("trendflow.service")

ProgressSink = Callable[[str, str], None]


@dataclass(frozen=True)
class Outcome:
    """A finished job's result (the contract's ``result``) and its run folder (None: a
    prediction, which writes none)."""

    result: dict[str, Any]
    run_dir: Path | None
    progress: dict[str, str]


@dataclass(frozen=True)
class Paths:
    result_store: Path
    frames_root: Path
    work_root: Path


class JobRunner:
    """Runs jobs in one worker process; see the module docstring."""

    def __init__(
        self,
        *,
        paths: Paths,
        models: ModelStore,
        store: ObjectStore,
        http: httpx.AsyncClient,
        gpu_slots: int,
        media_max_bytes: int,
        predictor: Predictor | None = None,
    ) -> None:
        self.predictor = predictor
        self.paths = paths
        self.models = models
        self.store = store
        self.http = http
        self.gpu = threading.Semaphore(gpu_slots)
        self.media_max_bytes = media_max_bytes

    def run_dir(self, job: JobRow) -> Path | None:
        if job.kind == PREDICTION:
            return None
        return run_dir(self.paths.result_store, job.platform, job.external_id, str(job.id))

    def components(self, job: JobRow) -> list[str]:
        if job.kind == PREDICTION:
            return [PREDICTION]
        config = PipelineConfig.model_validate(job.spec["config"])
        return [s.name for s in enabled_components(config, _kind(job))]

    async def run(self, job: JobRow, progress: ProgressSink) -> Outcome:
        """Run ``job``; raise :class:`JobFailure` with the error the job should show."""
        if job.kind == PREDICTION:
            progress(PREDICTION, "running")
            result = await asyncio.to_thread(self._predict, job)
            progress(PREDICTION, "computed")
            return Outcome(result=result, run_dir=None, progress={PREDICTION: "computed"})
        kind = _kind(job)
        config = PipelineConfig.model_validate(job.spec["config"])
        work = self.paths.work_root / str(job.id)
        work.mkdir(parents=True, exist_ok=True)
        states: dict[str, str] = {}

        def track(name: str, status: str) -> None:
            states[name] = status
            progress(name, status)

        try:
            inputs = await self._inputs(job, kind, work)
            request = RunRequest(
                platform_id=job.platform,
                video_id=job.external_id,
                run_id=str(job.id),
                inputs=inputs,
                result_store=self.paths.result_store,
                frames_root=self.paths.frames_root,
                kind=kind,
            )
            processor = DataProcessor(config, self.models, progress=track, gpu=self.gpu)
            try:
                report = await asyncio.to_thread(processor.run, request)
            except InputError as error:
                raise JobFailure("bad_media", str(error)) from error
            except TrendflowError as error:
                raise JobFailure("internal", str(error)) from error
            if report.required_failed:
                failures = "; ".join(
                    f"{n}: {report.components[n].error}" for n in report.required_failed
                )
                raise JobFailure("internal", f"required component(s) failed: {failures}")
            job_summary = await asyncio.to_thread(self._summary, job, kind, report.run_dir, config)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        result = {
            "summary": job_summary,
            "manifest_url": summary.MANIFEST_URL.format(job_id=job.id),
            "artifacts": summary.artifact_links(report.run_dir, str(job.id)),
        }
        return Outcome(result=result, run_dir=report.run_dir, progress=states)

    def _predict(self, job: JobRow) -> dict[str, Any]:
        """A forecast from the job's history and the newest video run of the same video."""
        # Imported by the one job kind that needs them: LightGBM and pyarrow load on first use.
        from trendflow.learn.features import feature_row  # noqa: PLC0415
        from trendflow.learn.snapshots import SnapshotError, history_of  # noqa: PLC0415

        predictor = self.predictor
        if predictor is None:
            raise JobFailure("internal", "this worker has no prediction model", retryable=False)
        wanted = job.spec["model"]["model_version"]
        if predictor.model_version != wanted:  # a retrained model: the other process restarts
            raise JobFailure(
                "internal",
                f"the job asks for model {wanted}; this worker has {predictor.model_version}",
            )
        spec = job.spec["history"]
        shared = {
            "platform": job.platform,
            "video_id": job.external_id,
            "published_at": spec["published_at"],
            "channel": spec.get("channel"),
            "caption": spec.get("caption"),
            "channel_followers": spec.get("channel_followers"),
        }
        try:
            history = history_of(
                [{**shared, **o} for o in spec["observations"]], where="the job's history"
            )
        except SnapshotError as error:
            raise JobFailure("bad_input", str(error)) from error
        named = job.spec.get("features_run")  # chosen when the job was posted
        run = self.paths.result_store / job.platform / job.external_id / named if named else None
        if run is not None and not (run / "manifest.json").is_file():
            raise JobFailure("bad_input", f"the video's run {named} is gone (removed by gc?)")
        row = feature_row(history, run_dir=run, observation_hours=predictor.observation_hours)
        forecast = predictor.predict(row)
        return {
            "summary": summary.prediction_summary(forecast, features_job=run.name if run else None),
            "manifest_url": None,
            "artifacts": [],
        }

    def _summary(
        self, job: JobRow, kind: MediaKind, run: Path, config: PipelineConfig
    ) -> dict[str, Any]:
        if kind == "text":
            return summary.text_summary(run)
        return summary.media_summary(
            run,
            kind,
            self.models,
            config.components.asr_extractor.model,
            list(job.spec.get("not_installed", [])),
        )

    async def _inputs(self, job: JobRow, kind: MediaKind, work: Path) -> RunInputs:
        if kind == "text":
            items = work / "items.jsonl"
            lines = (json.dumps(item, ensure_ascii=False) for item in job.spec["texts"])
            items.write_text("\n".join(lines) + "\n", encoding="utf-8")
            brands = work / "brands.json"
            brands.write_text(json.dumps(job.spec["brands"], sort_keys=True), encoding="utf-8")
            return RunInputs(items=items, brands=brands)
        source = job.spec["media"]
        if "key" in source:
            path = await media.from_store(
                self.store, source["key"], work / "media", max_bytes=self.media_max_bytes
            )
        else:
            path = await media.download(
                self.http, source["url"], work / "media", max_bytes=self.media_max_bytes
            )
        await asyncio.to_thread(_check_decodable, path, kind)
        return RunInputs(video=path)


def _kind(job: JobRow) -> MediaKind:
    if job.kind == "image":
        return "image"
    if job.kind == "text":
        return "text"
    return "video"


def _check_decodable(path: Path, kind: MediaKind) -> None:
    """Fail fast with ``bad_media`` on a file that is not the image or video it should be."""
    if kind == "image":
        try:
            decode_image(path)
        except InputError as error:
            raise JobFailure("bad_media", str(error)) from error
        return
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise JobFailure("bad_media", "the file has no video stream")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise JobFailure("bad_media", f"not a video FFmpeg can open: {error}") from error
