"""The components of a run: what each reads, depends on, and how it is versioned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from trendflow.config import PipelineConfig
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.segmenter.service import segment
from trendflow.visual import core_objects

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


def _segmenter_run(ctx: Context) -> ComponentResult:
    frame_users = [s.name for s in all_components() if s.reads == "frames"]
    enabled = [n for n in frame_users if n not in ctx.config.disabled]
    result = segment(
        ctx.inputs.video,
        ctx.frames.path,
        segmenter=ctx.config.segmenter,
        sampling=ctx.config.sampling,
        components=enabled,
        config_hash=ctx.config_hash,
        video_sha256=ctx.video_sha256,
    )
    arrays = dict(result.arrays)
    arrays["frames_present"] = arrays["union_frame_indices"] >= 0
    return ComponentResult(artifacts=[Artifact("segmentation", arrays)])


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


def all_components() -> list[ComponentSpec]:
    """Every component, in a valid topological order."""
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
        ComponentSpec(
            name=core_objects.NAME,
            producer="VisualProcessor.core_object_detections",
            version=core_objects.VERSION,
            schema=core_objects.SCHEMA,
            depends_on=(SEGMENTER,),
            reads="frames",
            gpu=True,
            run=core_objects.run,
            settings=_frames_settings(
                core_objects.NAME, lambda c: c.components.core_object_detections
            ),
            models=lambda c: (c.components.core_object_detections.model,),
        ),
    ]
