"""One video's features: what was known at publication, the early window, and its content.

Three groups of float columns (``docs/trendflow-targets.md`` lists them):

- ``meta.*``: known when the video was published (hour, weekday, caption, channel followers).
- ``early.*``: counts of the snapshots at or before ``published_at + observation_hours`` only,
  read with :func:`trendflow.learn.targets.last_at_or_before` (one-sided: nothing later is
  looked at).
- ``content.<component>.<name>``: the video's latest finished run, aggregated per component by
  one rule per array kind (a 0-d value as is; a per-frame or per-segment series as its mean,
  max and std; a boolean series as the share of True; the first columns of a matrix as their
  means over rows; the first entries of a vector), plus a few named features, and
  ``content.<component>.present`` (1 when the component's artifact was read). The columns are
  declared here, so every row has the same ones whatever its run held: a missing component
  gives NaN and ``present`` 0. ``text_comments`` is left out on purpose: comments are read when
  the video is synced, after the observation point, and their number follows its views.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from trendflow.errors import StoreError
from trendflow.learn.contract import METRICS
from trendflow.learn.snapshots import VideoHistory
from trendflow.learn.targets import last_at_or_before, observation_age
from trendflow.store.manifest import MANIFEST_NAME, RunManifest
from trendflow.store.npz import read_npz
from trendflow.text.features import COUNTS, hashtags, mentions

EARLY_HOURS = (6, 12, 18, 24)
META_COLUMNS = (
    "meta.hour_utc",
    "meta.weekday",
    "meta.caption_chars",
    "meta.hashtags",
    "meta.mentions",
    "meta.channel_followers_log1p",
)
# The first 8 of YOLOX's 80 COCO classes (core_object_detections.COCO_CLASSES, whose module
# loads OpenCV); objects_over_time keeps them in this order.
_COCO_FIRST = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck")
_EMBEDDING_COLUMNS = 8  # of a 384- or 512-d embedding: enough to carry a trace, not to explode

Kind = Literal["value", "series", "ratio", "matrix", "vector"]
Arrays = dict[str, NDArray[Any]]


@dataclass(frozen=True, slots=True)
class Take:
    """One array of an artifact and how it becomes columns."""

    array: str
    kind: Kind
    labels: tuple[str, ...] = ()  # matrix/vector: a column per label, from index 0

    def columns(self) -> list[str]:
        """The column names (after ``content.<component>.``)."""
        if self.kind == "value":
            return [self.array]
        if self.kind == "series":
            return [f"{self.array}_{stat}" for stat in ("mean", "max", "std")]
        if self.kind == "ratio":
            return [f"{self.array}_ratio"]
        return [f"{self.array}_{label}" for label in self.labels]

    def values(self, arrays: Arrays) -> list[float]:
        """This array's values, NaN where it is absent, empty or not numeric."""
        width = len(self.columns())
        data = np.asarray(arrays.get(self.array, np.array([])))
        if data.size == 0 or data.dtype.kind not in "biuf":
            return [math.nan] * width
        data = data.astype(np.float64)
        flat = data.ravel()
        if self.kind == "value":
            return [_finite(flat[0])]
        if self.kind == "series":
            return [_nanstat(fn, flat) for fn in (np.nanmean, np.nanmax, np.nanstd)]
        if self.kind == "ratio":
            return [_nanstat(np.nanmean, flat)]
        if self.kind == "vector":
            return [_finite(flat[j]) if j < flat.size else math.nan for j in range(width)]
        rows = data.reshape(data.shape[0], -1) if data.ndim > 1 else data.reshape(-1, 1)
        return [
            _nanstat(np.nanmean, rows[:, j]) if j < rows.shape[1] else math.nan
            for j in range(width)
        ]


@dataclass(frozen=True, slots=True)
class Component:
    """A component's artifact, the arrays taken from it, and its named (derived) features."""

    name: str
    artifact: str
    takes: tuple[Take, ...]
    derived: tuple[tuple[str, Callable[[Arrays], float]], ...] = ()

    def columns(self) -> list[str]:
        """Every column of this component, ``present`` first."""
        names = ["present"]
        for take in self.takes:
            names += take.columns()
        names += [name for name, _ in self.derived]
        return [f"content.{self.name}.{n}" for n in names]

    def values(self, arrays: Arrays | None) -> list[float]:
        """The column values (``present`` 0 and NaN everywhere when ``arrays`` is None)."""
        if arrays is None:
            return [0.0] + [math.nan] * (len(self.columns()) - 1)
        out = [1.0]
        for take in self.takes:
            out += take.values(arrays)
        for _, derive in self.derived:
            with np.errstate(all="ignore"):
                out.append(_finite(derive(arrays)))
        return out


def _finite(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else math.nan


def _nanstat(fn: Callable[[NDArray[np.float64]], Any], data: NDArray[np.float64]) -> float:
    if data.size == 0 or not np.isfinite(data).any():
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(fn(data))


def _arr(arrays: Arrays, name: str) -> NDArray[np.float64]:
    return np.asarray(arrays.get(name, np.array([])), dtype=np.float64).ravel()


def _duration(arrays: Arrays) -> float:
    fps, frames = _arr(arrays, "fps"), _arr(arrays, "total_frames")
    if not fps.size or not frames.size or not fps[0] > 0:
        return math.nan
    return float(frames[0] / fps[0])


def _per_frame(value: str, present: str) -> Callable[[Arrays], float]:
    """Mean over sampled frames of ``value``, counting a frame without it as 0."""

    def derive(arrays: Arrays) -> float:
        mask = _arr(arrays, present)
        values = _arr(arrays, value)
        if not mask.size or mask.size != values.size:
            return math.nan
        return float(np.where(mask > 0, np.nan_to_num(values), 0.0).mean())

    return derive


def _series(*names: str) -> tuple[Take, ...]:
    return tuple(Take(n, "series") for n in names)


def _values(*names: str) -> tuple[Take, ...]:
    return tuple(Take(n, "value") for n in names)


_EMBED = tuple(str(j) for j in range(_EMBEDDING_COLUMNS))

# Every content column comes from here, in this order.
COMPONENTS: tuple[Component, ...] = (
    Component(
        "segmenter",
        "segmentation.npz",
        _values("fps", "total_frames", "audio_present"),
        (("duration_s", _duration),),
    ),
    Component(
        "audio_tier0",
        "tier0.npz",
        (
            *_values("audio_present", "silence_ratio", "tempo_bpm", "tempo_strength"),
            Take("silent", "ratio"),
            *_series(
                "rms",
                "rms_db",
                "zero_crossing_rate",
                "spectral_centroid_hz",
                "spectral_bandwidth_hz",
                "spectral_rolloff_hz",
                "spectral_flatness",
            ),
        ),
    ),
    Component(
        "asr_extractor",
        "asr.npz",
        _values(
            "asr_present",
            "language_prob",
            "audio_duration_s",
            "speech_duration_s",
            "speech_ratio",
            "n_segments",
            "n_tokens",
            "tokens_per_speech_second",
            "avg_logprob_mean",
            "no_speech_prob_mean",
        ),
    ),
    Component(
        "core_clip",
        "embeddings.npz",
        (Take("embedding_present", "ratio"), Take("embeddings", "matrix", _EMBED)),
    ),
    Component(
        "core_depth_midas",
        "depth.npz",
        _series("depth_mean", "depth_std", "depth_p10", "depth_p90"),
    ),
    # Their summaries are in faces_over_time / objects_over_time; here only whether they ran.
    Component("core_object_detections", "detections.npz", ()),
    Component("core_face_landmarks", "faces.npz", ()),
    Component(
        "shot_stats",
        "shots.npz",
        (
            *_values(
                "n_shots",
                "cuts_per_minute",
                "shot_duration_median_s",
                "shot_duration_min_s",
                "shot_duration_max_s",
            ),
            Take("shot_duration_s", "series"),
        ),
    ),
    Component(
        "color_motion",
        "color_motion.npz",
        _series("brightness", "contrast", "saturation", "colorfulness", "warmth", "motion"),
    ),
    Component(
        "ocr_text",
        "ocr.npz",
        (
            Take("text_present", "ratio"),
            *_series("n_boxes", "text_area_fraction", "mean_confidence", "n_chars"),
        ),
        (("chars_per_frame", _per_frame("n_chars", "text_present")),),
    ),
    Component(
        "faces_over_time",
        "faces_over_time.npz",
        (
            Take("face_present", "ratio"),
            Take("max_face_count", "value"),
            *_series("face_count", "largest_face_area"),
        ),
        (
            ("face_count_per_frame", _per_frame("face_count", "face_present")),
            ("face_area_per_frame", _per_frame("largest_face_area", "face_present")),
        ),
    ),
    Component(
        "objects_over_time",
        "objects_over_time.npz",
        (
            Take("object_present", "ratio"),
            *_series("object_count", "person_count", "person_area"),
            Take("class_presence_ratio", "vector", _COCO_FIRST),
        ),
    ),
    Component(
        "text_metadata",
        "metadata.npz",
        (
            Take("text_present", "ratio"),
            Take("counts", "matrix", COUNTS),
            Take("language_prob", "series"),
            Take("embeddings", "matrix", _EMBED),
        ),
    ),
)


def meta_columns() -> list[str]:
    """The ``meta.*`` columns."""
    return list(META_COLUMNS)


def early_columns(observation_hours: float = 24.0) -> list[str]:
    """The ``early.*`` columns for an observation point of ``observation_hours``."""
    names = [f"early.{m}_obs_log1p" for m in METRICS] + ["early.obs_age_hours"]
    for metric in METRICS:
        names += [f"early.{metric}_at_{k}h_log1p" for k in EARLY_HOURS if k <= observation_hours]
    return names


def content_columns() -> list[str]:
    """The ``content.*`` columns, in order."""
    return [column for component in COMPONENTS for column in component.columns()]


def feature_columns(observation_hours: float = 24.0) -> list[str]:
    """Every feature column of :func:`feature_row`, in its order."""
    return meta_columns() + early_columns(observation_hours) + content_columns()


# Which runs hold a video's content features, best first: a text job's run (its caption and
# comments) has none, and a cover image's run says less than the video's own.
_RUN_KINDS = {"video": 2, "image": 1}


def latest_run(result_store: Path, platform: str, video_id: str) -> Path | None:
    """The newest finished media run of a video: manifest ``run.status`` ``succeeded``, a
    video run before an image run (``run.media_kind``; text runs never), then the latest
    ``run.finished_at`` (then run id); ``None`` when there is none. Unreadable manifests are
    passed over."""
    video_dir = result_store / platform / video_id
    if not video_dir.is_dir():
        return None
    best: tuple[int, datetime, str] | None = None
    found: Path | None = None
    for run_path in video_dir.iterdir():
        if not (run_path / MANIFEST_NAME).is_file():
            continue
        try:
            run = RunManifest(run_path).read().get("run", {})
            finished = datetime.fromisoformat(str(run.get("finished_at")))
        except (StoreError, ValueError):
            continue
        rank = _RUN_KINDS.get(str(run.get("media_kind", "video")))
        if run.get("status") != "succeeded" or finished.tzinfo is None or rank is None:
            continue
        key = (rank, finished, run_path.name)
        if best is None or key > best:
            best, found = key, run_path
    return found


def meta_features(history: VideoHistory) -> dict[str, float]:
    """Known at publication: hour and weekday (UTC), caption, the channel's followers."""
    published = history.published_at
    followers = history.channel_followers
    return {
        "meta.hour_utc": float(published.hour),
        "meta.weekday": float(published.weekday()),
        "meta.caption_chars": float(len(history.caption)),
        "meta.hashtags": float(len(hashtags(history.caption))),
        "meta.mentions": float(len(mentions(history.caption))),
        "meta.channel_followers_log1p": math.nan if followers is None else math.log1p(followers),
    }


def early_features(history: VideoHistory, observation_hours: float = 24.0) -> dict[str, float]:
    """Counts at or before the observation point, and at each early age ``k`` ≤ it."""
    row: dict[str, float] = {}
    for metric in METRICS:
        point = last_at_or_before(history, metric, observation_hours)
        row[f"early.{metric}_obs_log1p"] = math.nan if point is None else math.log1p(point[1])
    row["early.obs_age_hours"] = observation_age(history, observation_hours)
    for metric in METRICS:
        for k in EARLY_HOURS:
            if k > observation_hours:
                continue
            point = last_at_or_before(history, metric, float(k))
            row[f"early.{metric}_at_{k}h_log1p"] = (
                math.nan if point is None else math.log1p(point[1])
            )
    return row


def component_arrays(
    run_dir: Path, component: Component, manifest: dict[str, Any]
) -> Arrays | None:
    """A component's artifact arrays if the run's ``manifest`` says it computed it (``ok`` or
    ``empty``) and the file is there (not purged, readable); else ``None``."""
    entry = manifest.get("components", {}).get(component.name)
    if not isinstance(entry, dict) or entry.get("status") not in {"ok", "empty"}:
        return None
    path = run_dir / component.name / component.artifact
    if not path.is_file():
        return None
    try:
        arrays, _ = read_npz(path)
    except StoreError:
        return None
    return arrays


def content_features(run_dir: Path | None) -> dict[str, float]:
    """The ``content.*`` columns of a run (all NaN, ``present`` 0, without one)."""
    manifest: dict[str, Any] = {}
    if run_dir is not None:
        try:
            manifest = RunManifest(run_dir).read()
        except StoreError:
            manifest = {}
    row: dict[str, float] = {}
    for component in COMPONENTS:
        arrays = None if run_dir is None else component_arrays(run_dir, component, manifest)
        row.update(zip(component.columns(), component.values(arrays), strict=True))
    return row


def feature_row(
    history: VideoHistory, *, run_dir: Path | None, observation_hours: float = 24.0
) -> dict[str, float]:
    """The ``meta.*``, ``early.*`` and ``content.*`` columns of one video, as in the dataset.

    Args:
        history: the video's snapshots (only those at or before the observation point count).
        run_dir: its latest finished run (:func:`latest_run`), or ``None``.
        observation_hours: the observation point, hours after publication.

    Returns:
        Every column of :func:`feature_columns`, in that order; NaN where unknown.
    """
    return {
        **meta_features(history),
        **early_features(history, observation_hours),
        **content_features(run_dir),
    }
