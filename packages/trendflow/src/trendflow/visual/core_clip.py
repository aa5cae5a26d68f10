"""``core_clip``: CLIP ViT-B/32 image embeddings of the sampled frames (ONNX image tower)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from trendflow.errors import MissingDependencyError
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.visual.runtime import model_record, onnx_threads, session

NAME = "core_clip"
VERSION = "1.0.0"
SCHEMA = "core_clip_v1"
SIZE = 224
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def preprocess(frame_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """CLIP's transform: shorter side to 224 (bicubic), centre crop 224, scale, normalise; CHW."""
    h, w = frame_rgb.shape[:2]
    scale = SIZE / min(h, w)
    nh, nw = max(SIZE, round(h * scale)), max(SIZE, round(w * scale))
    resized = cv2.resize(frame_rgb, (nw, nh), interpolation=cv2.INTER_CUBIC)
    top, left = (nh - SIZE) // 2, (nw - SIZE) // 2
    crop = resized[top : top + SIZE, left : left + SIZE].astype(np.float32) / 255.0
    return ((crop - MEAN) / STD).transpose(2, 0, 1)


def run(ctx: Context) -> ComponentResult:
    """L2-normalised image embeddings ``[N, D]`` of the sampled frames."""
    cfg = ctx.config.components.core_clip
    spec = ctx.models.spec(cfg.model)
    model_path = ctx.models.path(cfg.model)
    indices, frames = ctx.frames.frames(NAME)
    chunks: list[NDArray[np.float32]] = []
    sess = session(model_path, spec.sha256, onnx_threads(ctx.config))
    input_name = sess.get_inputs()[0].name
    outputs = [o.name for o in sess.get_outputs()]
    # Exports with the projection name it image_embeds (beside last_hidden_state); else the first.
    output = "image_embeds" if "image_embeds" in outputs else outputs[0]
    for start in range(0, len(frames), cfg.batch_size):
        batch = np.stack([preprocess(f) for f in frames[start : start + cfg.batch_size]])
        out = np.asarray(sess.run([output], {input_name: batch})[0], dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(batch):
            raise MissingDependencyError(
                NAME, "image embeddings [N, D]", f"{spec.name} returned shape {out.shape}"
            )
        chunks.append(out)
    dim = chunks[0].shape[1] if chunks else 0
    embeddings = np.concatenate(chunks) if chunks else np.full((0, dim), np.nan, np.float32)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = (embeddings / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    arrays: dict[str, NDArray[Any]] = {
        "frame_indices": indices,
        "embeddings": embeddings.astype(np.float32),
        "embedding_present": np.isfinite(embeddings).all(axis=1) & (norms[:, 0] > 0),
    }
    return ComponentResult(
        artifacts=[
            Artifact("embeddings", arrays, "no_sampled_frames" if not len(indices) else None)
        ],
        models_used=[model_record(spec.name, spec.version, spec.sha256)],
    )
