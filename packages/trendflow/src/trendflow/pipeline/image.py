"""The Segmenter of an image job: one frame, under the video Segmenter's contracts.

An image is a video of one frame (index 0) at 1 fps: ``frames_dir`` holds that frame (RGB,
scaled like the Segmenter's frames, one ``frames_<max_side>.npy`` per size its frame users
read) and ``metadata.json`` giving frame 0 to every frame user; the ``segmenter`` artifact has
the same arrays as for a video (one shot, no audio). So the visual components run unchanged,
and ``trendflow validate`` checks the run like any other.

Decoding goes through Pillow rather than FFmpeg: it applies the EXIF orientation a phone photo
carries, reads PNG/WebP/GIF (first frame) as well as JPEG, and flattens transparency on white.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from trendflow.config import SamplingPolicy, SegmenterConfig
from trendflow.errors import InputError
from trendflow.segmenter.frames import FRAMES_SCHEMA, METADATA_NAME, frames_file_name
from trendflow.segmenter.service import Segmentation, frame_side, write_frames
from trendflow.store.npz import write_bytes_atomic
from trendflow.versions import SAMPLING_POLICY_VERSION

# One frame stands for one second: timestamps and rates derived from fps stay finite.
IMAGE_FPS = 1.0
# Pillow's own bomb limit is ~179 Mpx (2x its warning level); a photo never needs more than this.
MAX_PIXELS = 80_000_000


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def decode_image(path: Path) -> NDArray[np.uint8]:
    """The image as RGB uint8 ``[H, W, 3]``, upright; :class:`InputError` if it is no image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise InputError(
                        f"image {path.name} has {opened.width}x{opened.height} pixels, "
                        f"more than {MAX_PIXELS}"
                    )
                image = ImageOps.exif_transpose(opened)
                if image.mode in {"RGBA", "LA", "PA"} or (
                    image.mode == "P" and "transparency" in image.info
                ):
                    rgba = image.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    image = Image.alpha_composite(background, rgba)
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path.name} is not an image Pillow can decode") from None
    except (OSError, ValueError, SyntaxError) as error:
        # Pillow raises these for truncated or corrupt files (SyntaxError: broken PNG chunks).
        raise InputError(f"cannot decode image {path.name}: {error}") from error


def _frame(rgb: NDArray[np.uint8], max_side: int) -> NDArray[np.uint8]:
    """Scaled like the Segmenter's frames: longest side at most ``max_side``, even sides."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    size = (_even(width * scale), _even(height * scale))
    if size == (width, height):
        return rgb
    resized = Image.fromarray(rgb).resize(size, Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.uint8)


def segment_image(
    image: Path,
    frames_dir: Path,
    *,
    segmenter: SegmenterConfig,
    sampling: Mapping[str, SamplingPolicy],
    components: Sequence[str],
    config_hash: str,
    video_sha256: str,
) -> Segmentation:
    """Decode ``image`` and write ``frames_dir``; ``components`` are the frame users.

    Of each component's sampling policy only its frame size applies (one frame is all there is).
    """
    rgb = decode_image(image)
    sides = {name: frame_side(segmenter, sampling.get(name)) for name in components}
    if frames_dir.exists():
        for stale in frames_dir.iterdir():
            if stale.is_file():
                stale.unlink()
    frames_dir.mkdir(parents=True, exist_ok=True)
    zero = np.zeros(1, dtype=np.int64)
    frame_files = dict(
        write_frames(frames_dir, side, zero, _frame(rgb, side)[None, ...])
        for side in sorted(set(sides.values()))
    )
    metadata: dict[str, Any] = {
        "schema_version": FRAMES_SCHEMA,
        "media_kind": "image",
        "color_space": "RGB",
        "created_at": datetime.now(UTC).isoformat(),
        "video_path": str(image),
        "video_sha256": video_sha256,
        "config_hash": config_hash,
        "sampling_policy_version": SAMPLING_POLICY_VERSION,
        "fps": IMAGE_FPS,
        "total_frames": 1,
        "duration_s": 0.0,
        "source_width": int(rgb.shape[1]),
        "source_height": int(rgb.shape[0]),
        "frame_files": frame_files,
        "union_frame_indices": [0],
        "components": {
            name: {
                "frame_indices": [0],
                "policy": {"image": True, "max_side": side},
                "frames_file": frames_file_name(side),
            }
            for name, side in sides.items()
        },
        "shots": {"starts": [0], "ends": [1]},
        "audio": {"has_audio": False, "empty_reason": "image_input", "duration_s": 0.0},
    }
    text = json.dumps(metadata, indent=2, sort_keys=True)
    write_bytes_atomic(frames_dir / METADATA_NAME, (text + "\n").encode())
    arrays: dict[str, NDArray[Any]] = {
        "union_frame_indices": zero,
        "shot_start_frames": zero,
        "shot_end_frames": np.ones(1, dtype=np.int64),
        "shot_start_s": np.zeros(1),
        "shot_end_s": np.ones(1) / IMAGE_FPS,
        "fps": np.array(IMAGE_FPS),
        "total_frames": np.array(1),
        "audio_present": np.array(False),
    }
    for name in components:
        arrays[f"frame_indices__{name}"] = zero
    return Segmentation(metadata=metadata, arrays=arrays)
