"""``core_depth_midas``: MiDaS v2.1 small relative inverse depth of the sampled frames."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trendflow.errors import MissingDependencyError
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual.runtime import model_record, onnx_threads, session

NAME = "core_depth_midas"
VERSION = "1.0.0"
SCHEMA = "core_depth_midas_v1"
SIZE = 256
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess(frame_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """MiDaS small transform: 256² bicubic, 0-1, ImageNet mean/std; ``[1, 3, 256, 256]``."""
    resized = cv2.resize(frame_rgb, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    normalised = (resized.astype(np.float32) / 255.0 - MEAN) / STD
    return normalised.transpose(2, 0, 1)[None]


def run(ctx: Context) -> ComponentResult:
    """Per frame: a ``map_size``² depth map at the frame's aspect, and its statistics."""
    cfg = ctx.config.components.core_depth_midas
    spec = ctx.models.spec(cfg.model)
    model_path = ctx.models.path(cfg.model)
    indices, frames = ctx.frames.frames(NAME)
    n, side = len(indices), cfg.map_size
    maps = np.full((n, side, side), np.nan, dtype=np.float32)
    stats = np.full((n, 4), np.nan, dtype=np.float32)
    sess = session(model_path, spec.sha256, onnx_threads(ctx.config))
    input_name = sess.get_inputs()[0].name
    for i, frame in enumerate(frames):
        out = np.asarray(sess.run(None, {input_name: preprocess(frame)})[0], np.float32)
        depth = np.squeeze(out)
        if depth.ndim != 2:
            raise MissingDependencyError(
                NAME, "a depth map [H, W]", f"{spec.name} returned shape {out.shape}"
            )
        maps[i] = cv2.resize(depth, (side, side), interpolation=cv2.INTER_AREA)
        p10, p90 = np.percentile(depth, [10, 90])
        stats[i] = (depth.mean(), depth.std(), p10, p90)
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "depth_maps": maps,
        "depth_mean": stats[:, 0],
        "depth_std": stats[:, 1],
        "depth_p10": stats[:, 2],
        "depth_p90": stats[:, 3],
        "depth_present": np.isfinite(stats[:, 0]),
    }
    return ComponentResult(
        artifacts=[Artifact("depth", arrays, "no_sampled_frames" if n == 0 else None)],
        models_used=[model_record(spec.name, spec.version, spec.sha256)],
    )
