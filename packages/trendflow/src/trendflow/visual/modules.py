"""VisualProcessor modules built on the frames and the core providers.

- ``shot_stats``: shot boundaries → durations, cut rate.
- ``color_motion``: brightness, contrast, saturation, colourfulness, warmth, motion per frame.
- ``faces_over_time``: ``core_face_landmarks`` → face count, size and position over time.
- ``objects_over_time``: ``core_object_detections`` → object/person counts, class presence.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual import core_faces, core_objects

SEGMENTER = "segmenter"
VERSION = "1.0.0"


# RGB (0-255) -> luma (Rec. 601), red-green, yellow-blue, each scaled to 0-1 units.
_OPPONENT = np.array(
    [[0.299, 0.587, 0.114], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], dtype=np.float32
) / np.float32(255.0)


def _nanstats(prefix: str, values: NDArray[Any]) -> dict[str, NDArray[Any]]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {f"{prefix}_mean": np.array(np.nan), f"{prefix}_std": np.array(np.nan)}
    return {f"{prefix}_mean": np.array(finite.mean()), f"{prefix}_std": np.array(finite.std())}


def _fps(ctx: Context) -> float:
    seg, _ = ctx.upstream(SEGMENTER, "segmentation")
    return float(seg["fps"])


def shot_stats(ctx: Context) -> ComponentResult:
    """Shot durations and cut rate from the Segmenter's shot boundaries."""
    seg, _ = ctx.upstream(SEGMENTER, "segmentation")
    starts, ends = seg["shot_start_s"], seg["shot_end_s"]
    durations = ends - starts
    total_s = float(seg["total_frames"]) / float(seg["fps"])
    arrays: dict[str, NDArray[Any]] = {
        "shot_start_s": starts,
        "shot_end_s": ends,
        "shot_duration_s": durations,
        "shot_present": durations > 0,
        "n_shots": np.array(len(durations)),
        "cuts_per_minute": np.array((len(durations) - 1) / total_s * 60.0),
        "shot_duration_median_s": np.array(np.median(durations)),
        "shot_duration_min_s": np.array(durations.min()),
        "shot_duration_max_s": np.array(durations.max()),
        **_nanstats("shot_duration_s", durations),
    }
    return ComponentResult(artifacts=[Artifact("shots", arrays)])


def color_motion(ctx: Context) -> ComponentResult:
    """Per sampled frame colour statistics and motion (mean absolute change from the last one)."""
    cfg = ctx.config.components.color_motion
    indices, frames = ctx.frames.frames("color_motion")
    fps = _fps(ctx)
    n = len(indices)
    columns = ("brightness", "contrast", "saturation", "colorfulness", "warmth", "motion")
    values = {name: np.full(n, np.nan, dtype=np.float32) for name in columns}
    previous: NDArray[Any] | None = None
    for i, frame in enumerate(frames):
        # One float pass per frame; OpenCV's reductions (double accumulators) do the rest.
        opponent = cv2.transform(frame.astype(np.float32), _OPPONENT)
        luma = cv2.extractChannel(opponent, 0)
        mean, std = cv2.meanStdDev(opponent)
        red, _, blue, _ = cv2.mean(frame)
        values["brightness"][i], values["contrast"][i] = mean[0, 0], std[0, 0]
        values["saturation"][i] = cv2.mean(cv2.cvtColor(frame, cv2.COLOR_RGB2HSV))[1] / 255.0
        values["colorfulness"][i] = np.hypot(std[1, 0], std[2, 0]) + 0.3 * np.hypot(
            mean[1, 0], mean[2, 0]
        )
        values["warmth"][i] = (red - blue) / 255.0
        height = max(2, round(cfg.analysis_width * frame.shape[0] / frame.shape[1]))
        small = cv2.resize(luma, (cfg.analysis_width, height), interpolation=cv2.INTER_AREA)
        if previous is not None:
            values["motion"][i] = cv2.norm(small, previous, cv2.NORM_L1) / small.size
        previous = small
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "timestamps_s": indices / fps,
        "frame_present": np.isfinite(values["brightness"]),
        "motion_present": np.isfinite(values["motion"]),
        **values,
    }
    for name in columns:
        arrays.update(_nanstats(name, values[name]))
    reason = "no_sampled_frames" if n == 0 else None
    return ComponentResult(artifacts=[Artifact("color_motion", arrays, empty_reason=reason)])


def faces_over_time(ctx: Context) -> ComponentResult:
    """Face count, largest face's area and centre per frame, and their aggregates."""
    faces, meta = ctx.upstream(core_faces.NAME, "faces")
    fps = _fps(ctx)
    present = faces["face_present"]
    boxes = faces["boxes_xyxy_norm"]
    areas = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    count = present.sum(axis=1).astype(np.float32)
    has_face = count > 0
    largest = np.full(len(count), np.nan, dtype=np.float32)
    centre = np.full((len(count), 2), np.nan, dtype=np.float32)
    for i in np.nonzero(has_face)[0]:
        j = int(np.nanargmax(np.where(present[i], areas[i], -1.0)))
        largest[i] = areas[i, j]
        centre[i] = ((boxes[i, j, 0] + boxes[i, j, 2]) / 2, (boxes[i, j, 1] + boxes[i, j, 3]) / 2)
    reason = meta.get("empty_reason")
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": faces["frame_indices"],
        "timestamps_s": faces["frame_indices"] / fps,
        "face_count": count,
        "largest_face_area": largest,
        "largest_face_centre_xy": centre,
        "face_present": has_face,
        "face_frame_ratio": np.array(has_face.mean() if len(count) else np.nan),
        "max_face_count": np.array(count.max() if len(count) else np.nan),
        **_nanstats("face_count", count if len(count) else np.array([np.nan])),
        **_nanstats("largest_face_area", largest),
    }
    if reason:
        # Nothing was seen: counts are unknown-by-absence, not measured zeros.
        arrays["face_count"] = np.full(len(count), np.nan, dtype=np.float32)
        arrays["face_count_mean"] = arrays["face_count_std"] = np.array(np.nan)
        arrays["face_frame_ratio"] = arrays["max_face_count"] = np.array(np.nan)
    return ComponentResult(artifacts=[Artifact("faces_over_time", arrays, empty_reason=reason)])


def objects_over_time(ctx: Context) -> ComponentResult:
    """Object and person counts and person area per frame; per-class presence over the video."""
    det, meta = ctx.upstream(core_objects.NAME, "detections")
    fps = _fps(ctx)
    present = det["detection_present"]
    classes = det["class_ids"]
    boxes = det["boxes_xyxy_norm"]
    n, n_classes = len(present), len(core_objects.COCO_CLASSES)
    is_person = present & (classes == 0)
    areas = np.nan_to_num((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))
    per_class = np.zeros((n, n_classes), dtype=np.float32)
    for i in range(n):
        np.add.at(per_class[i], classes[i][present[i]].astype(np.int64), 1.0)
    reason = meta.get("empty_reason")
    nan_if_empty = np.float32(np.nan) if reason else np.float32(1.0)
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": det["frame_indices"],
        "timestamps_s": det["frame_indices"] / fps,
        "object_count": present.sum(axis=1).astype(np.float32) * nan_if_empty,
        "person_count": is_person.sum(axis=1).astype(np.float32) * nan_if_empty,
        "person_area": (areas * is_person).sum(axis=1).astype(np.float32) * nan_if_empty,
        "class_presence_ratio": (per_class > 0).mean(axis=0) * nan_if_empty
        if n
        else np.full(n_classes, np.nan, np.float32),
        "class_mean_count": per_class.mean(axis=0) * nan_if_empty
        if n
        else np.full(n_classes, np.nan, np.float32),
        "class_names": det["class_names"],
        "object_present": np.asarray(present.any(axis=1), dtype=bool),
    }
    return ComponentResult(artifacts=[Artifact("objects_over_time", arrays, empty_reason=reason)])
