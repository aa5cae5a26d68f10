"""The components of a run: what each reads, depends on, and how it is versioned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trendflow.audio import asr, tier0
from trendflow.config import PipelineConfig
from trendflow.errors import MissingDependencyError
from trendflow.pipeline import image
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context, MediaKind
from trendflow.segmenter.service import Segmentation, frame_side, segment
from trendflow.text import features as text
from trendflow.visual import core_clip, core_depth, core_faces, core_objects, modules, ocr

SEGMENTER = "segmenter"

InputKind = Literal["video", "frames", "audio", "shots", "text", "upstream"]


@dataclass(frozen=True)
class ComponentSpec:
    """A component: its producer identity, dependencies, config slice and models."""

    name: str
    producer: str
    version: str
    schema: str
    depends_on: tuple[str, ...]
    reads: InputKind
    gpu: bool
    run: Callable[[Context], ComponentResult]
    settings: Callable[[PipelineConfig], dict[str, Any]]
    models: Callable[[PipelineConfig], tuple[str, ...]] = lambda _config: ()


def _dump(value: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = value.model_dump(mode="json")
    return dumped


def _frames_settings(name: str, section: Callable[[PipelineConfig], Any] | None = None) -> Any:
    def settings(config: PipelineConfig) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frame_max_side": config.segmenter.frame_max_side,
            "sampling": _dump(config.sampling[name]) if name in config.sampling else None,
        }
        if section is not None:
            out["params"] = _dump(section(config))
        return out

    return settings


def _media(ctx: Context) -> Path:
    if ctx.inputs.video is None:
        raise MissingDependencyError(ctx.component, "media file", "the job has no video or image")
    return ctx.inputs.video


def _segmentation_result(result: Segmentation) -> ComponentResult:
    arrays = dict(result.arrays)
    arrays["frames_present"] = arrays["union_frame_indices"] >= 0
    return ComponentResult(artifacts=[Artifact("segmentation", arrays)])


def _segmenter_run(ctx: Context) -> ComponentResult:
    frame_users = [s.name for s in all_components() if s.reads == "frames"]
    enabled = [n for n in frame_users if n not in ctx.config.disabled]
    result = segment(
        _media(ctx),
        ctx.frames.path,
        segmenter=ctx.config.segmenter,
        sampling=ctx.config.sampling,
        components=enabled,
        config_hash=ctx.config_hash,
        video_sha256=ctx.video_sha256,
    )
    return _segmentation_result(result)


def _image_frame_users(config: PipelineConfig) -> list[str]:
    return [
        s.name
        for s in all_components()
        if s.reads == "frames" and s.name in IMAGE_COMPONENTS and s.name not in config.disabled
    ]


def _image_segmenter_run(ctx: Context) -> ComponentResult:
    result = image.segment_image(
        _media(ctx),
        ctx.frames.path,
        segmenter=ctx.config.segmenter,
        sampling=ctx.config.sampling,
        components=_image_frame_users(ctx.config),
        config_hash=ctx.config_hash,
        video_sha256=ctx.video_sha256,
    )
    return _segmentation_result(result)


def _image_segmenter_settings(config: PipelineConfig) -> dict[str, Any]:
    return {
        "media_kind": "image",
        "frame_sides": {
            name: frame_side(config.segmenter, config.sampling.get(name))
            for name in _image_frame_users(config)
        },
    }


def _segmenter_settings(config: PipelineConfig) -> dict[str, Any]:
    frame_users = [s.name for s in all_components() if s.reads == "frames"]
    return {
        "segmenter": _dump(config.segmenter),
        "sampling": {
            n: _dump(config.sampling[n])
            for n in frame_users
            if n in config.sampling and n not in config.disabled
        },
    }


def _shot_settings(config: PipelineConfig) -> dict[str, Any]:
    seg = config.segmenter
    return {
        "shot_threshold": seg.shot_threshold,
        "shot_min_len_frames": seg.shot_min_len_frames,
        "shot_analysis_width": seg.shot_analysis_width,
    }


def _audio_settings(config: PipelineConfig) -> dict[str, Any]:
    seg = config.segmenter
    return {
        "audio_sample_rate": seg.audio_sample_rate,
        "audio_window_s": seg.audio_window_s,
        "audio_hop_s": seg.audio_hop_s,
        "params": _dump(config.components.audio_tier0),
    }


def _asr_settings(config: PipelineConfig) -> dict[str, Any]:
    section = config.components.asr_extractor
    out: dict[str, Any] = {
        "audio_sample_rate": config.segmenter.audio_sample_rate,
        # cpu_threads changes how fast, not what: left out like the run-wide execution knobs.
        "params": section.model_dump(mode="json", exclude={"cpu_threads"}),
    }
    if section.vad_filter:
        # The VAD model ships inside faster-whisper, outside the registry: its hash keys the
        # component like a registry model's would.
        out["vad_sha256"] = asr.vad_record()["sha256"]
    return out


def _no_settings(_config: PipelineConfig) -> dict[str, Any]:
    return {}


def _visual_core(
    module: Any, section: Callable[[PipelineConfig], Any], producer: str
) -> ComponentSpec:
    return ComponentSpec(
        name=module.NAME,
        producer=f"VisualProcessor.{producer}",
        version=module.VERSION,
        schema=module.SCHEMA,
        depends_on=(SEGMENTER,),
        reads="frames",
        gpu=True,
        run=module.run,
        settings=_frames_settings(module.NAME, section),
        models=lambda c: (section(c).model,),
    )


def _module(
    name: str,
    run: Callable[[Context], ComponentResult],
    depends_on: tuple[str, ...],
    reads: InputKind,
    settings: Callable[[PipelineConfig], dict[str, Any]],
) -> ComponentSpec:
    return ComponentSpec(
        name=name,
        producer=f"VisualProcessor.modules.{name}",
        version=modules.VERSION,
        schema=f"{name}_v1",
        depends_on=depends_on,
        reads=reads,
        gpu=False,
        run=run,
        settings=settings,
    )


# What makes sense for one frame: no shots, audio, speech or video text; no depth either (the
# service's image summary does not use it).
IMAGE_COMPONENTS = frozenset(
    {
        core_clip.NAME,
        core_objects.NAME,
        core_faces.NAME,
        "color_motion",
        ocr.NAME,
        "faces_over_time",
        "objects_over_time",
    }
)


def image_segmenter() -> ComponentSpec:
    """The Segmenter of an image job (:mod:`trendflow.pipeline.image`), same name and schema."""
    return ComponentSpec(
        name=SEGMENTER,
        producer="Segmenter.image",
        version="1.0.0",
        schema="segmenter_v1",
        depends_on=(),
        reads="video",
        gpu=False,
        run=_image_segmenter_run,
        settings=_image_segmenter_settings,
    )


def text_items() -> ComponentSpec:
    """A text job's one component: per item language, hashtags, mentions, brands, embedding."""
    return ComponentSpec(
        name=text.ITEMS,
        producer="TextProcessor.items",
        version=text.ITEMS_VERSION,
        schema=text.SCHEMA_ITEMS,
        depends_on=(),
        reads="text",
        gpu=False,
        run=text.items,
        settings=_no_settings,
    )


def components_for(kind: MediaKind) -> list[ComponentSpec]:
    """The components of a job of ``kind``, in a valid topological order."""
    if kind == "text":
        return [text_items()]
    if kind == "image":
        return [image_segmenter()] + [s for s in all_components() if s.name in IMAGE_COMPONENTS]
    return all_components()


def known_names() -> set[str]:
    """Every component name of every kind."""
    return {s.name for s in all_components()} | {text.ITEMS}


def all_components() -> list[ComponentSpec]:
    """Every component of a video run, in a valid topological order."""
    return [
        ComponentSpec(
            name=SEGMENTER,
            producer="Segmenter",
            version="1.0.0",
            schema="segmenter_v1",
            depends_on=(),
            reads="video",
            gpu=False,
            run=_segmenter_run,
            settings=_segmenter_settings,
        ),
        # The audio components first: ASR is the longest single-threaded job of a run, and
        # started first it runs beside the visual ones instead of after them.
        ComponentSpec(
            name=tier0.NAME,
            producer="AudioProcessor.tier0",
            version=tier0.VERSION,
            schema=tier0.SCHEMA,
            depends_on=(SEGMENTER,),
            reads="audio",
            gpu=False,
            run=tier0.run,
            settings=_audio_settings,
        ),
        ComponentSpec(
            name=asr.NAME,
            producer="AudioProcessor.asr_extractor",
            version=asr.VERSION,
            schema=asr.SCHEMA,
            depends_on=(SEGMENTER,),
            reads="audio",
            gpu=False,
            run=asr.run,
            settings=_asr_settings,
            models=lambda c: (c.components.asr_extractor.model,),
        ),
        _visual_core(core_clip, lambda c: c.components.core_clip, "core_clip"),
        _visual_core(core_depth, lambda c: c.components.core_depth_midas, "core_depth_midas"),
        _visual_core(
            core_objects, lambda c: c.components.core_object_detections, "core_object_detections"
        ),
        _visual_core(core_faces, lambda c: c.components.core_face_landmarks, "core_face_landmarks"),
        _module("shot_stats", modules.shot_stats, (SEGMENTER,), "shots", _shot_settings),
        _module(
            "color_motion",
            modules.color_motion,
            (SEGMENTER,),
            "frames",
            _frames_settings("color_motion", lambda c: c.components.color_motion),
        ),
        ComponentSpec(
            name=ocr.NAME,
            producer=f"VisualProcessor.modules.{ocr.NAME}",
            version=ocr.VERSION,
            schema=ocr.SCHEMA,
            depends_on=(SEGMENTER,),
            reads="frames",
            gpu=False,
            run=ocr.run,
            settings=_frames_settings(ocr.NAME, lambda c: c.components.ocr_text),
            models=lambda c: (
                c.components.ocr_text.det_model,
                c.components.ocr_text.cls_model,
                c.components.ocr_text.rec_model,
            ),
        ),
        _module(
            "faces_over_time",
            modules.faces_over_time,
            (SEGMENTER, core_faces.NAME),
            "upstream",
            _no_settings,
        ),
        _module(
            "objects_over_time",
            modules.objects_over_time,
            (SEGMENTER, core_objects.NAME),
            "upstream",
            _no_settings,
        ),
        ComponentSpec(
            name=text.METADATA,
            producer="TextProcessor.metadata",
            version=text.VERSION,
            schema=text.SCHEMA_METADATA,
            depends_on=(),
            reads="text",
            gpu=False,
            run=text.metadata,
            settings=_no_settings,
        ),
        ComponentSpec(
            name=text.COMMENTS,
            producer="TextProcessor.comments",
            version=text.VERSION,
            schema=text.SCHEMA_COMMENTS,
            depends_on=(),
            reads="text",
            gpu=False,
            run=text.comments,
            settings=lambda c: _dump(c.components.text),
        ),
    ]
