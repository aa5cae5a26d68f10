"""What a component receives and returns. Processors know nothing of the store or manifest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from numpy.typing import NDArray

from trendflow.config import PipelineConfig
from trendflow.models.registry import ModelStore
from trendflow.segmenter.frames import FramesDir

Retention = Literal["standard", "raw_text"]


@dataclass(frozen=True)
class Artifact:
    """One NPZ file of a component: arrays, and ``empty_reason`` when there was nothing to see."""

    name: str
    arrays: dict[str, NDArray[Any]]
    empty_reason: str | None = None
    retention: Retention = "standard"


@dataclass(frozen=True)
class ComponentResult:
    """A component's artifacts and the models it ran."""

    artifacts: list[Artifact]
    models_used: list[dict[str, str]] = field(default_factory=list)

    @property
    def empty_reason(self) -> str | None:
        """The component is empty when every artifact is; the first reason names it."""
        reasons = [a.empty_reason for a in self.artifacts]
        if reasons and all(reasons):
            return reasons[0]
        return None


MediaKind = Literal["video", "image", "text"]


@dataclass(frozen=True)
class RunInputs:
    """The inputs of one job: the media file (a video, or an image for an image job), the
    video's meta and comments, or for a text job its items (JSONL of ``{"id", "text"}``) and the
    brand dictionary (JSON ``{name: [aliases]}``) they are matched against."""

    video: Path | None = None
    meta: Path | None = None
    comments: Path | None = None
    items: Path | None = None
    brands: Path | None = None


UpstreamReader = Callable[[str, str], tuple[dict[str, NDArray[Any]], dict[str, Any]]]


@dataclass(frozen=True)
class Context:
    """Everything a component may read. ``upstream(component, artifact)`` loads an NPZ.

    GPU-heavy components are run inside the run's ``gpu_max_concurrent`` slots by the
    DataProcessor; a component never manages that limit itself.
    """

    component: str
    config: PipelineConfig
    inputs: RunInputs
    frames: FramesDir
    models: ModelStore
    upstream: UpstreamReader
    config_hash: str
    video_sha256: str
