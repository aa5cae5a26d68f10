"""``trendflow validate``: check a run directory against the contracts.

Returns a list of problems (empty when the run is valid). Checks: only ``manifest.json`` as JSON;
run metadata present; every component's status, artifacts and checksums; every NPZ's ``meta``
(producer/schema versions, config hashes, sampling and dataprocessor versions, models); empty
outputs marked with ``empty_reason`` and all-false ``*_present`` masks; idempotency keys; each
frame user's ``frame_indices`` equal the Segmenter's; the frames_dir (while kept) RGB with exactly
the union of the sampled frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trendflow.config import stable_hash
from trendflow.errors import MissingDependencyError, StoreError
from trendflow.segmenter.frames import FramesDir, union_of
from trendflow.store.manifest import MANIFEST_NAME, MANIFEST_SCHEMA, RunManifest
from trendflow.store.npz import REQUIRED_META, read_npz, sha256_file

SEGMENTER = "segmenter"
_RUN_KEYS = (
    "platform_id",
    "video_id",
    "run_id",
    "config_hash",
    "component_config_hashes",
    "sampling_policy_version",
    "dataprocessor_version",
)
_META_FROM_ENTRY = (
    "producer",
    "producer_version",
    "schema_version",
    "config_hash",
    "component_config_hash",
    "sampling_policy_version",
    "dataprocessor_version",
)


def validate_run(run_path: Path) -> list[str]:
    """Every way ``run_path`` breaks the contracts; ``[]`` when it keeps them all."""
    problems: list[str] = []
    if not (run_path / MANIFEST_NAME).exists():
        return [f"{run_path}: no {MANIFEST_NAME}"]
    try:
        manifest = RunManifest(run_path).read()
    except StoreError as error:
        return [str(error)]
    problems += _check_layout(run_path, manifest)
    run = manifest.get("run", {})
    components: dict[str, Any] = manifest.get("components", {})
    for name in run.get("components_enabled", []):
        if name not in components:
            problems.append(f"{name}: enabled but absent from the manifest")
    for name in run.get("required", []):
        if components.get(name, {}).get("status") == "failed":
            problems.append(f"{name}: required component failed: {components[name].get('error')}")
    segment_arrays: dict[str, Any] | None = None
    seg_entry = components.get(SEGMENTER)
    if seg_entry and seg_entry.get("status") == "ok":
        try:
            segment_arrays, _ = read_npz(run_path / SEGMENTER / "segmentation.npz")
        except StoreError as error:
            problems.append(str(error))
    for name, entry in sorted(components.items()):
        problems += [f"{name}: {p}" for p in _check_component(run_path, run, name, entry)]
        if segment_arrays is not None and entry.get("status") in {"ok", "empty"}:
            problems += _check_indices(run_path, name, entry, segment_arrays)
    if segment_arrays is not None:
        problems += _check_frames_dir(run, segment_arrays)
    return problems


def _check_layout(run_path: Path, manifest: dict[str, Any]) -> list[str]:
    problems = []
    if manifest.get("schema_version") != MANIFEST_SCHEMA:
        problems.append(f"manifest schema_version is not {MANIFEST_SCHEMA}")
    for extra in sorted(p for p in run_path.rglob("*.json") if p.name != MANIFEST_NAME):
        rel = extra.relative_to(run_path)
        problems.append(f"{rel}: JSON artifact (only manifest.json is allowed)")
    for path in sorted(run_path.rglob("*")):
        if path.is_file() and path.parent != run_path and path.suffix != ".npz":
            problems.append(f"{path.relative_to(run_path)}: not an NPZ artifact")
    run = manifest.get("run", {})
    problems += [f"manifest.run lacks {k}" for k in _RUN_KEYS if not run.get(k)]
    parts = (run.get("platform_id"), run.get("video_id"), run.get("run_id"))
    if parts != (run_path.parent.parent.name, run_path.parent.name, run_path.name):
        problems.append(f"manifest.run ids {parts} do not match the path {run_path}")
    return problems


def _check_component(run_path: Path, run: dict[str, Any], name: str, entry: Any) -> list[str]:
    problems: list[str] = []
    status = entry.get("status")
    if status not in {"ok", "empty", "failed"}:
        return [f"unknown status {status!r}"]
    if status == "failed":
        return [] if entry.get("error") else ["failed without an error message"]
    fields = entry.get("key_fields")
    if not isinstance(fields, dict) or stable_hash(fields) != entry.get("idempotency_key"):
        problems.append("idempotency_key does not match its key_fields")
    elif fields.get("component") != name or fields.get("run_id") != run.get("run_id"):
        problems.append("key_fields name another component or run")
    # A component the current config disables may keep the entry of an earlier config.
    expected_cc = run.get("component_config_hashes", {}).get(name)
    enabled = name in run.get("components_enabled", [name])
    if enabled and entry.get("component_config_hash") != expected_cc:
        problems.append("computed under another config than the run's current one")
    if status == "empty" and not entry.get("empty_reason"):
        problems.append("status empty without empty_reason")
    if not entry.get("artifacts"):
        problems.append("no artifacts")
    for artifact in entry.get("artifacts", []):
        path = run_path / artifact["path"]
        if artifact.get("purged_at"):
            if path.exists():
                problems.append(f"{artifact['path']}: marked purged but still present")
            continue
        if not path.exists():
            problems.append(f"{artifact['path']}: missing")
            continue
        if sha256_file(path) != artifact.get("sha256"):
            problems.append(f"{artifact['path']}: sha256 differs from the manifest")
            continue
        problems += [f"{artifact['path']}: {p}" for p in _check_npz(path, run, entry, artifact)]
    return problems


def _check_npz(path: Path, run: dict[str, Any], entry: Any, artifact: Any) -> list[str]:
    try:
        arrays, meta = read_npz(path)
    except StoreError as error:
        return [str(error)]
    problems = [f"meta lacks {k}" for k in REQUIRED_META if k not in meta]
    for key in _META_FROM_ENTRY:
        if key in meta and meta[key] != entry.get(key):
            problems.append(f"meta {key}={meta[key]!r} differs from the manifest's")
    for key in ("platform_id", "video_id", "run_id"):
        if meta.get(key) != run.get(key):
            problems.append(f"meta {key} is not the run's")
    if meta.get("models_used") != entry.get("models_used"):
        problems.append("meta models_used differs from the manifest's")
    masks = {k: v for k, v in arrays.items() if k.endswith("_present")}
    if not masks:
        problems.append("no *_present mask")
    reason = meta.get("empty_reason")
    if reason != artifact.get("empty_reason"):
        problems.append("empty_reason differs between meta and manifest")
    if reason:
        for key, mask in masks.items():
            if mask.dtype != np.bool_ or mask.any():
                problems.append(f"empty artifact but {key} marks present values")
    return problems


def _check_indices(run_path: Path, name: str, entry: Any, seg: dict[str, Any]) -> list[str]:
    key = f"frame_indices__{name}"
    if key not in seg:
        return []
    problems = []
    for artifact in entry.get("artifacts", []):
        path = run_path / artifact["path"]
        if artifact.get("purged_at") or not path.exists():
            continue
        try:
            arrays, _ = read_npz(path)
        except StoreError:
            continue
        if "frame_indices" in arrays and not np.array_equal(arrays["frame_indices"], seg[key]):
            problems.append(f"{name}: frame_indices differ from the segmenter's for it")
    return problems


def _check_frames_dir(run: dict[str, Any], seg: dict[str, Any]) -> list[str]:
    frames_path = run.get("frames_dir")
    if not frames_path or run.get("frames_purged_at"):
        return []
    frames = FramesDir(Path(frames_path))
    if not frames.path.exists():
        return [f"frames_dir {frames.path} is gone but the manifest does not record a purge"]
    try:
        meta = frames.metadata()
    except MissingDependencyError as error:
        return [f"frames_dir: {error}"]
    problems = []
    if meta.get("color_space") != "RGB":
        problems.append("frames_dir: color_space is not RGB")
    components = meta["components"].values()
    union = union_of(c["frame_indices"] for c in components)
    if not np.array_equal(union, np.asarray(meta["union_frame_indices"])):
        problems.append("frames_dir: union_frame_indices is not the union of the components'")
    if not np.array_equal(union, seg["union_frame_indices"]):
        problems.append("frames_dir: union differs from the segmenter artifact")
    for name, entry in meta["frame_files"].items():
        kept = union_of(c["frame_indices"] for c in components if c["frames_file"] == name)
        if not np.array_equal(kept, np.asarray(entry["frame_indices"])):
            problems.append(f"frames_dir: {name} does not hold the union of its readers' frames")
        if not (frames.path / name).exists():
            problems.append(f"frames_dir: {name} is gone but the manifest records no purge")
            continue
        stored = np.load(frames.path / name, mmap_mode="r")
        if stored.shape[0] != len(kept) or stored.ndim != 4 or stored.shape[3] != 3:
            problems.append(f"frames_dir: {name} shape {stored.shape} is not [frames, H, W, 3]")
    missing = {c["frames_file"] for c in components} - set(meta["frame_files"])
    if missing:
        problems.append(f"frames_dir: components read {sorted(missing)}, which are not listed")
    return problems
