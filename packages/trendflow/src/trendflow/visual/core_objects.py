"""``core_object_detections``: YOLOX-nano (80 COCO classes) on the sampled frames."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual.runtime import model_record, nms, onnx_threads, session

NAME = "core_object_detections"
VERSION = "1.0.0"
SCHEMA = "core_object_detections_v1"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


def _grids() -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    cells, strides = [], []
    for stride in STRIDES:
        n = INPUT_SIZE // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack((xs, ys), axis=2).reshape(-1, 2))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def letterbox(frame_rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
    """YOLOX input: BGR 0-255, resized into the top-left of a 416² canvas padded with 114."""
    h, w = frame_rgb.shape[:2]
    ratio = min(INPUT_SIZE / h, INPUT_SIZE / w)
    resized = cv2.resize(
        frame_rgb[:, :, ::-1], (int(w * ratio), int(h * ratio)), interpolation=cv2.INTER_LINEAR
    )
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), 114, dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), ratio


def decode(
    raw: NDArray[np.float32], ratio: float, *, score_threshold: float, iou: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """Raw ``[3549, 85]`` output → boxes xyxy in input-frame pixels, scores, class ids."""
    cells, strides = _grids()
    centres = (raw[:, :2] + cells) * strides
    sizes = np.exp(raw[:, 2:4]) * strides
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) / ratio
    class_scores = raw[:, 5:] * raw[:, 4:5]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(classes)), classes]
    mask = scores >= score_threshold
    boxes, scores, classes = boxes[mask], scores[mask], classes[mask]
    if not len(scores):
        return boxes, scores, classes
    # Class-aware NMS: boxes of different classes never suppress each other.
    offset = classes[:, None].astype(np.float32) * 10_000.0
    keep = nms((boxes + offset).astype(np.float32), scores.astype(np.float32), iou)
    return boxes[keep], scores[keep], classes[keep]


def run(ctx: Context) -> ComponentResult:
    """Detect objects on each sampled frame; up to ``max_detections`` per frame, NaN-padded."""
    cfg = ctx.config.components.core_object_detections
    spec = ctx.models.spec(cfg.model)
    model_path = ctx.models.path(cfg.model)
    indices, frames = ctx.frames.frames(NAME)
    n, k = len(indices), cfg.max_detections
    boxes = np.full((n, k, 4), np.nan, dtype=np.float32)
    scores = np.full((n, k), np.nan, dtype=np.float32)
    classes = np.full((n, k), -1, dtype=np.int16)
    sess = session(model_path, spec.sha256, onnx_threads(ctx.config))
    input_name = sess.get_inputs()[0].name
    for i, frame in enumerate(frames):
        blob, ratio = letterbox(frame)
        raw = sess.run(None, {input_name: blob})[0][0]
        b, s, c = decode(raw, ratio, score_threshold=cfg.score_threshold, iou=cfg.nms_iou)
        m = min(len(s), k)
        h, w = frame.shape[:2]
        scale = np.array([w, h, w, h], dtype=np.float32)
        boxes[i, :m] = (b[:m] / scale).clip(0.0, 1.0)
        scores[i, :m] = s[:m]
        classes[i, :m] = c[:m]
    present = ~np.isnan(scores)
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "boxes_xyxy_norm": boxes,
        "scores": scores,
        "class_ids": classes,
        "detection_present": present,
        "class_names": np.array(COCO_CLASSES),
    }
    reason = None
    if n == 0:
        reason = "no_sampled_frames"
    elif not present.any():
        reason = "no_objects_detected"
    return ComponentResult(
        artifacts=[Artifact("detections", arrays, empty_reason=reason)],
        models_used=[model_record(spec.name, spec.version, spec.sha256)],
    )
