"""DataProcessor: one video per job, components in parallel, idempotent against the manifest.

A component is *reused* when the manifest already holds its entry with the same idempotency key
and every artifact still matches its recorded sha256; otherwise it is computed, its NPZ files are
written atomically, and its manifest entry is upserted last. A failed optional component is
recorded with its error and the run goes on; its dependents fail with a message naming it.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from trendflow.config import PipelineConfig, stable_hash
from trendflow.errors import InputError, MissingDependencyError, StoreError
from trendflow.models.registry import ModelStore
from trendflow.pipeline.components import SEGMENTER, ComponentSpec, components_for, known_names
from trendflow.pipeline.contracts import ComponentResult, Context, MediaKind, RunInputs
from trendflow.segmenter.frames import FramesDir
from trendflow.store.manifest import RunManifest, run_dir
from trendflow.store.npz import read_npz, sha256_file, write_npz
from trendflow.versions import DATAPROCESSOR_VERSION, PLATFORMS, SAMPLING_POLICY_VERSION

log = structlog.get_logger("trendflow.pipeline")

Status = Literal["computed", "reused", "empty", "failed"]
ProgressCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class RunRequest:
    """One job: a video (the default), an image, or a text job's items.

    ``video_id`` is the media's (or the post's) id on the platform; it names the run's folder.
    """

    platform_id: str
    video_id: str
    run_id: str
    inputs: RunInputs
    result_store: Path
    frames_root: Path
    kind: MediaKind = "video"


@dataclass
class ComponentReport:
    """What happened to one component in this invocation."""

    status: Status
    empty_reason: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    artifacts: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "duration_s": round(self.duration_s, 3)}
        if self.empty_reason is not None:
            out["empty_reason"] = self.empty_reason
        if self.error is not None:
            out["error"] = self.error
        out["artifacts"] = self.artifacts
        return out


@dataclass(frozen=True)
class RunReport:
    run_id: str
    run_dir: Path
    components: dict[str, ComponentReport]
    required_failed: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "components": {n: r.as_json() for n, r in self.components.items()},
        }


def enabled_components(config: PipelineConfig, kind: MediaKind = "video") -> list[ComponentSpec]:
    """Components of a ``kind`` job that run under ``config``; a disabled dependency disables
    its dependents."""
    specs = components_for(kind)
    names = known_names()
    unknown = sorted(set(config.disabled) - names) + sorted(set(config.required) - names)
    if unknown:
        raise InputError(f"unknown component name(s) {unknown}; known: {sorted(names)}")
    if SEGMENTER in config.disabled:
        raise InputError("the segmenter cannot be disabled: every other component reads it")
    kept: list[ComponentSpec] = []
    for spec in specs:
        if spec.name in config.disabled:
            continue
        if all(dep in {k.name for k in kept} for dep in spec.depends_on):
            kept.append(spec)
    return kept


def component_config_hash(spec: ComponentSpec, config: PipelineConfig) -> str:
    """Hash of only the config this component reads."""
    return stable_hash({"component": spec.name, "settings": spec.settings(config)})


def _file_fingerprint(path: Path | None) -> str:
    return sha256_file(path) if path is not None else "absent"


@dataclass(frozen=True)
class _RunState:
    """What every component execution of one run shares."""

    request: RunRequest
    manifest: RunManifest
    rdir: Path
    frames_dir: FramesDir
    config_hash: str
    video_sha: str
    cc_hashes: dict[str, str]
    keys: dict[str, str]
    key_fields: dict[str, dict[str, Any]]
    log: Any

    def upstream(self, component: str, artifact: str) -> tuple[dict[str, Any], dict[str, Any]]:
        path = self.rdir / component / f"{artifact}.npz"
        if not path.exists():
            raise MissingDependencyError(component, f"{component}/{artifact}.npz", str(path))
        return read_npz(path)


class DataProcessor:
    """Runs one video job against the result store."""

    def __init__(
        self,
        config: PipelineConfig,
        models: ModelStore,
        *,
        progress: ProgressCallback | None = None,
        gpu: threading.Semaphore | None = None,
    ) -> None:
        """``gpu``: the ``gpu_max_concurrent`` slots; a worker that runs several jobs at once
        passes one semaphore to all its processors, so the limit holds across jobs."""
        self.config = config
        self.models = models
        self.progress = progress or (lambda _name, _status: None)
        self.gpu = gpu or threading.Semaphore(config.gpu_max_concurrent)

    def run(self, request: RunRequest) -> RunReport:
        """Process one job; return the per-component report (never raises for a component)."""
        specs = enabled_components(self.config, request.kind)
        state = self._prepare(request, specs)
        state.log.info("run.start", config_hash=state.config_hash, components=len(specs))
        reports = self._schedule(specs, state)
        required_failed = [
            n for n in self.config.required if n in reports and reports[n].status == "failed"
        ]
        state.manifest.upsert_run(
            {
                "finished_at": datetime.now(UTC).isoformat(),
                "status": "failed" if required_failed else "succeeded",
            }
        )
        ordered = {s.name: reports[s.name] for s in specs}
        state.log.info("run.done", statuses={n: r.status for n, r in ordered.items()})
        return RunReport(request.run_id, state.rdir, ordered, required_failed)

    def _prepare(self, request: RunRequest, specs: list[ComponentSpec]) -> _RunState:
        if request.platform_id not in PLATFORMS:
            raise InputError(f"platform {request.platform_id!r} is not supported; use {PLATFORMS}")
        inputs = request.inputs
        for label, path in (
            ("video", inputs.video),
            ("meta", inputs.meta),
            ("comments", inputs.comments),
            ("items", inputs.items),
            ("brands", inputs.brands),
        ):
            if path is not None and not path.is_file():
                raise InputError(f"{label} file {path} does not exist")
        if request.kind != "text" and inputs.video is None:
            raise InputError(f"a {request.kind} job needs its media file")
        rdir = run_dir(request.result_store, request.platform_id, request.video_id, request.run_id)
        frames_dir = FramesDir(
            request.frames_root / request.platform_id / request.video_id / request.run_id
        )
        manifest = RunManifest(rdir)
        config_hash = self.config.config_hash()
        video_sha = _file_fingerprint(inputs.video)
        text_inputs = {
            "meta": _file_fingerprint(inputs.meta),
            "comments": _file_fingerprint(inputs.comments),
        }
        # Only when given: a video run's text key stays what it was before text jobs existed.
        for label, path in (("items", inputs.items), ("brands", inputs.brands)):
            if path is not None:
                text_inputs[label] = _file_fingerprint(path)
        inputs_fp = {"video": video_sha, "text": stable_hash(text_inputs)}
        cc_hashes = {s.name: component_config_hash(s, self.config) for s in specs}
        keys: dict[str, str] = {}
        key_fields: dict[str, dict[str, Any]] = {}
        for spec in specs:
            fields = self._key_fields(spec, request, cc_hashes[spec.name], inputs_fp, keys)
            key_fields[spec.name] = fields
            keys[spec.name] = stable_hash(fields)
        now = datetime.now(UTC).isoformat()
        previous = manifest.read()
        manifest.upsert_run(
            {
                "platform_id": request.platform_id,
                "video_id": request.video_id,
                "run_id": request.run_id,
                "config_hash": config_hash,
                "config": self.config.model_dump(mode="json"),
                "component_config_hashes": cc_hashes,
                "sampling_policy_version": SAMPLING_POLICY_VERSION,
                "dataprocessor_version": DATAPROCESSOR_VERSION,
                "created_at": previous["run"].get("created_at", now),
                "updated_at": now,
                "media_kind": request.kind,
                "inputs": {
                    "video": str(inputs.video) if inputs.video else None,
                    "video_sha256": video_sha,
                    "meta": str(inputs.meta) if inputs.meta else None,
                    "comments": str(inputs.comments) if inputs.comments else None,
                    **{
                        label: str(path)
                        for label, path in (("items", inputs.items), ("brands", inputs.brands))
                        if path is not None
                    },
                },
                "frames_dir": str(frames_dir.path),
                "components_enabled": [s.name for s in specs],
                "required": list(self.config.required),
            }
        )
        bound = log.bind(
            platform_id=request.platform_id, video_id=request.video_id, run_id=request.run_id
        )
        return _RunState(
            request=request,
            manifest=manifest,
            rdir=rdir,
            frames_dir=frames_dir,
            config_hash=config_hash,
            video_sha=video_sha,
            cc_hashes=cc_hashes,
            keys=keys,
            key_fields=key_fields,
            log=bound,
        )

    def _schedule(self, specs: list[ComponentSpec], state: _RunState) -> dict[str, ComponentReport]:
        """Run components as their dependencies finish, ``max_workers`` at a time."""
        reports: dict[str, ComponentReport] = {}
        pending = {s.name: s for s in specs}
        running: dict[Future[ComponentReport], str] = {}
        with ThreadPoolExecutor(max_workers=self.config.max_workers) as pool:
            while pending or running:
                for name, spec in list(pending.items()):
                    if any(dep in pending or dep in running.values() for dep in spec.depends_on):
                        continue
                    del pending[name]
                    failed = [d for d in spec.depends_on if reports[d].status == "failed"]
                    if failed:
                        reports[name] = self._dependency_failed(spec, failed[0], state)
                        self.progress(name, "failed")
                        continue
                    running[pool.submit(self._execute, spec, state)] = name
                if not running:
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    reports[name] = future.result()
                    self.progress(name, reports[name].status)
        return reports

    def _entry_base(self, spec: ComponentSpec, state: _RunState) -> dict[str, Any]:
        return {
            "producer": spec.producer,
            "producer_version": spec.version,
            "schema_version": spec.schema,
            "depends_on": list(spec.depends_on),
            "config_hash": state.config_hash,
            "component_config_hash": state.cc_hashes[spec.name],
            "sampling_policy_version": SAMPLING_POLICY_VERSION,
            "dataprocessor_version": DATAPROCESSOR_VERSION,
            "idempotency_key": state.keys[spec.name],
            "key_fields": state.key_fields[spec.name],
            "optional": spec.name not in self.config.required,
            "started_at": datetime.now(UTC).isoformat(),
        }

    def _dependency_failed(
        self, spec: ComponentSpec, dependency: str, state: _RunState
    ) -> ComponentReport:
        message = f"MissingDependencyError: dependency {dependency!r} failed"
        state.manifest.upsert_component(
            spec.name,
            {
                **self._entry_base(spec, state),
                "status": "failed",
                "error": message,
                "artifacts": [],
                "empty_reason": None,
                "models_used": [],
                "finished_at": datetime.now(UTC).isoformat(),
            },
        )
        return ComponentReport("failed", error=message)

    def _execute(self, spec: ComponentSpec, state: _RunState) -> ComponentReport:
        self.progress(spec.name, "running")
        began = time.perf_counter()
        existing = state.manifest.read()["components"].get(spec.name)
        if existing is not None and self._reusable(spec, existing, state):
            state.log.info("component.reused", component=spec.name)
            return ComponentReport(
                "reused",
                empty_reason=existing.get("empty_reason"),
                artifacts=[a["path"] for a in existing["artifacts"]],
                duration_s=time.perf_counter() - began,
            )
        ctx = Context(
            component=spec.name,
            config=self.config,
            inputs=state.request.inputs,
            frames=state.frames_dir,
            models=self.models,
            upstream=state.upstream,
            config_hash=state.config_hash,
            video_sha256=state.video_sha,
        )
        entry_base = self._entry_base(spec, state)
        try:
            # gpu_max_concurrent: GPU-heavy components wait for a slot; the slot's times are
            # recorded so the limit is auditable from the manifest.
            with self.gpu if spec.gpu else contextlib.nullcontext():
                acquired = datetime.now(UTC).isoformat()
                result = spec.run(ctx)
                released = datetime.now(UTC).isoformat()
            if spec.gpu:
                entry_base["gpu_slot"] = {"acquired_at": acquired, "released_at": released}
            artifacts = self._write(spec, result, state.rdir, entry_base, state.request)
        except Exception as error:  # noqa: BLE001  # one component's failure is reported, not fatal
            message = f"{type(error).__name__}: {error}"
            state.log.error(
                "component.failed",
                component=spec.name,
                error=message,
                traceback=traceback.format_exc(),
            )
            state.manifest.upsert_component(
                spec.name,
                {
                    **entry_base,
                    "status": "failed",
                    "error": message,
                    "artifacts": [],
                    "empty_reason": None,
                    "models_used": [],
                    "finished_at": datetime.now(UTC).isoformat(),
                },
            )
            return ComponentReport("failed", error=message, duration_s=time.perf_counter() - began)
        if spec.name == SEGMENTER:
            state.manifest.upsert_run({"frames_purged_at": None})
        reason = result.empty_reason
        state.manifest.upsert_component(
            spec.name,
            {
                **entry_base,
                "status": "empty" if reason else "ok",
                "empty_reason": reason,
                "error": None,
                "artifacts": artifacts,
                "models_used": result.models_used,
                "finished_at": datetime.now(UTC).isoformat(),
                "duration_s": round(time.perf_counter() - began, 3),
            },
        )
        state.log.info("component.done", component=spec.name, empty_reason=reason)
        return ComponentReport(
            "empty" if reason else "computed",
            empty_reason=reason,
            artifacts=[a["path"] for a in artifacts],
            duration_s=time.perf_counter() - began,
        )

    def _key_fields(
        self,
        spec: ComponentSpec,
        request: RunRequest,
        cc_hash: str,
        inputs_fp: dict[str, str],
        keys: dict[str, str],
    ) -> dict[str, Any]:
        models = []
        for name in spec.models(self.config):
            model = self.models.spec(name)
            models.append(f"{model.name}@{model.version}#{model.sha256 or 'unpinned'}")
        source = inputs_fp["text"] if spec.reads == "text" else inputs_fp["video"]
        return {
            "platform_id": request.platform_id,
            "video_id": request.video_id,
            "run_id": request.run_id,
            "component": spec.name,
            "component_config_hash": cc_hash,
            "sampling_policy_version": SAMPLING_POLICY_VERSION,
            "dataprocessor_version": DATAPROCESSOR_VERSION,
            "versions": {"producer": spec.version, "schema": spec.schema, "models": models},
            "input": source,
            # A module is keyed on its upstream core provider's key; frame users on their own
            # sampling policy (in their config slice), not on the whole segmenter.
            "upstream": {d: keys[d] for d in spec.depends_on if d != SEGMENTER},
        }

    def _reusable(self, spec: ComponentSpec, entry: dict[str, Any], state: _RunState) -> bool:
        rdir, frames_dir = state.rdir, state.frames_dir
        if entry.get("idempotency_key") != state.keys[spec.name]:
            return False
        if entry.get("status") not in {"ok", "empty"}:
            return False
        for artifact in entry.get("artifacts", []):
            if artifact.get("purged_at"):
                continue
            path = rdir / artifact["path"]
            if not path.exists() or sha256_file(path) != artifact["sha256"]:
                return False
        # Frames are kept 7 days; once purged the segmenter must decode again.
        return spec.name != SEGMENTER or frames_dir.intact()

    def _write(
        self,
        spec: ComponentSpec,
        result: ComponentResult,
        rdir: Path,
        entry_base: dict[str, Any],
        request: RunRequest,
    ) -> list[dict[str, Any]]:
        component_dir = rdir / spec.name
        written: list[dict[str, Any]] = []
        names = [a.name for a in result.artifacts]
        if len(set(names)) != len(names) or not names:
            raise StoreError(f"{spec.name} returned artifact names {names}")
        for artifact in result.artifacts:
            if not any(key.endswith("_present") for key in artifact.arrays):
                raise StoreError(f"{spec.name}/{artifact.name} has no *_present mask")
            meta = {
                "producer": spec.producer,
                "producer_version": spec.version,
                "schema_version": spec.schema,
                "config_hash": entry_base["config_hash"],
                "component_config_hash": entry_base["component_config_hash"],
                "sampling_policy_version": SAMPLING_POLICY_VERSION,
                "dataprocessor_version": DATAPROCESSOR_VERSION,
                "models_used": result.models_used,
                "platform_id": request.platform_id,
                "video_id": request.video_id,
                "run_id": request.run_id,
                "component": spec.name,
                "artifact": artifact.name,
                "empty_reason": artifact.empty_reason,
                "created_at": datetime.now(UTC).isoformat(),
            }
            path = component_dir / f"{artifact.name}.npz"
            digest = write_npz(path, artifact.arrays, meta)
            written.append(
                {
                    "path": f"{spec.name}/{artifact.name}.npz",
                    "sha256": digest,
                    "bytes": path.stat().st_size,
                    "empty_reason": artifact.empty_reason,
                    "retention": artifact.retention,
                }
            )
        _remove_stale(component_dir, {f"{n}.npz" for n in names})
        return written


def _remove_stale(component_dir: Path, keep: Iterable[str]) -> None:
    keep_set = set(keep)
    for path in component_dir.iterdir():
        if path.name not in keep_set:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
