"""A job's summary: the presentation layer over its run's NPZ artifacts (the source of truth).

Read from the run directory and its manifest (and, for the mean colour, the frames the
Segmenter kept); a component that did not run or whose artifact is gone reads as ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.errors import StoreError, TrendflowError
from trendflow.models.registry import ModelStore
from trendflow.pipeline.contracts import MediaKind
from trendflow.segmenter.frames import FramesDir
from trendflow.store.manifest import MANIFEST_NAME, RunManifest
from trendflow.store.npz import read_npz
from trendflow.text import features as text
from trendflow.visual import core_faces, core_objects, ocr

MANIFEST_URL = "/v1/jobs/{job_id}/artifacts/manifest.json"
ARTIFACT_URL = "/v1/jobs/{job_id}/artifacts/{path}"


def _artifact(run: Path, manifest: dict[str, Any], component: str, name: str) -> Any:
    entry = manifest["components"].get(component)
    if entry is None or entry.get("status") not in {"ok", "empty"}:
        return None
    rel = f"{component}/{name}.npz"
    listed = next((a for a in entry.get("artifacts", []) if a["path"] == rel), None)
    if listed is None or listed.get("purged_at") or not (run / rel).exists():
        return None
    arrays, _ = read_npz(run / rel)
    return arrays


def _faces(arrays: dict[str, NDArray[Any]] | None) -> int | None:
    if arrays is None:
        return None
    per_frame = arrays["face_present"].sum(axis=1)
    return int(per_frame.max()) if per_frame.size else 0


def _objects(arrays: dict[str, NDArray[Any]] | None) -> list[dict[str, Any]]:
    if arrays is None:
        return []
    names = [str(n) for n in arrays["class_names"]]
    present, classes, scores = (
        arrays["detection_present"],
        arrays["class_ids"],
        arrays["scores"],
    )
    seen: dict[int, dict[str, Any]] = {}
    for frame in range(present.shape[0]):
        in_frame = set()
        for slot in np.nonzero(present[frame])[0]:
            cls = int(classes[frame, slot])
            best = seen.setdefault(cls, {"label": names[cls], "score": 0.0, "frames": 0})
            best["score"] = max(best["score"], round(float(scores[frame, slot]), 4))
            in_frame.add(cls)
        for cls in in_frame:
            seen[cls]["frames"] += 1
    return sorted(seen.values(), key=lambda o: (-o["frames"], -o["score"], o["label"]))


def _text_on_screen(arrays: dict[str, NDArray[Any]] | None) -> str | None:
    if arrays is None:
        return None
    words: dict[str, None] = {}
    for string, present in zip(arrays["text"].ravel(), arrays["text_present"].ravel(), strict=True):
        if present and str(string).strip():
            words.setdefault(" ".join(str(string).split()), None)
    return " ".join(words)


def _colour(
    frames: FramesDir | None, colour: dict[str, NDArray[Any]] | None
) -> dict[str, Any] | None:
    if colour is None or frames is None:
        return None
    try:
        _, pixels = frames.frames("color_motion")
    except TrendflowError:
        return None  # the frames were purged: the mean colour cannot be read again
    mean = pixels.reshape(-1, 3).mean(axis=0) if pixels.size else np.full(3, np.nan)
    brightness = float(colour["brightness_mean"])
    return {
        "mean_rgb": [round(float(v), 2) for v in mean],
        "brightness": round(brightness, 4) if np.isfinite(brightness) else None,
    }


def _speech(
    arrays: dict[str, NDArray[Any]] | None, models: ModelStore, model: str
) -> tuple[str | None, str | None]:
    if arrays is None or not bool(arrays["asr_present"]):
        return None, None
    language = str(arrays["language"]) or None
    try:
        from tokenizers import Tokenizer  # noqa: PLC0415 - only videos with speech need it

        tokenizer = Tokenizer.from_file(str(models.path(model) / "tokenizer.json"))
    except (TrendflowError, OSError, ImportError, ValueError):
        return None, language
    ids = [int(i) for i in arrays["token_ids"]]
    return tokenizer.decode(ids).strip() or None, language


def media_summary(
    run: Path, kind: MediaKind, models: ModelStore, asr_model: str, not_installed: list[str]
) -> dict[str, Any]:
    """The summary of an image or video job (the contract's ``summary``)."""
    manifest = RunManifest(run).read()
    frames_path = manifest["run"].get("frames_dir")
    frames = FramesDir(Path(frames_path)) if frames_path else None
    try:
        meta = frames.metadata() if frames is not None else {}
    except TrendflowError:
        meta = {}
    segmentation = _artifact(run, manifest, "segmenter", "segmentation")
    summary: dict[str, Any] = {
        "faces": _faces(_artifact(run, manifest, core_faces.NAME, "faces")),
        "objects": _objects(_artifact(run, manifest, core_objects.NAME, "detections")),
        "text_on_screen": _text_on_screen(_artifact(run, manifest, ocr.NAME, "ocr_raw")),
        "colour": _colour(frames, _artifact(run, manifest, "color_motion", "color_motion")),
        "width": int(meta.get("source_width", 0)),
        "height": int(meta.get("source_height", 0)),
        "not_installed": list(not_installed),
    }
    if kind == "video":
        speech, language = _speech(
            _artifact(run, manifest, "asr_extractor", "asr"), models, asr_model
        )
        summary.update(
            duration_s=round(float(meta.get("duration_s", 0.0)), 3),
            has_audio=bool(segmentation["audio_present"]) if segmentation is not None else False,
            speech=speech,
            speech_language=language,
        )
    return summary


def _ragged(arrays: dict[str, NDArray[Any]], values: str, offsets: str, i: int) -> list[str]:
    start, end = int(arrays[offsets][i]), int(arrays[offsets][i + 1])
    return [str(v) for v in arrays[values][start:end]]


def text_summary(run: Path) -> dict[str, Any]:
    """The summary of a text job: one entry per item, from ``text_items/items.npz``."""
    arrays = _artifact(run, RunManifest(run).read(), text.ITEMS, "items")
    if arrays is None:
        raise StoreError(f"{run} has no readable {text.ITEMS}/items.npz")
    present = arrays["text_present"]
    vectors = arrays["embeddings"]
    items = []
    for i, item_id in enumerate(arrays["item_ids"]):
        has_vector = bool(present[i]) and bool(np.isfinite(vectors[i]).all())
        items.append(
            {
                "id": str(item_id),
                "language": str(arrays["language"][i]) or None,
                "hashtags": _ragged(arrays, "hashtags", "hashtag_offsets", i),
                "mentions": _ragged(arrays, "mentions", "mention_offsets", i),
                "brands": _ragged(arrays, "brands", "brand_offsets", i),
                "embedding_dim": int(vectors.shape[1]) if has_vector else 0,
            }
        )
    return {"items": items}


def artifact_links(run: Path, job_id: str) -> list[dict[str, str]]:
    """Every artifact of the run that is still there, with its URL and sha256."""
    manifest = RunManifest(run).read()
    links = []
    for name in sorted(manifest["components"]):
        entry = manifest["components"][name]
        if entry.get("status") not in {"ok", "empty"}:
            continue
        for artifact in entry.get("artifacts", []):
            if artifact.get("purged_at"):
                continue
            links.append(
                {
                    "path": artifact["path"],
                    "url": ARTIFACT_URL.format(job_id=job_id, path=artifact["path"]),
                    "sha256": artifact["sha256"],
                }
            )
    return links


def listed(run: Path, path: str) -> bool:
    """Whether ``path`` is the manifest or an artifact the run's manifest lists (not purged)."""
    if path == MANIFEST_NAME:
        return True
    try:
        manifest = RunManifest(run).read()
    except StoreError:
        return False
    return any(
        artifact["path"] == path and not artifact.get("purged_at")
        for entry in manifest["components"].values()
        for artifact in entry.get("artifacts", [])
    )


def _opinion(value: dict[str, Any]) -> dict[str, Any]:
    return {"model": value.get("model"), "count": value.get("count"), "log1p": value.get("log1p")}


def prediction_summary(forecast: dict[str, Any], *, features_job: str | None) -> dict[str, Any]:
    """A prediction job's summary from :meth:`trendflow.learn.predict.Predictor.predict`."""
    return {
        "model_version": forecast["model_version"],
        "observation_hours": forecast["observation_hours"],
        "provenance": forecast.get("provenance", "unknown"),
        "features_job": features_job,
        "missing_features": list(forecast.get("missing_features", [])),
        "warnings": list(forecast.get("warnings", [])),
        "forecast": {
            metric: {
                horizon: {
                    **_opinion(value),
                    "optional": bool(value.get("optional")),
                    "reason": value.get("reason"),
                    "second_opinion": _opinion(value["second_opinion"])
                    if value.get("second_opinion")
                    else None,
                }
                for horizon, value in horizons.items()
            }
            for metric, horizons in forecast["forecast"].items()
        },
    }
