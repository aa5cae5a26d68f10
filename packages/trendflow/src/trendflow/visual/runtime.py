"""ONNX Runtime sessions and the box arithmetic the detectors share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no py.typed
from numpy.typing import NDArray


def session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session; ``threads`` 0 lets ONNX Runtime choose."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[int]:
    """Greedy non-maximum suppression on ``[N, 4]`` xyxy boxes; indices kept, best first."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
        overlap = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return keep


def model_record(name: str, version: str, sha256: str | None) -> dict[str, str]:
    """One entry of an artifact's ``models_used``."""
    return {"name": name, "version": version, "sha256": sha256 or "unpinned", "runtime": _rt()}


def _rt() -> str:
    return f"onnxruntime-{ort.__version__}"


def first_input(sess: ort.InferenceSession) -> Any:
    return sess.get_inputs()[0]
