"""ONNX Runtime sessions and the box arithmetic the detectors share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no py.typed
from numpy.typing import NDArray

from trendflow.config import PipelineConfig
from trendflow.models.cache import MODELS, threads_per_component


def session(path: Path, sha256: str | None, threads: int) -> ort.InferenceSession:
    """The process's CPU session for the weights at ``path`` (pinned ``sha256``), loaded once.

    ``threads`` intra-op threads (see :func:`onnx_threads`). Idle pool threads sleep instead of
    spinning: a spinning pool burns a core that the run's other components need.
    """

    def load() -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    sess: ort.InferenceSession = MODELS.get(("onnx", str(path), sha256, threads), load)
    return sess


def onnx_threads(config: PipelineConfig) -> int:
    """Intra-op threads per session: ``onnx_threads``, or for 0 the CPUs per parallel module."""
    return threads_per_component(config.onnx_threads, config.max_workers)


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
