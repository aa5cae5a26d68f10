"""``core_face_landmarks``: YuNet face boxes + 5 landmarks on the sampled frames."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual.runtime import model_record, nms, onnx_threads, session

NAME = "core_face_landmarks"
VERSION = "1.0.0"
SCHEMA = "core_face_landmarks_v1"
STRIDES = (8, 16, 32)
BATCH = 8


def to_input(frames_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """YuNet input: BGR 0-255, ``[N, 3, H, W]`` zero-padded to multiples of 32."""
    n, h, w = frames_rgb.shape[:3]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((n, 3, ph, pw), dtype=np.float32)
    blob[:, :, :h, :w] = frames_rgb[..., ::-1].transpose(0, 3, 1, 2)
    return blob


def decode(
    outputs: dict[str, NDArray[np.float32]],
    item: int,
    height: int,
    width: int,
    *,
    score_threshold: float,
    iou: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """One image's outputs → boxes xyxy ``[K,4]``, scores ``[K]``, landmarks ``[K,5,2]`` (px)."""
    all_boxes, all_scores, all_kps = [], [], []
    for stride in STRIDES:
        cols = width // stride
        cls = outputs[f"cls_{stride}"][item, :, 0]
        obj = outputs[f"obj_{stride}"][item, :, 0]
        bbox = outputs[f"bbox_{stride}"][item]
        kps = outputs[f"kps_{stride}"][item]
        scores = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        keep = scores >= score_threshold
        if not keep.any():
            continue
        cells = np.nonzero(keep)[0]
        cx = (cells % cols + bbox[keep, 0]) * stride
        cy = (cells // cols + bbox[keep, 1]) * stride
        bw = np.exp(bbox[keep, 2]) * stride
        bh = np.exp(bbox[keep, 3]) * stride
        all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
        points = kps[keep].reshape(-1, 5, 2)
        points[..., 0] = (points[..., 0] + (cells % cols)[:, None]) * stride
        points[..., 1] = (points[..., 1] + (cells // cols)[:, None]) * stride
        all_kps.append(points)
        all_scores.append(scores[keep])
    if not all_scores:
        return (
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
        )
    boxes = np.concatenate(all_boxes).astype(np.float32)
    scores = np.concatenate(all_scores).astype(np.float32)
    points = np.concatenate(all_kps).astype(np.float32)
    order = nms(boxes, scores, iou)
    return boxes[order], scores[order], points[order]


def run(ctx: Context) -> ComponentResult:
    """Faces per sampled frame, up to ``max_faces``, NaN-padded, coordinates normalised to 0-1."""
    cfg = ctx.config.components.core_face_landmarks
    spec = ctx.models.spec(cfg.model)
    model_path = ctx.models.path(cfg.model)
    indices, frames = ctx.frames.frames(NAME)
    n, k = len(indices), cfg.max_faces
    boxes = np.full((n, k, 4), np.nan, dtype=np.float32)
    scores = np.full((n, k), np.nan, dtype=np.float32)
    landmarks = np.full((n, k, 5, 2), np.nan, dtype=np.float32)
    if n:
        h, w = frames.shape[1:3]
        scale = np.array([w, h], dtype=np.float32)
        sess = session(model_path, spec.sha256, onnx_threads(ctx.config))
        names = [o.name for o in sess.get_outputs()]
        for start in range(0, n, BATCH):
            blob = to_input(frames[start : start + BATCH])
            raw = dict(zip(names, sess.run(names, {"input": blob}), strict=True))
            for item in range(blob.shape[0]):
                b, s, p = decode(
                    raw,
                    item,
                    blob.shape[2],
                    blob.shape[3],
                    score_threshold=cfg.score_threshold,
                    iou=cfg.nms_iou,
                )
                m = min(len(s), k)
                i = start + item
                boxes[i, :m] = (b[:m] / np.tile(scale, 2)).clip(0, 1)
                scores[i, :m] = s[:m]
                landmarks[i, :m] = p[:m] / scale
    present = ~np.isnan(scores)
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "boxes_xyxy_norm": boxes,
        "scores": scores,
        "landmarks_norm": landmarks,
        "face_present": present,
    }
    reason = "no_sampled_frames" if n == 0 else None if present.any() else "no_faces_detected"
    return ComponentResult(
        artifacts=[Artifact("faces", arrays, empty_reason=reason)],
        models_used=[model_record(spec.name, spec.version, spec.sha256)],
    )
