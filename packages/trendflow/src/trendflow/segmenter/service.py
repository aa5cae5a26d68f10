"""The Segmenter: one decode pass over the video, sampling per component, audio, shots.

Writes ``frames_dir`` (``frames.npy`` with only the union of sampled frames, RGB; ``audio/``;
``metadata.json`` last) and returns the arrays of the ``segmenter`` NPZ artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from scenedetect import ContentDetector  # type: ignore[import-untyped]  # ships no py.typed
from scenedetect.common import FrameTimecode  # type: ignore[import-untyped]  # ships no py.typed

from trendflow.config import SamplingPolicy, SegmenterConfig
from trendflow.errors import InputError
from trendflow.segmenter.frames import (
    AUDIO_DIR,
    AUDIO_SEGMENTS_CONTRACT,
    FRAMES_NAME,
    FRAMES_SCHEMA,
    METADATA_NAME,
)
from trendflow.store.npz import sha256_file, write_bytes_atomic
from trendflow.versions import SAMPLING_POLICY_VERSION


@dataclass(frozen=True)
class Segmentation:
    """What the Segmenter produced: metadata (as in ``metadata.json``) and NPZ arrays."""

    metadata: dict[str, Any]
    arrays: dict[str, NDArray[Any]]


def sample_indices(policy: SamplingPolicy, total_frames: int, fps: float) -> NDArray[np.int64]:
    """Uniform-in-time frame indices: ``policy.fps`` per second, at most ``max_frames``."""
    if total_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    step = max(fps / policy.fps, 1.0)
    indices = np.unique(np.floor(np.arange(0, total_frames, step)).astype(np.int64))
    if len(indices) > policy.max_frames:
        picks = np.linspace(0, len(indices) - 1, policy.max_frames).round().astype(np.int64)
        indices = indices[np.unique(picks)]
    return indices


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _scaled(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return _even(width * scale), _even(height * scale)


def segment(
    video: Path,
    frames_dir: Path,
    *,
    segmenter: SegmenterConfig,
    sampling: Mapping[str, SamplingPolicy],
    components: Sequence[str],
    config_hash: str,
    video_sha256: str,
) -> Segmentation:
    """Decode ``video`` once and write ``frames_dir``; ``components`` are those to sample for."""
    missing = [name for name in components if name not in sampling]
    if missing:
        raise InputError(f"no sampling policy for {missing}: add them under `sampling:`")
    decoded = _decode(video, segmenter, sampling, components)
    fps, total = decoded.fps, decoded.total
    cut_frames = sorted({c for c in decoded.cuts if 0 < c < total})
    shot_starts = np.array([0, *cut_frames], dtype=np.int64)
    shot_ends = np.array([*cut_frames, total], dtype=np.int64)
    union, frames, per_component = decoded.union, decoded.frames, decoded.per_component
    width, height = decoded.width, decoded.height
    out_h, out_w = frames.shape[1], frames.shape[2]

    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    frames_dir.mkdir(parents=True)
    frames_sha = _save_npy_atomic(frames_dir / FRAMES_NAME, frames)
    audio_meta = _extract_audio(video, frames_dir / AUDIO_DIR, segmenter, duration=total / fps)
    metadata: dict[str, Any] = {
        "schema_version": FRAMES_SCHEMA,
        "color_space": "RGB",
        "created_at": datetime.now(UTC).isoformat(),
        "video_path": str(video),
        "video_sha256": video_sha256,
        "config_hash": config_hash,
        "sampling_policy_version": SAMPLING_POLICY_VERSION,
        "fps": fps,
        "total_frames": total,
        "duration_s": total / fps,
        "source_width": width,
        "source_height": height,
        "frame_width": out_w,
        "frame_height": out_h,
        "frames_file": FRAMES_NAME,
        "frames_sha256": frames_sha,
        "union_frame_indices": union.tolist(),
        "components": {
            name: {
                "frame_indices": per_component[name].tolist(),
                "policy": sampling[name].model_dump(mode="json"),
            }
            for name in components
        },
        "shots": {"starts": shot_starts.tolist(), "ends": shot_ends.tolist()},
        "audio": audio_meta,
    }
    text = json.dumps(metadata, indent=2, sort_keys=True)
    write_bytes_atomic(frames_dir / METADATA_NAME, (text + "\n").encode())
    arrays: dict[str, NDArray[Any]] = {
        "union_frame_indices": union,
        "shot_start_frames": shot_starts,
        "shot_end_frames": shot_ends,
        "shot_start_s": shot_starts / fps,
        "shot_end_s": shot_ends / fps,
        "fps": np.array(fps),
        "total_frames": np.array(total),
        "audio_present": np.array(bool(audio_meta["has_audio"])),
    }
    for name, idx in per_component.items():
        arrays[f"frame_indices__{name}"] = idx
    return Segmentation(metadata=metadata, arrays=arrays)


@dataclass(frozen=True)
class _Decoded:
    fps: float
    total: int
    width: int
    height: int
    union: NDArray[np.int64]
    frames: NDArray[np.uint8]
    per_component: dict[str, NDArray[np.int64]]
    cuts: list[int]


def _decode(
    video: Path,
    segmenter: SegmenterConfig,
    sampling: Mapping[str, SamplingPolicy],
    components: Sequence[str],
) -> _Decoded:
    """One pass: every frame feeds shot detection; sampled frames are kept, RGB, downscaled."""
    try:
        container = av.open(str(video))
    except (av.FFmpegError, OSError) as error:
        raise InputError(f"cannot open video {video}: {error}") from error
    with container:
        if not container.streams.video:
            raise InputError(f"{video} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else 0.0
        )
        if not duration and container.duration:
            duration = container.duration / av.time_base
        estimate = int(stream.frames) or round(duration * fps)
        planned = {name: sample_indices(sampling[name], estimate, fps) for name in components}
        union_planned = np.unique(np.concatenate([np.zeros(0, np.int64), *planned.values()]))
        out_w, out_h = _scaled(width, height, segmenter.frame_max_side)
        an_w = _even(segmenter.shot_analysis_width)
        an_h = _even(an_w * height / width)
        detector = ContentDetector(
            threshold=segmenter.shot_threshold, min_scene_len=segmenter.shot_min_len_frames
        )
        wanted = {int(index): pos for pos, index in enumerate(union_planned)}
        frames = np.zeros((len(union_planned), out_h, out_w, 3), dtype=np.uint8)
        cuts: list[int] = []
        total = 0
        try:
            for frame in container.decode(stream):
                # Shot detection compares colour histograms: a fast scaler is enough here.
                small = frame.to_ndarray(
                    format="bgr24", width=an_w, height=an_h, interpolation="FAST_BILINEAR"
                )
                found = detector.process_frame(FrameTimecode(total, fps), small)
                cuts.extend(int(t.frame_num) for t in found)
                if total in wanted:
                    frames[wanted[total]] = frame.to_ndarray(
                        format="rgb24", width=out_w, height=out_h, interpolation="AREA"
                    )
                total += 1
        except av.FFmpegError as error:
            raise InputError(f"decoding {video} failed at frame {total}: {error}") from error
    if total == 0:
        raise InputError(f"{video} has no decodable video frames")
    # The container's frame count is an estimate: keep only frames that were really decoded.
    keep = union_planned < total
    return _Decoded(
        fps=fps,
        total=total,
        width=width,
        height=height,
        union=union_planned[keep],
        frames=frames[keep],
        per_component={name: idx[idx < total] for name, idx in planned.items()},
        cuts=cuts,
    )


def _save_npy_atomic(path: Path, array: NDArray[Any]) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_file(path)


def _s16(frame: av.AudioFrame) -> NDArray[np.int16]:
    return np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)


def _extract_audio(
    video: Path, audio_dir: Path, config: SegmenterConfig, *, duration: float
) -> dict[str, Any]:
    """Write ``audio.wav`` (16-bit mono), ``metadata.json``, ``segments.json``; return metadata."""
    audio_dir.mkdir(parents=True, exist_ok=True)
    rate = config.audio_sample_rate
    meta: dict[str, Any] = {"sample_rate": rate, "channels": 1, "sample_format": "s16"}
    chunks: list[NDArray[np.int16]] = []
    with av.open(str(video)) as container:
        if not container.streams.audio:
            meta.update(has_audio=False, empty_reason="no_audio_track", duration_s=0.0)
        else:
            stream = container.streams.audio[0]
            meta.update(
                has_audio=True,
                empty_reason=None,
                source_codec=stream.codec_context.name,
                source_sample_rate=stream.rate,
                source_channels=stream.channels,
            )
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(stream):
                chunks += [_s16(out) for out in resampler.resample(frame)]
            chunks += [_s16(out) for out in resampler.resample(None)]
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if meta["has_audio"]:
        meta["duration_s"] = len(samples) / rate
        meta["num_samples"] = len(samples)
        with tempfile.NamedTemporaryFile(dir=audio_dir, suffix=".tmp", delete=False) as tmp:
            tmp_path = Path(tmp.name)
        with wave.open(str(tmp_path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(samples.astype("<i2").tobytes())
        tmp_path.replace(audio_dir / "audio.wav")
        meta["file"] = "audio.wav"
    window = round(config.audio_window_s * rate)
    hop = round(config.audio_hop_s * rate)
    segments = []
    starts = range(0, max(len(samples) - window, 0) + 1, hop) if len(samples) else range(0)
    for number, start in enumerate(starts):
        end = min(start + window, len(samples))
        segments.append(
            {
                "index": number,
                "start_sample": start,
                "end_sample": end,
                "start_s": start / rate,
                "end_s": end / rate,
            }
        )
    segments_doc = {
        "contract": AUDIO_SEGMENTS_CONTRACT,
        "sample_rate": rate,
        "window_s": config.audio_window_s,
        "hop_s": config.audio_hop_s,
        "video_duration_s": duration,
        "empty_reason": meta["empty_reason"],
        "segments": segments,
    }
    write_bytes_atomic(audio_dir / "segments.json", json.dumps(segments_doc, indent=1).encode())
    write_bytes_atomic(audio_dir / METADATA_NAME, json.dumps(meta, indent=2).encode())
    return meta
