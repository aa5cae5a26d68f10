"""Pipeline configuration: one YAML file, one ``config_hash`` per run.

The whole config is hashed into the run's ``config_hash`` (recorded in ``manifest.run`` and in the
``meta`` of every NPZ). Each component also gets a ``component_config_hash`` over only the parts it
reads (its own section, its sampling policy, the decode settings), so a change to one component's
section recomputes that component and its dependents and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trendflow.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingPolicy(_Strict):
    """Uniform sampling in time: ``fps`` frames per second, at most ``max_frames`` per video."""

    fps: float = Field(gt=0, description="Frames per second of video to sample.")
    max_frames: int = Field(default=256, ge=1, description="Cap; beyond it, spread uniformly.")
    max_side: int | None = Field(
        default=None,
        ge=16,
        description="Longest side of this component's frames (never enlarged); null: the "
        "Segmenter's frame_max_side. Each size is stored once, in its own frames file.",
    )


def _default_sampling() -> dict[str, SamplingPolicy]:
    # Rates are set by CPU per minute of video on the 2-core reference machine
    # (benchmarks/trendflow.py, docs/trendflow.md "Benchmark"): the detectors cost ~30 ms
    # (YOLOX-nano), ~15 ms (YuNet on 640 px) and ~80 ms (PP-OCRv4 det) of CPU per frame, so
    # objects and faces sample 1 fps (was 2: 7 s of CPU per minute between them) and OCR
    # 0.5 fps (was 1: on-screen text in short-form video stays up for seconds). Every 1 fps
    # and 0.5 fps frame is also a 5 fps colour/motion frame. Colour and motion are whole-frame
    # statistics: they read 160-px frames, so the 640-px frames are only the 1 fps ones (60
    # per minute, not 300: converting and writing the other 240 took 3.4 of the Segmenter's
    # 5.5 s per minute of video).
    return {
        "core_clip": SamplingPolicy(fps=1.0, max_frames=64),
        "core_depth_midas": SamplingPolicy(fps=1.0, max_frames=64),
        "core_object_detections": SamplingPolicy(fps=1.0, max_frames=128),
        "core_face_landmarks": SamplingPolicy(fps=1.0, max_frames=128),
        "color_motion": SamplingPolicy(fps=5.0, max_frames=300, max_side=160),
        "ocr_text": SamplingPolicy(fps=0.5, max_frames=64),
    }


class SegmenterConfig(_Strict):
    """How the Segmenter decodes: frame size, shot detection, audio windows."""

    frame_max_side: int = Field(default=640, ge=32, description="Longest side of stored frames.")
    shot_threshold: float = Field(default=27.0, gt=0, description="ContentDetector threshold.")
    shot_min_len_frames: int = Field(default=8, ge=1, description="Shortest shot, frames.")
    shot_analysis_width: int = Field(default=160, ge=16, description="Width for shot detection.")
    skip_nonref_frames: bool = Field(
        default=True,
        description="Decode frames no component samples with skip_frame=NONREF: frames no "
        "other frame is predicted from are not decoded (40-45 % of an x264 B-pyramid stream; "
        "decoding is most of the Segmenter's CPU), every other frame decodes exactly, and shot "
        "detection runs on the frames decoded. False decodes every frame.",
    )
    audio_sample_rate: int = Field(default=16000, ge=8000, description="audio.wav sample rate.")
    audio_window_s: float = Field(default=1.0, gt=0, description="audio_segments_v1 window.")
    audio_hop_s: float = Field(default=0.5, gt=0, description="audio_segments_v1 hop.")


class ClipConfig(_Strict):
    model: str = "clip_vit_b32_visual"
    batch_size: int = Field(default=8, ge=1)


class DepthConfig(_Strict):
    model: str = "midas_v21_small_256"
    map_size: int = Field(default=32, ge=4, description="Side of the stored per-frame depth map.")


class ObjectsConfig(_Strict):
    model: str = "yolox_nano"
    score_threshold: float = Field(default=0.3, gt=0, lt=1)
    nms_iou: float = Field(default=0.45, gt=0, lt=1)
    max_detections: int = Field(default=50, ge=1)


class FacesConfig(_Strict):
    model: str = "yunet_n"
    score_threshold: float = Field(default=0.7, gt=0, lt=1)
    nms_iou: float = Field(default=0.3, gt=0, lt=1)
    max_faces: int = Field(default=8, ge=1)


class ColorMotionConfig(_Strict):
    analysis_width: int = Field(default=160, ge=16, description="Width for motion estimation.")


class AudioConfig(_Strict):
    silence_db: float = Field(default=-40.0, description="Segments below this RMS dBFS are silent.")
    n_fft: int = Field(default=1024, ge=64)


class AsrConfig(_Strict):
    """Whisper ASR (faster-whisper, CTranslate2 on CPU) over the Segmenter's ``audio.wav``."""

    model: str = "whisper_base"
    compute_type: Literal["int8", "int8_float32", "float32"] = Field(
        default="int8", description="CTranslate2 compute type on CPU."
    )
    beam_size: int = Field(
        default=1,
        ge=1,
        description="Beam search width. 1 (greedy) by default: on this project's 2-core CPU "
        "beam 5 cost ~1.3x the CPU of greedy decoding for the same words on the LibriVox "
        "test speech (benchmarks/trendflow.py).",
    )
    language: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2,3}$",
        description="Language code to force (Whisper's, e.g. en); None detects it (first 30 s).",
    )
    vad_filter: bool = Field(
        default=True, description="Transcribe only what Silero VAD (bundled) calls speech."
    )
    temperatures: list[float] = Field(
        default_factory=lambda: [0.0],
        min_length=1,
        description="Whisper's fallback ladder: a window is decoded again at the next "
        "temperature while its output looks like a hallucination (compression ratio > 2.4 or "
        "mean log-prob < -1). Each step is a full decode; on music or hums Whisper's own "
        "ladder [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] costs ~4x the greedy pass, so the default is "
        "greedy only, with `drop_hallucinations` judging what the ladder would have retried.",
    )
    condition_on_previous_text: bool = Field(
        default=False,
        description="Prompt each 30 s window with the text decoded so far (Whisper's "
        "long-form default). Off by default: every window is then decoded on its own, which "
        "skips re-reading up to 223 prompt tokens per window (~10 % of ASR's CPU on a minute "
        "of speech) and keeps one window's hallucination from feeding the next.",
    )
    without_timestamps: bool = Field(
        default=False,
        description="Decode whole 30 s windows without timestamp tokens: one segment per "
        "window (its times the window's), and Whisper moves on 30 s at a time instead of "
        "from the last finished segment, so a minute of speech takes two encoder passes, not "
        "three. Measured on the benchmark's minute of speech (benchmarks/trendflow.py): 4.7 "
        "instead of 6.4 CPU s for the same words. Off by default: segments would no longer "
        "say when each utterance was spoken.",
    )
    drop_hallucinations: bool = Field(
        default=True,
        description="Drop segments Whisper's own thresholds reject once the ladder is spent: "
        "compression ratio > 2.4 (loops like 'Hmm hmm hmm…'), or no-speech probability > 0.6 "
        "with mean log-prob < -1 (silence).",
    )
    max_new_tokens: int | None = Field(
        default=None,
        ge=1,
        # Whisper's 448-token context also holds the prompt (up to 223 tokens of previous text
        # plus the start sequence): 220 new tokens always fit, more could fail mid-run.
        le=220,
        description="Tokens decoded per 30 s window at most; None: whatever the 448-token "
        "context leaves after the prompt.",
    )
    cpu_threads: int = Field(
        default=0,
        ge=0,
        description="CTranslate2 threads; 0 = its default. Execution only: not hashed.",
    )


class OcrConfig(_Strict):
    """Text on screen with RapidOCR (PP-OCRv4 det + cls + rec, ONNX Runtime)."""

    det_model: str = "ppocr_v4_det"
    cls_model: str = "ppocr_mobile_v2_cls"
    rec_model: str = "ppocr_v4_rec"
    text_score: float = Field(default=0.5, gt=0, lt=1, description="Drop boxes read below it.")
    box_threshold: float = Field(default=0.5, gt=0, lt=1, description="Detector box score.")
    det_max_side: int = Field(
        default=960,
        ge=32,
        description="Longest side OCR reads a frame at: larger frames are area-downscaled "
        "first (boxes are reported in frame coordinates), smaller ones never upscaled. The "
        "Segmenter's 640-px frames are under the default; 480 halves the detector's CPU "
        "(~95 -> ~45 ms a frame here) at the cost of text under ~10 px.",
    )
    max_boxes: int = Field(default=32, ge=1, description="Text boxes kept per frame.")


class TextConfig(_Strict):
    max_comments: int = Field(default=500, ge=1, description="Comments embedded per video.")


class ComponentsConfig(_Strict):
    core_clip: ClipConfig = ClipConfig()
    core_depth_midas: DepthConfig = DepthConfig()
    core_object_detections: ObjectsConfig = ObjectsConfig()
    core_face_landmarks: FacesConfig = FacesConfig()
    color_motion: ColorMotionConfig = ColorMotionConfig()
    audio_tier0: AudioConfig = AudioConfig()
    asr_extractor: AsrConfig = AsrConfig()
    ocr_text: OcrConfig = OcrConfig()
    text: TextConfig = TextConfig()


class ModelOverride(_Strict):
    """Point a registry model at a mirror or pin a hash the registry lacks."""

    url: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class PipelineConfig(_Strict):
    """Everything a run's outputs depend on. Unknown keys are errors."""

    segmenter: SegmenterConfig = SegmenterConfig()
    sampling: dict[str, SamplingPolicy] = Field(default_factory=_default_sampling)
    components: ComponentsConfig = ComponentsConfig()
    disabled: list[str] = Field(default_factory=list, description="Components not to run.")
    required: list[str] = Field(
        default_factory=lambda: ["segmenter"],
        description="Components whose failure fails the run; all others are optional.",
    )
    gpu_max_concurrent: int = Field(default=1, ge=1, description="GPU-heavy modules at once.")
    max_workers: int = Field(default=2, ge=1, description="Modules run in parallel per video.")
    onnx_threads: int = Field(default=0, ge=0, description="ONNX Runtime intra-op threads; 0=auto.")
    models: dict[str, ModelOverride] = Field(default_factory=dict)

    def config_hash(self) -> str:
        """The run's ``config_hash``: the whole config less execution-only knobs."""
        return stable_hash(self.model_dump(mode="json", exclude=_EXECUTION_ONLY))


# Execution knobs change how fast a run goes, never what it produces.
_EXECUTION_ONLY: dict[str, Any] = {
    "gpu_max_concurrent": True,
    "max_workers": True,
    "onnx_threads": True,
    "components": {"asr_extractor": {"cpu_threads"}},
}


def stable_hash(value: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: Path | None) -> PipelineConfig:
    """Load a YAML config (``None`` → defaults); raise :class:`ConfigError` naming the problem."""
    if path is None:
        return PipelineConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read config {path}: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"invalid config {path}:\n{error}") from error
