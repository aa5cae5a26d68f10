"""The Segmenter: one decode pass over the video, sampling per component, audio, shots.

Writes ``frames_dir`` (a ``frames_<max_side>.npy`` per frame size the components read, each
with only the union of the frames sampled at that size, RGB; ``audio/``; ``metadata.json``
last) and returns the arrays of the ``segmenter`` NPZ artifact.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import wave
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from scenedetect import ContentDetector  # type: ignore[import-untyped]  # ships no py.typed
from scenedetect.common import FrameTimecode  # type: ignore[import-untyped]  # ships no py.typed

from trendflow.config import SamplingPolicy, SegmenterConfig
from trendflow.errors import InputError
from trendflow.segmenter.frames import (
    AUDIO_DIR,
    AUDIO_SEGMENTS_CONTRACT,
    FRAMES_SCHEMA,
    METADATA_NAME,
    frames_file_name,
    union_of,
)
from trendflow.store.npz import write_bytes_atomic
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
    per_component = decoded.per_component
    union = union_of(per_component.values())

    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    frames_dir.mkdir(parents=True)
    frame_files = dict(
        write_frames(frames_dir, side, stored.indices, stored.frames)
        for side, stored in decoded.stored.items()
    )
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
        "source_width": decoded.width,
        "source_height": decoded.height,
        "frame_files": frame_files,
        "union_frame_indices": union.tolist(),
        "components": {
            name: {
                "frame_indices": per_component[name].tolist(),
                "policy": sampling[name].model_dump(mode="json"),
                "frames_file": frames_file_name(frame_side(segmenter, sampling[name])),
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


def frame_side(segmenter: SegmenterConfig, policy: SamplingPolicy | None) -> int:
    """The longest side of the frames a component with ``policy`` (or none) reads."""
    return (policy.max_side if policy else None) or segmenter.frame_max_side


def write_frames(
    frames_dir: Path, side: int, indices: NDArray[np.int64], frames: NDArray[np.uint8]
) -> tuple[str, dict[str, Any]]:
    """Write the frames kept at ``side``; their file's name and its ``frame_files`` entry."""
    name = frames_file_name(side)
    entry = {
        "max_side": side,
        "frame_indices": indices.tolist(),
        "shape": list(frames.shape),
        "sha256": _save_npy_atomic(frames_dir / name, frames),
    }
    return name, entry


@dataclass(frozen=True)
class _Stored:
    """The frames kept at one size: video frame indices and RGB ``[N, H, W, 3]``."""

    indices: NDArray[np.int64]
    frames: NDArray[np.uint8]


@dataclass(frozen=True)
class _Decoded:
    fps: float
    total: int
    width: int
    height: int
    stored: dict[int, _Stored]  # by longest side
    per_component: dict[str, NDArray[np.int64]]
    cuts: list[int]


def _decode(
    video: Path,
    segmenter: SegmenterConfig,
    sampling: Mapping[str, SamplingPolicy],
    components: Sequence[str],
) -> _Decoded:
    """One pass: frames feed shot detection; sampled frames are kept, RGB, per size."""
    with _open(video) as container:
        stream = container.streams.video[0]
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
        by_side: dict[int, list[NDArray[np.int64]]] = {}
        for name in components:
            by_side.setdefault(frame_side(segmenter, sampling[name]), []).append(planned[name])
        sizes = {
            side: _Size(_scaled(width, height, side), union_of(plans))
            for side, plans in by_side.items()
        }
        an_w = _even(segmenter.shot_analysis_width)
        an_h = _even(an_w * height / width)
        plan = _Plan(fps, sizes, _Converter(an_w, an_h), segmenter)
        passed = _decode_pass(video, container, plan, skip=segmenter.skip_nonref_frames)
    if passed is None:  # the stream's timestamps did not allow skipping: decode every frame
        with _open(video) as container:
            passed = _decode_pass(video, container, plan, skip=False)
    if passed is None:  # a pass without skipping always finishes: this is a bug, not bad input
        raise RuntimeError(f"{video}: the full decoding pass did not finish")
    total, frames, cuts = passed
    if total == 0:
        raise InputError(f"{video} has no decodable video frames")
    # The container's frame count is an estimate: keep only frames that were really decoded.
    # (Not a copy when all were: a fresh 200 MB array costs ~1.5 s of page faults here.)
    stored = {}
    for side, size in sizes.items():
        keep = size.indices < total
        kept = frames[side] if keep.all() else frames[side][keep]
        stored[side] = _Stored(size.indices[keep], kept)
    return _Decoded(
        fps=fps,
        total=total,
        width=width,
        height=height,
        stored=stored,
        per_component={name: idx[idx < total] for name, idx in planned.items()},
        cuts=cuts,
    )


def _open(video: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(video))
    except (av.FFmpegError, OSError) as error:
        raise InputError(f"cannot open video {video}: {error}") from error
    if not container.streams.video:
        container.close()
        raise InputError(f"{video} has no video stream")
    return container


@dataclass(frozen=True)
class _Size:
    """One size of stored frames: ``(width, height)`` and the video frame indices kept at it."""

    wh: tuple[int, int]
    indices: NDArray[np.int64]


@dataclass(frozen=True)
class _Plan:
    fps: float
    sizes: dict[int, _Size]  # by longest side
    convert: _Converter
    segmenter: SegmenterConfig


class _CannotSkip(Exception):
    """The stream's timestamps do not support indexing frames with packets skipped."""


class _Indexer:
    """Presentation-order frame indices, and which packets the decoder may skip.

    Without skipping, a frame's index is how many frames came before it. With skipping, it is
    the rank of its timestamp among the packets' (every frame has a packet, decoded or not);
    a packet is decoded in full when its timestamp puts it on a planned frame.
    """

    def __init__(self, stream: av.video.stream.VideoStream, fps: float, wanted: set[int]) -> None:
        self.fps = fps
        self.wanted = wanted
        self.time_base = stream.time_base
        self.start = stream.start_time
        self.pending = deque(sorted(wanted))  # planned indices not yet decoded
        self.seen: list[int] = []  # sorted timestamps of the packets demuxed so far
        self.given: list[tuple[int, int]] = []  # (timestamp, index) of each decoded frame
        self.count = 0

    def skip_frame(self, packet: av.Packet[Any]) -> Literal["DEFAULT", "NONREF"]:
        """The decoder's ``skip_frame`` for this packet: NONREF unless it is a planned frame."""
        if packet.pts is None or self.time_base is None:
            raise _CannotSkip
        self.start = packet.pts if self.start is None else self.start
        estimate = round(float((packet.pts - self.start) * self.time_base) * self.fps)
        bisect.insort(self.seen, packet.pts)
        return "DEFAULT" if estimate in self.wanted else "NONREF"

    def index(self, frame: av.VideoFrame, *, skip: bool) -> int:
        self.count += 1
        if not skip:
            return self.count - 1
        if frame.pts is None:
            raise _CannotSkip
        index = bisect.bisect_left(self.seen, frame.pts)
        self.given.append((frame.pts, index))
        while self.pending and self.pending[0] <= index:
            if self.pending.popleft() < index:  # a planned frame went by undecoded
                raise _CannotSkip
        return index

    def total(self, *, skip: bool) -> int:
        """Frames in the stream; with skipping, after checking every index given still holds."""
        if not skip:
            return self.count
        total = len(self.seen)
        ranks_hold = len(set(self.seen)) == total and all(
            bisect.bisect_left(self.seen, pts) == index for pts, index in self.given
        )
        if not ranks_hold or any(i < total for i in self.pending):
            raise _CannotSkip
        return total


def _decode_pass(
    video: Path, container: av.container.InputContainer, plan: _Plan, *, skip: bool
) -> tuple[int, dict[int, NDArray[np.uint8]], list[int]] | None:
    """Decode, detect shots, keep the planned frames; ``(total, frames by side, cuts)``.

    With ``skip``, packets of frames no component samples are decoded with
    ``skip_frame=NONREF``: frames nothing else is predicted from are dropped by the decoder
    (with x264's B-pyramid, 40-45 % of them), and every other frame decodes exactly as it
    would have. Shot detection runs on the frames decoded (a cut is found at the first decoded
    frame of the new shot; encoders put their scene-cut I/P frames there, which are never
    skipped). When the timestamps do not support this (missing or repeated, a planned frame
    not decoded), the pass returns None and the caller decodes every frame instead.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    codec = stream.codec_context
    segmenter, convert = plan.segmenter, plan.convert
    detector = ContentDetector(
        threshold=segmenter.shot_threshold, min_scene_len=segmenter.shot_min_len_frames
    )
    # Each planned frame index -> where it goes: (side, position in that side's frames).
    wanted: dict[int, list[tuple[int, int]]] = {}
    for side, size in plan.sizes.items():
        for pos, index in enumerate(size.indices):
            wanted.setdefault(int(index), []).append((side, pos))
    indexer = _Indexer(stream, plan.fps, set(wanted))
    frames = {
        side: np.zeros((len(size.indices), size.wh[1], size.wh[0], 3), dtype=np.uint8)
        for side, size in plan.sizes.items()
    }
    cuts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.size and skip:
                codec.skip_frame = indexer.skip_frame(packet)
            for frame in codec.decode(packet):
                index = indexer.index(frame, skip=skip)
                small = convert.small_bgr(frame)
                found = detector.process_frame(FrameTimecode(index, plan.fps), small)
                cuts.extend(int(t.frame_num) for t in found)
                for side, pos in wanted.get(index, ()):
                    frames[side][pos] = convert.rgb(frame, plan.sizes[side].wh)
        total = indexer.total(skip=skip)
    except _CannotSkip:
        return None
    except av.FFmpegError as error:
        raise InputError(f"decoding {video} failed at frame {indexer.count}: {error}") from error
    return total, frames, cuts


# AVColorSpace values whose YUV->RGB matrix is BT.601's (swscale's default for untagged video).
_BT601 = frozenset({2, 5, 6})  # unspecified, BT470BG, SMPTE170M


class _Converter:
    """Decoded frames to the Segmenter's two pictures, resized straight from the YUV planes.

    8-bit 4:2:0 video (``yuv420p``, what H.264/HEVC/VP9/AV1 uploads decode to) is resized per
    plane with OpenCV (area averaging for the stored frames) and converted with OpenCV's
    BT.601 limited-range I420 matrix, the one swscale applies to untagged or BT.601 video; a
    frame tagged with another matrix (BT.709, most phone video) is converted by swscale after
    the resize, with its own tag. Either costs about half of swscale's scale-and-convert; shot
    detection's thumbnails (nearest-neighbour, colour histograms need no careful scaler) about
    a fifth. Any other pixel format goes through swscale as before.
    """

    def __init__(self, an_w: int, an_h: int) -> None:
        self.analysis = (an_w, an_h)

    @staticmethod
    def _planes(frame: av.VideoFrame) -> list[NDArray[np.uint8]] | None:
        if frame.format.name != "yuv420p":
            return None
        return [
            np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[
                :, : plane.width
            ]
            for plane in frame.planes
        ]

    @staticmethod
    def _i420(
        planes: list[NDArray[np.uint8]], size: tuple[int, int], interpolation: int
    ) -> NDArray[np.uint8]:
        width, height = size
        buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        flat = buffer.reshape(-1)
        cv2.resize(planes[0], size, dst=buffer[:height], interpolation=interpolation)
        chroma = (width // 2) * (height // 2)
        for n, plane in enumerate(planes[1:]):
            start = width * height + n * chroma
            small = cv2.resize(plane, (width // 2, height // 2), interpolation=interpolation)
            flat[start : start + chroma] = small.reshape(-1)
        return buffer

    def small_bgr(self, frame: av.VideoFrame) -> NDArray[np.uint8]:
        """Shot detection's thumbnail, BGR."""
        planes = self._planes(frame)
        if planes is None:
            width, height = self.analysis
            small = frame.to_ndarray(
                format="bgr24", width=width, height=height, interpolation="FAST_BILINEAR"
            )
            return np.asarray(small, dtype=np.uint8)
        i420 = self._i420(planes, self.analysis, cv2.INTER_NEAREST)
        return np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)

    def rgb(self, frame: av.VideoFrame, size: tuple[int, int]) -> NDArray[np.uint8]:
        """A stored frame: RGB at ``size`` (width, height), area-averaged."""
        planes = self._planes(frame)
        width, height = size
        if planes is None:
            picture = frame.to_ndarray(
                format="rgb24", width=width, height=height, interpolation="AREA"
            )
            return np.asarray(picture, dtype=np.uint8)
        i420 = self._i420(planes, size, cv2.INTER_AREA)
        if int(frame.colorspace) in _BT601:
            return np.asarray(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)
        resized = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        resized.colorspace = frame.colorspace
        return np.asarray(resized.to_ndarray(format="rgb24"), dtype=np.uint8)


class _HashingWriter:
    """A binary file that hashes what is written to it (no second read of a large file)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        return self.handle.write(data)


def _save_npy_atomic(path: Path, array: NDArray[Any]) -> str:
    """Write ``array`` as ``.npy`` atomically; return the file's sha256, hashed as written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _HashingWriter(handle)
            # np.save's bytes (a version 1.0 header, then the C-order data) without its copy of
            # the data into bytes objects on the way to a non-file writer.
            data = np.ascontiguousarray(array)
            header: dict[str, Any] = {
                "descr": np.lib.format.dtype_to_descr(data.dtype),
                "fortran_order": False,
                "shape": data.shape,
            }
            np.lib.format.write_array_header_1_0(writer, header)
            writer.write(data.reshape(-1).view(np.uint8).data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return writer.digest.hexdigest()


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
