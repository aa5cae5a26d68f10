"""Reading a Segmenter's ``frames_dir``: metadata, frames, audio, per-component indices.

Frames are stored once per size: ``frames_<max_side>.npy`` holds, in index order, the union of
the frames sampled by the components that read that size (``metadata.json``'s ``frame_files``
lists each file's ``frame_indices``, shape and sha256; each component names its file).
"""

from __future__ import annotations

import json
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.errors import MissingDependencyError, MissingFrameIndicesError
from trendflow.store.npz import sha256_file

METADATA_NAME = "metadata.json"
AUDIO_DIR = "audio"
FRAMES_SCHEMA = "frames_dir_v2"


def frames_file_name(max_side: int) -> str:
    """The file holding the frames scaled to ``max_side`` (longest side)."""
    return f"frames_{max_side}.npy"


def union_of(indices: Iterable[Sequence[int] | NDArray[np.int64]]) -> NDArray[np.int64]:
    """The sorted union of frame index lists (empty when there are none)."""
    return np.unique(np.concatenate([np.zeros(0, np.int64), *map(np.asarray, indices)]))


AUDIO_SEGMENTS_CONTRACT = "audio_segments_v1"


@dataclass(frozen=True)
class FramesDir:
    """A Segmenter output folder. Frames are RGB uint8, ``[N, H, W, 3]`` in union order."""

    path: Path

    def metadata(self) -> dict[str, Any]:
        """``metadata.json``; raise if the Segmenter has not written it, or an older one did."""
        meta_path = self.path / METADATA_NAME
        if not meta_path.exists():
            raise MissingDependencyError("frames_dir", str(meta_path), "run the segmenter first")
        data: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        if data.get("schema_version") != FRAMES_SCHEMA:
            raise MissingDependencyError(
                "frames_dir", FRAMES_SCHEMA, f"{meta_path} is another version: segment again"
            )
        return data

    def intact(self) -> bool:
        """Whether the metadata and every frames file it lists are there, as written."""
        try:
            files = self.metadata()["frame_files"]
        except MissingDependencyError:
            return False
        return all(
            (self.path / name).exists() and sha256_file(self.path / name) == entry["sha256"]
            for name, entry in files.items()
        )

    def frame_indices(self, component: str) -> NDArray[np.int64]:
        """The video frame indices the Segmenter sampled for ``component`` (no fallback)."""
        return self._frame_indices(self.metadata(), component)

    def _frame_indices(self, meta: dict[str, Any], component: str) -> NDArray[np.int64]:
        sampling = meta.get("components", {})
        if component not in sampling or "frame_indices" not in sampling[component]:
            raise MissingFrameIndicesError(component, str(self.path))
        return np.asarray(sampling[component]["frame_indices"], dtype=np.int64)

    def frames(self, component: str) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
        """``(frame_indices, frames)`` for ``component``, frames RGB ``[N, H, W, 3]``."""
        meta = self.metadata()
        indices = self._frame_indices(meta, component)
        if meta.get("color_space") != "RGB":
            raise MissingDependencyError(component, "RGB frames", f"{self.path} is not RGB")
        name = meta["components"][component]["frames_file"]
        stored = np.asarray(meta["frame_files"][name]["frame_indices"], dtype=np.int64)
        frames_path = self.path / name
        if not frames_path.exists():
            raise MissingDependencyError(component, str(frames_path), "the frames were purged")
        all_frames = np.load(frames_path, mmap_mode="r")
        positions = np.searchsorted(stored, indices)
        if len(indices) and (
            positions.max() >= len(stored) or (stored[positions] != indices).any()
        ):
            raise MissingDependencyError(component, "frames", f"indices missing from {name}")
        return indices, np.asarray(all_frames[positions], dtype=np.uint8)

    def audio_metadata(self) -> dict[str, Any]:
        path = self.path / AUDIO_DIR / METADATA_NAME
        if not path.exists():
            raise MissingDependencyError("audio", str(path), "run the segmenter first")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def audio_segments(self) -> dict[str, Any]:
        path = self.path / AUDIO_DIR / "segments.json"
        if not path.exists():
            raise MissingDependencyError("audio", str(path), "run the segmenter first")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("contract") != AUDIO_SEGMENTS_CONTRACT:
            raise MissingDependencyError("audio", AUDIO_SEGMENTS_CONTRACT, f"{path} is another")
        return data

    def audio_samples(self) -> tuple[NDArray[np.float32], int]:
        """Mono float32 samples in [-1, 1] and the sample rate of ``audio/audio.wav``."""
        path = self.path / AUDIO_DIR / "audio.wav"
        if not path.exists():
            raise MissingDependencyError("audio", str(path), "the video has no audio track")
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return samples, rate
