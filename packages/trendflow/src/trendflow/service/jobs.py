"""Submitting and reading jobs: the service behind the routes (no FastAPI, no Temporal here).

A job's **idempotency key** is the seed's: a hash of its kind, platform, external id, input
fingerprint, config hash and versions. The input fingerprint of a media key is the key (keys are
content addressed); of a link, the link without its query (a CDN signs the same file anew each
time); of texts, their ids and words. Posting a job whose key an existing job holds returns that
job; a job that failed with a retryable error gives its key up, so posting it again starts anew.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from trendflow.config import PipelineConfig, load_config, stable_hash
from trendflow.errors import ConfigError, TrendflowError
from trendflow.models.registry import ModelStore
from trendflow.pipeline.components import IMAGE_COMPONENTS, SEGMENTER
from trendflow.pipeline.contracts import MediaKind
from trendflow.pipeline.service import enabled_components
from trendflow.service import repository, summary
from trendflow.service.errors import IdempotencyKeyReused, InvalidJob
from trendflow.service.repository import JobRow
from trendflow.service.schemas import (
    JobConfig,
    MediaJobRequest,
    MediaKey,
    PredictionJobRequest,
    TextJobRequest,
)
from trendflow.settings import Settings
from trendflow.text import features as text
from trendflow.versions import DATAPROCESSOR_VERSION, SAMPLING_POLICY_VERSION

if TYPE_CHECKING:
    from trendflow.learn.predict import Predictor

# Components whose weights are not pinned in the registry (or too big to fetch on first use):
# they run where installed and are skipped, named in the summary, where not.
WHERE_INSTALLED = ("core_clip", "core_depth_midas")
# A video job has no meta or comments (texts are text jobs): these would only ever be empty.
NO_INPUT_IN_VIDEO_JOBS = (text.METADATA, text.COMMENTS)
# What an image or video summary is made of: their failure fails the job.
REQUIRED_VISUAL = (SEGMENTER, "core_object_detections", "core_face_landmarks", "ocr_text")
REQUIRED_VISUAL_ALL = (*REQUIRED_VISUAL, "color_motion")
_INSTALLED_TTL_S = 60.0

JobRequestBody = MediaJobRequest | TextJobRequest | PredictionJobRequest
PREDICTION = "prediction"  # the one component of a prediction job (its progress)


def load_brands(path: Path | None) -> dict[str, list[str]]:
    """The brand dictionary: a YAML/JSON list of names or mapping name -> aliases."""
    if path is None:
        return dict(text.DEFAULT_BRANDS)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the brand dictionary {path}: {error}") from error
    if isinstance(doc, list) and all(isinstance(name, str) for name in doc):
        return {name: [name.lower()] for name in doc}
    if isinstance(doc, dict) and all(
        isinstance(aliases, list | None) and all(isinstance(a, str) for a in aliases or [])
        for aliases in doc.values()
    ):
        return {str(name): [str(a) for a in aliases or []] for name, aliases in doc.items()}
    raise ConfigError(
        f"the brand dictionary {path} must be a list of names or a mapping name -> [aliases]"
    )


@dataclass
class Catalog:
    """What jobs are planned from: the server's config, its models (specs), its brands."""

    base: PipelineConfig
    models: ModelStore
    brands: dict[str, list[str]]
    predictor: Predictor | None = None
    result_store: Path | None = None  # where prediction jobs look for a video's runs
    _installed: dict[str, tuple[bool, float]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        base = load_config(settings.config)
        models = ModelStore(settings.models_dir, base.models, download=settings.model_download)
        predictor = load_predictor(settings.prediction_model)
        return cls(
            base=base,
            models=models,
            brands=load_brands(settings.brands_file),
            predictor=predictor,
            result_store=settings.result_store(),
        )

    @property
    def brands_sha(self) -> str:
        return stable_hash(self.brands)

    def installed(self, model: str) -> bool:
        """Whether ``model``'s pinned weights are installed (cached a minute: hashing is slow)."""
        known = self._installed.get(model)
        if known is not None and (known[0] or time.monotonic() - known[1] < _INSTALLED_TTL_S):
            return known[0]
        try:
            spec = self.models.spec(model)
            present = (self.models.root / spec.relpath).exists() and self.models.installed(model)
        except TrendflowError:
            present = False
        self._installed[model] = (present, time.monotonic())
        return present


def load_predictor(model_dir: Path | None) -> Predictor | None:
    """The prediction model of ``TRENDFLOW_PREDICTION_MODEL`` (None when it is not set)."""
    if model_dir is None:
        return None
    from trendflow.learn.predict import Predictor  # noqa: PLC0415 - LightGBM: only when set

    return Predictor.load(model_dir)


@dataclass(frozen=True)
class Plan:
    """A job as it will run: resolved config, versions, keys, and what the worker needs."""

    config: PipelineConfig
    versions: dict[str, Any]
    idempotency_key: str
    spec: dict[str, Any]
    config_hash: str


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config(
    catalog: Catalog, kind: MediaKind, overrides: JobConfig | None
) -> tuple[PipelineConfig, list[str]]:
    """The job's pipeline config and the optional components skipped as not installed."""
    data = catalog.base.model_dump(mode="json")
    disabled = list(data.get("disabled", []))
    if overrides is not None:
        change = overrides.model_dump(mode="json", exclude_none=True)
        disabled += change.pop("disabled", [])
        data = _merge(data, change)
    if kind == "video":
        disabled += NO_INPUT_IN_VIDEO_JOBS
    not_installed: list[str] = []
    if kind != "text":
        for name in WHERE_INSTALLED:
            if name in disabled or (kind == "image" and name not in IMAGE_COMPONENTS):
                continue
            model = getattr(catalog.base.components, name).model
            if not catalog.installed(model):
                not_installed.append(name)
                disabled.append(name)
    data["disabled"] = sorted(set(disabled))
    wanted = (
        [text.ITEMS]
        if kind == "text"
        else [*REQUIRED_VISUAL_ALL, *(n for n in data.get("required", []) if n != text.ITEMS)]
    )
    data["required"] = [n for n in dict.fromkeys(wanted) if n not in data["disabled"]]
    try:
        config = PipelineConfig.model_validate(data)
        specs = enabled_components(config, kind)
    except (ValidationError, TrendflowError) as error:
        raise InvalidJob(f"the job's config cannot run: {error}") from error
    names = {s.name for s in specs}
    config = config.model_copy(update={"required": [n for n in config.required if n in names]})
    return config, not_installed


def fingerprint(request: MediaJobRequest | TextJobRequest) -> str:
    """What identifies the job's input (see the module docstring)."""
    if isinstance(request, TextJobRequest):
        return "texts:" + stable_hash([[item.id, item.text] for item in request.texts])
    if isinstance(request.media, MediaKey):
        return "key:" + request.media.key
    try:
        parts = urlsplit(request.media.url)
    except ValueError:  # not a URL urllib can split: the whole string identifies it
        return "url:" + request.media.url
    return f"url:{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"


def plan_prediction(catalog: Catalog, request: PredictionJobRequest) -> Plan:
    """A prediction job: the model's version is its config; the history is its input."""
    if catalog.predictor is None:
        raise InvalidJob(
            "this server has no prediction model: set TRENDFLOW_PREDICTION_MODEL to a folder "
            "made by `trendflow train`",
            field="kind",
        )
    history = request.model_dump(
        mode="json", include={"published_at", "observations", "channel", "caption"}
    )
    history["channel_followers"] = request.channel_followers
    # The run whose content features the forecast uses is part of the job: the same history
    # posted again once the video has been analysed is a new forecast, not the old one.
    from trendflow.learn.features import latest_run  # noqa: PLC0415 - pyarrow: prediction only

    run = (
        latest_run(catalog.result_store, request.platform, request.external_id)
        if catalog.result_store is not None
        else None
    )
    model = {
        "model_version": catalog.predictor.model_version,
        "observation_hours": catalog.predictor.observation_hours,
    }
    versions: dict[str, Any] = {"dataprocessor": DATAPROCESSOR_VERSION, "model": model}
    key = stable_hash(
        {
            "kind": request.kind,
            "platform": request.platform,
            "external_id": request.external_id,
            "input": "history:" + stable_hash(history),
            "features_run": run.name if run else None,
            "config_hash": stable_hash(model),
            "versions": versions,
        }
    )
    return Plan(
        config=catalog.base,
        versions=versions,
        idempotency_key=key,
        spec={"history": history, "model": model, "features_run": run.name if run else None},
        config_hash=stable_hash(model),
    )


def plan(catalog: Catalog, request: JobRequestBody) -> Plan:
    if isinstance(request, PredictionJobRequest):
        return plan_prediction(catalog, request)
    kind: MediaKind = request.kind
    config, not_installed = resolve_config(catalog, kind, request.config)
    specs = enabled_components(config, kind)
    models: dict[str, str] = {}
    for spec in specs:
        for name in spec.models(config):
            model = catalog.models.spec(name)
            models[name] = f"{model.version}#{(model.sha256 or 'unpinned')[:12]}"
    versions: dict[str, Any] = {
        "dataprocessor": DATAPROCESSOR_VERSION,
        "sampling_policy": SAMPLING_POLICY_VERSION,
        "components": {s.name: s.version for s in specs},
        "models": models,
    }
    spec_doc: dict[str, Any] = {
        "config": config.model_dump(mode="json"),
        "not_installed": not_installed,
    }
    if isinstance(request, TextJobRequest):
        versions["brand_dictionary"] = catalog.brands_sha[:16]
        spec_doc["texts"] = [item.model_dump() for item in request.texts]
        spec_doc["brands"] = catalog.brands
    else:
        spec_doc["media"] = request.media.model_dump()
    key = stable_hash(
        {
            "kind": kind,
            "platform": request.platform,
            "external_id": request.external_id,
            "input": fingerprint(request),
            "config_hash": config.config_hash(),
            "versions": versions,
        }
    )
    return Plan(
        config=config,
        versions=versions,
        idempotency_key=key,
        spec=spec_doc,
        config_hash=config.config_hash(),
    )


@dataclass(frozen=True)
class Submitted:
    job: JobRow
    created: bool


async def submit(
    engine: AsyncEngine, catalog: Catalog, request: JobRequestBody, *, header_key: str | None
) -> Submitted:
    """Find or create the job; raise :class:`IdempotencyKeyReused` or :class:`InvalidJob`."""
    job_plan = plan(catalog, request)
    body_hash = stable_hash(request.model_dump(mode="json"))
    async with engine.begin() as conn:
        if header_key is not None:
            bound = await repository.request_key(conn, header_key)
            if bound is not None:
                if bound[0] != body_hash:
                    raise IdempotencyKeyReused(header_key, str(bound[1]))
                previous = await repository.get(conn, bound[1])
                if previous is not None and not previous.retryable_failure:
                    return Submitted(previous, created=False)
        row, created = await repository.insert_job(
            conn,
            {
                "id": uuid.uuid4(),
                "kind": request.kind,
                "platform": request.platform,
                "external_id": request.external_id,
                "idempotency_key": job_plan.idempotency_key,
                "config_hash": job_plan.config_hash,
                "versions": job_plan.versions,
                "spec": job_plan.spec,
                "webhook_url": request.webhook_url,
            },
        )
        if header_key is not None:
            bound_hash, bound_job = await repository.remember_request_key(
                conn, header_key, body_hash, row.id
            )
            if bound_hash != body_hash:  # another body won the race for this header
                raise IdempotencyKeyReused(header_key, str(bound_job))
    return Submitted(row, created)


def parse_id(job_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


async def get(engine: AsyncEngine, job_id: str) -> JobRow | None:
    """The job, or None for an id that names none (malformed ids included)."""
    parsed = parse_id(job_id)
    if parsed is None:
        return None
    async with engine.connect() as conn:
        return await repository.get(conn, parsed)


def job_json(row: JobRow) -> dict[str, Any]:
    """The job JSON of the contract (the API's answer and the webhook's body)."""
    return {
        "id": str(row.id),
        "kind": row.kind,
        "status": row.status,
        "platform": row.platform,
        "external_id": row.external_id,
        "idempotency_key": row.idempotency_key,
        "config_hash": row.config_hash,
        "versions": row.versions,
        "created_at": row.created_at.isoformat(),
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "progress": row.progress,
        "error": row.error,
        "result": row.result,
    }


class UnsafePath(InvalidJob):
    """An artifact path that tries to leave the run folder."""


def artifact_file(row: JobRow, path: str) -> Path | None:
    """The file of one of the job's artifacts (or its manifest); None when there is none.

    Only the manifest and the artifacts it lists (not purged) are served; a path with ``..``,
    a backslash or an absolute path is refused with :class:`UnsafePath`.
    """
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or "\x00" in path or ".." in parts:
        raise UnsafePath(f"artifact path {path!r} leaves the run folder")
    if row.run_dir is None:
        return None
    run = Path(row.run_dir)
    if not summary.listed(run, path):
        return None
    target = (run / path).resolve()
    if not target.is_relative_to(run.resolve()) or not target.is_file():
        return None
    return target


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
