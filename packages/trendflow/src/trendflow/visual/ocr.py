"""``ocr_text``: text on screen per sampled frame (RapidOCR: PP-OCRv4 det + cls + rec, ONNX).

Per frame: the number of text boxes, the fraction of the frame they cover, their mean
recognition confidence and characters read, the boxes themselves, and ``text_present``.
Aggregates: the share of frames with text and the means of the per-frame values.

The recognised strings are raw OCR text: they go to their own artifact, ``ocr_raw.npz``, with
retention class ``raw_text``, which ``trendflow gc`` removes after 60 days (seed: "raw
OCR/comments: hard_cap_days=60"); every feature above stays in ``ocr.npz``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trendflow.config import OcrConfig
from trendflow.models.cache import MODELS
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual.runtime import model_record, onnx_threads

NAME = "ocr_text"
VERSION = "1.0.0"
SCHEMA = "ocr_text_v1"
SEGMENTER = "segmenter"
PER_FRAME = ("n_boxes", "text_area_fraction", "mean_confidence", "n_chars")


@dataclass(frozen=True)
class Engine:
    """A loaded RapidOCR and the lock that keeps its callers apart.

    RapidOCR keeps per-call state on itself (the detector's preprocessing of the last image),
    so the process's one engine reads one frame at a time.
    """

    ocr: Any
    lock: threading.Lock


def engine(
    paths: tuple[Path, Path, Path], shas: tuple[str | None, ...], cfg: OcrConfig, threads: int
) -> Engine:
    """The process's RapidOCR on exactly these det, cls, rec files (not the copies in its wheel).

    Loaded once per process and key (files, their pins, the reading options, threads).
    """

    def load() -> Engine:
        det, cls, rec = paths
        # Imported here: rapidocr costs ~0.5 s to import, which every other CLI command would
        # pay.
        from rapidocr_onnxruntime import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
            RapidOCR,
        )

        ocr = RapidOCR(
            det_model_path=str(det),
            cls_model_path=str(cls),
            rec_model_path=str(rec),
            text_score=cfg.text_score,
            det_box_thresh=cfg.box_threshold,
            # "max": shrink frames whose longest side exceeds the cap, never enlarge (RapidOCR's
            # own default, "min" 736, would upscale every 640-px frame about 2x for little gain).
            det_limit_type="max",
            det_limit_side_len=cfg.det_max_side,
            intra_op_num_threads=threads,
        )
        return Engine(ocr, threading.Lock())

    options = (cfg.text_score, cfg.box_threshold, cfg.det_max_side, threads)
    key = ("rapidocr", *map(str, paths), *shas, *options)
    loaded: Engine = MODELS.get(key, load)
    return loaded


def read_frame(
    ocr: Engine, frame_rgb: NDArray[np.uint8], max_side: int | None = None
) -> list[tuple[NDArray[np.float32], str, float]]:
    """Boxes (4 corner points, frame pixels), strings and confidences read in one RGB frame.

    A frame whose longest side exceeds ``max_side`` is read from an area-downscaled copy (the
    ``det_max_side`` cap: RapidOCR's own "max" limit never shrinks an image under 960 px, and
    over it rounds the cap up to 1500 or 2000); its boxes are scaled back to the frame.
    """
    height, width = frame_rgb.shape[:2]
    scale = 1.0
    if max_side is not None and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame_rgb = np.asarray(cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
    bgr = np.ascontiguousarray(frame_rgb[..., ::-1])  # RapidOCR wants BGR arrays
    with ocr.lock:
        result, _ = ocr.ocr(bgr)
    unscale = np.float32(1.0 / scale)
    return [
        (np.asarray(box, dtype=np.float32).reshape(4, 2) * unscale, str(text), float(score))
        for box, text, score in result or []
    ]


def run(ctx: Context) -> ComponentResult:
    """Text boxes, coverage, confidence and characters per sampled frame; raw text apart."""
    cfg = ctx.config.components.ocr_text
    names = (cfg.det_model, cfg.cls_model, cfg.rec_model)
    # No fallback: absent or mismatching weights raise, naming the model.
    paths = (ctx.models.path(names[0]), ctx.models.path(names[1]), ctx.models.path(names[2]))
    specs = [ctx.models.spec(name) for name in names]
    indices, frames = ctx.frames.frames(NAME)
    seg, _ = ctx.upstream(SEGMENTER, "segmentation")
    n, k = len(indices), cfg.max_boxes
    values = {name: np.full(n, np.nan, dtype=np.float32) for name in PER_FRAME}
    quads = np.full((n, k, 4, 2), np.nan, dtype=np.float32)
    scores = np.full((n, k), np.nan, dtype=np.float32)
    texts = np.full((n, k), "", dtype=object)
    if n:
        ocr = engine(paths, tuple(s.sha256 for s in specs), cfg, onnx_threads(ctx.config))
        height, width = frames.shape[1:3]
        for i, frame in enumerate(frames):
            found = read_frame(ocr, frame, cfg.det_max_side)[:k]
            mask = np.zeros((height, width), dtype=np.uint8)
            for j, (box, text, score) in enumerate(found):
                cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
                quads[i, j] = box / np.array([width, height], dtype=np.float32)
                scores[i, j] = score
                texts[i, j] = text
            values["n_boxes"][i] = len(found)
            values["text_area_fraction"][i] = mask.mean()
            values["n_chars"][i] = sum(len(text.strip()) for _, text, _ in found)
            if found:
                values["mean_confidence"][i] = np.mean([score for _, _, score in found])
    box_present = ~np.isnan(scores)
    text_present = np.asarray(box_present.any(axis=1), dtype=bool)
    reason = "no_sampled_frames" if n == 0 else None if text_present.any() else "no_text_detected"
    if reason:
        # Nothing was read: counts are unknown-by-absence, not measured zeros.
        for name in PER_FRAME:
            values[name][:] = np.nan
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "timestamps_s": indices / float(seg["fps"]),
        "boxes_quad_norm": quads,
        "box_scores": scores,
        "box_present": box_present,
        "text_present": text_present,
        **values,
        "text_frame_ratio": np.array(np.nan if reason else text_present.mean(), np.float32),
    }
    for name in PER_FRAME:
        finite = values[name][np.isfinite(values[name])]
        arrays[f"{name}_mean"] = np.array(finite.mean() if finite.size else np.nan, np.float32)
        arrays[f"{name}_max"] = np.array(finite.max() if finite.size else np.nan, np.float32)
    raw = {
        "frame_indices": indices,
        "text": texts.astype(str) if n else np.zeros((0, k), dtype="<U1"),
        "text_present": box_present,
    }
    return ComponentResult(
        artifacts=[
            Artifact("ocr", arrays, empty_reason=reason),
            Artifact("ocr_raw", raw, empty_reason=reason, retention="raw_text"),
        ],
        models_used=[model_record(s.name, s.version, s.sha256) for s in specs],
    )
