"""Targets: each video's views and likes 7, 14 and 21 days after publication, never extrapolated.

For each count and horizon ``h`` (hours after ``published_at``), in this order:

1. ``published_at + h`` is after the source's ``as_of`` -> absent, ``horizon_not_reached``.
2. a snapshot within ``tolerance_hours`` of ``h`` -> its count as is (``snapshot``; the nearest,
   the earlier on a tie).
3. the last snapshot before ``h`` and the first after it, at most ``max_gap_hours`` apart ->
   ``log1p(count)`` interpolated linearly against ``log(age)`` (``interpolated``; both ages are
   recorded).
4. else absent, ``snapshot_gap``.

Only snapshots that observed that count take part; snapshots after ``as_of`` are ignored. The
observation point is the last snapshot at or before ``published_at + observation_hours`` that
observed the count (never a later one); the deltas ``log1p(V_h - V_obs)`` and
``log1p(V_h) - log1p(V_obs)`` are NaN without one (``no_observation_point``).

Falling counts (a snapshot lower than the one before it, e.g. views audited down) are kept as
observed: the platform's later figure is the truth at that age. Every fall is listed in the
NPZ's ``meta['falls']``; ``V_h - V_obs`` below 0 is clipped at 0 for ``log1p(V_h - V_obs)`` and
flagged in ``{m}_fell``, while ``log1p(V_h) - log1p(V_obs)`` keeps its negative value.
``docs/trendflow-targets.md`` has the rule and the reasons for the defaults.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from trendflow.config import stable_hash
from trendflow.errors import TrendflowError
from trendflow.learn.contract import HORIZONS_DAYS, METRICS, Metric
from trendflow.learn.snapshots import SourceInfo, VideoHistory
from trendflow.store.npz import read_npz, write_npz
from trendflow.versions import DATAPROCESSOR_VERSION

DEFAULT_OBSERVATION_HOURS = 24.0
# One daily refresh (SM Core's default cadence) misses a horizon by up to 12 h; 2 h is the
# widest window in which a count still stands for the horizon (1.2 % of the age at day 7).
DEFAULT_TOLERANCE_HOURS = 2.0
# Daily refreshes bracket every horizon with a 24 h gap; 72 h lets two missed refreshes pass,
# beyond that the curve between the brackets is a guess.
DEFAULT_MAX_GAP_HOURS = 72.0
SCHEMA_VERSION = "trendflow_targets_v1"
PRODUCER = "trendflow.learn.targets"
PRODUCER_VERSION = "1.0.0"
TARGETS_NAME = "targets.npz"
FALLS_POLICY = "as_observed; log1p(V_h - V_obs) clips a negative difference at 0 and flags {m}_fell"

EmptyReason = Literal["", "horizon_not_reached", "snapshot_gap"]
DeltaReason = Literal["", "horizon_not_reached", "snapshot_gap", "no_observation_point"]
Source = Literal["", "snapshot", "interpolated"]


class TargetsError(TrendflowError):
    """Target parameters are invalid, or a targets file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Fall:
    """A count lower than the one observed before it."""

    metric: Metric
    observed_at: datetime
    before: int
    after: int

    def as_json(self) -> dict[str, Any]:
        """``{metric, observed_at, from, to}`` as recorded in ``meta['falls']``."""
        return {
            "metric": self.metric,
            "observed_at": self.observed_at.isoformat(),
            "from": self.before,
            "to": self.after,
        }


@dataclass(frozen=True, slots=True)
class HorizonValue:
    """One count at one horizon: its value or why it is absent, and the snapshots used."""

    value: float  # NaN when absent
    reason: EmptyReason
    source: Source
    ages: tuple[float, float]  # ages (h) of the snapshots used: [lo, hi]; NaN when absent


@dataclass(frozen=True, slots=True)
class MetricTargets:
    """One count's targets at every horizon, with its observation point and deltas."""

    horizons: tuple[HorizonValue, ...]
    obs: float  # count at the observation point; NaN when none
    obs_age_hours: float
    delta_log1p: tuple[float, ...]
    delta_logdiff: tuple[float, ...]
    delta_reason: tuple[DeltaReason, ...]
    fell: tuple[bool, ...]  # V_h < V_obs: log1p(V_h - V_obs) was clipped at 0


@dataclass(frozen=True, slots=True)
class VideoTargets:
    """Targets of one video."""

    history: VideoHistory
    metrics: dict[Metric, MetricTargets]
    obs_age_hours: float
    falls: tuple[Fall, ...]
    snapshots: int


@dataclass
class TargetsReport:
    """What ``build_targets`` wrote: per ``{metric}.h{days}``, how many values of each kind."""

    out_dir: Path
    as_of: datetime
    videos: int = 0
    written: int = 0
    # "views.h7" -> {"snapshot": n, "interpolated": n, "horizon_not_reached": n, ...}
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    no_observation_point: Counter[str] = field(default_factory=Counter)
    falls: int = 0
    videos_with_falls: int = 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "out_dir": str(self.out_dir),
            "as_of": self.as_of.isoformat(),
            "videos": self.videos,
            "written": self.written,
            "counts": {key: dict(sorted(c.items())) for key, c in sorted(self.counts.items())},
            "no_observation_point": dict(sorted(self.no_observation_point.items())),
            "falls": self.falls,
            "videos_with_falls": self.videos_with_falls,
        }


def check_parameters(
    *, observation_hours: float, tolerance_hours: float, max_gap_hours: float
) -> None:
    """Raise :class:`TargetsError` unless the parameters make sense together."""
    first = HORIZONS_DAYS[0] * 24
    if not 0 < observation_hours < first:
        raise TargetsError(
            f"observation_hours must be > 0 and before the first horizon ({first} h), "
            f"got {observation_hours}"
        )
    if not 0 <= tolerance_hours < 24:
        raise TargetsError(f"tolerance_hours must be in [0, 24), got {tolerance_hours}")
    if max_gap_hours <= 0:
        raise TargetsError(f"max_gap_hours must be > 0, got {max_gap_hours}")


def source_as_of(histories: Sequence[VideoHistory]) -> datetime:
    """The latest ``observed_at`` of the source (what was observable when it was exported)."""
    latest = [h.observations[-1].observed_at for h in histories if h.observations]
    if not latest:
        raise TargetsError("the snapshot table holds no observation: nothing to build targets from")
    return max(latest)


def observed(history: VideoHistory, metric: Metric) -> list[tuple[float, int]]:
    """``(age_hours, count)`` of every snapshot that observed ``metric``, in time order."""
    out: list[tuple[float, int]] = []
    for obs in history.observations:
        value = obs.views if metric == "views" else obs.likes
        if value is not None:
            out.append((history.age_hours(obs.observed_at), value))
    return out


def last_at_or_before(
    history: VideoHistory, metric: Metric, age_hours: float
) -> tuple[float, int] | None:
    """``(age, count)`` of the last snapshot at or before ``age_hours`` that observed ``metric``.

    This is the one way the dataset and the targets read the early window: nothing after
    ``age_hours`` is ever looked at.
    """
    found: tuple[float, int] | None = None
    for age, value in observed(history, metric):
        if age > age_hours:
            break
        found = (age, value)
    return found


def observation_age(history: VideoHistory, observation_hours: float) -> float:
    """Age of the last snapshot at or before the observation point that observed any count."""
    age = math.nan
    for obs in history.observations:
        current = history.age_hours(obs.observed_at)
        if current > observation_hours:
            break
        if obs.views is not None or obs.likes is not None:
            age = current
    return age


def value_at(
    points: Sequence[tuple[float, int]],
    horizon_hours: float,
    *,
    reached: bool,
    tolerance_hours: float,
    max_gap_hours: float,
) -> HorizonValue:
    """The count at ``horizon_hours`` from ``(age, count)`` points sorted by age (module rule)."""
    nan = math.nan
    if not reached:
        return HorizonValue(nan, "horizon_not_reached", "", (nan, nan))
    near = [p for p in points if abs(p[0] - horizon_hours) <= tolerance_hours]
    if near:
        age, value = min(near, key=lambda p: abs(p[0] - horizon_hours))  # first on a tie
        return HorizonValue(float(value), "", "snapshot", (age, age))
    before = [p for p in points if p[0] < horizon_hours]
    after = [p for p in points if p[0] > horizon_hours]
    if before and after:
        (a0, v0), (a1, v1) = before[-1], after[0]
        if a0 > 0 and a1 - a0 <= max_gap_hours:
            t = (math.log(horizon_hours) - math.log(a0)) / (math.log(a1) - math.log(a0))
            y = math.log1p(v0) + t * (math.log1p(v1) - math.log1p(v0))
            return HorizonValue(math.expm1(y), "", "interpolated", (a0, a1))
    return HorizonValue(nan, "snapshot_gap", "", (nan, nan))


def falls_of(history: VideoHistory) -> list[Fall]:
    """Every snapshot whose count is lower than the previous one that observed it."""
    found: list[Fall] = []
    for metric in METRICS:
        previous: int | None = None
        for obs in history.observations:
            value = obs.views if metric == "views" else obs.likes
            if value is None:
                continue
            if previous is not None and value < previous:
                found.append(Fall(metric, obs.observed_at, previous, value))
            previous = value
    return sorted(found, key=lambda f: (f.observed_at, f.metric))


def compute_targets(
    history: VideoHistory,
    *,
    as_of: datetime,
    observation_hours: float = DEFAULT_OBSERVATION_HOURS,
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS,
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS,
) -> VideoTargets:
    """The targets of one video; snapshots after ``as_of`` are ignored."""
    check_parameters(
        observation_hours=observation_hours,
        tolerance_hours=tolerance_hours,
        max_gap_hours=max_gap_hours,
    )
    visible = VideoHistory(
        platform=history.platform,
        video_id=history.video_id,
        published_at=history.published_at,
        channel=history.channel,
        caption=history.caption,
        channel_followers=history.channel_followers,
        observations=tuple(o for o in history.observations if o.observed_at <= as_of),
    )
    metrics: dict[Metric, MetricTargets] = {}
    for metric in METRICS:
        metrics[metric] = _metric_targets(
            visible,
            metric,
            as_of=as_of,
            observation_hours=observation_hours,
            tolerance_hours=tolerance_hours,
            max_gap_hours=max_gap_hours,
        )
    return VideoTargets(
        history=visible,
        metrics=metrics,
        obs_age_hours=observation_age(visible, observation_hours),
        falls=tuple(falls_of(visible)),
        snapshots=len(visible.observations),
    )


def _metric_targets(
    history: VideoHistory,
    metric: Metric,
    *,
    as_of: datetime,
    observation_hours: float,
    tolerance_hours: float,
    max_gap_hours: float,
) -> MetricTargets:
    points = observed(history, metric)
    obs_point = last_at_or_before(history, metric, observation_hours)
    horizons: list[HorizonValue] = []
    d_log1p: list[float] = []
    d_logdiff: list[float] = []
    reasons: list[DeltaReason] = []
    fell: list[bool] = []
    for days in HORIZONS_DAYS:
        hours = days * 24.0
        reached = history.published_at + timedelta(hours=hours) <= as_of
        target = value_at(
            points,
            hours,
            reached=reached,
            tolerance_hours=tolerance_hours,
            max_gap_hours=max_gap_hours,
        )
        horizons.append(target)
        if target.reason:
            d_log1p.append(math.nan)
            d_logdiff.append(math.nan)
            reasons.append(target.reason)
            fell.append(False)
        elif obs_point is None:
            d_log1p.append(math.nan)
            d_logdiff.append(math.nan)
            reasons.append("no_observation_point")
            fell.append(False)
        else:
            gained = target.value - obs_point[1]
            d_log1p.append(math.log1p(max(gained, 0.0)))
            d_logdiff.append(math.log1p(target.value) - math.log1p(obs_point[1]))
            reasons.append("")
            fell.append(gained < 0)
    return MetricTargets(
        horizons=tuple(horizons),
        obs=math.nan if obs_point is None else float(obs_point[1]),
        obs_age_hours=math.nan if obs_point is None else obs_point[0],
        delta_log1p=tuple(d_log1p),
        delta_logdiff=tuple(d_logdiff),
        delta_reason=tuple(reasons),
        fell=tuple(fell),
    )


def targets_arrays(targets: VideoTargets) -> dict[str, NDArray[Any]]:
    """The NPZ arrays of one video's targets (see ``docs/trendflow-targets.md``)."""
    arrays: dict[str, NDArray[Any]] = {
        "horizons_days": np.array(HORIZONS_DAYS, dtype=np.int32),
        "obs_age_hours": np.array(targets.obs_age_hours, dtype=np.float64),
    }
    for metric, m in targets.metrics.items():
        arrays[metric] = np.array([h.value for h in m.horizons], dtype=np.float64)
        arrays[f"{metric}_present"] = np.array([not h.reason for h in m.horizons], dtype=bool)
        arrays[f"{metric}_empty_reason"] = np.array([h.reason for h in m.horizons], dtype=np.str_)
        arrays[f"{metric}_source"] = np.array([h.source for h in m.horizons], dtype=np.str_)
        arrays[f"{metric}_age_hours"] = np.array([h.ages for h in m.horizons], dtype=np.float64)
        arrays[f"{metric}_delta_log1p"] = np.array(m.delta_log1p, dtype=np.float64)
        arrays[f"{metric}_delta_logdiff"] = np.array(m.delta_logdiff, dtype=np.float64)
        arrays[f"{metric}_delta_present"] = np.array([not r for r in m.delta_reason], dtype=bool)
        arrays[f"{metric}_delta_empty_reason"] = np.array(m.delta_reason, dtype=np.str_)
        arrays[f"{metric}_fell"] = np.array(m.fell, dtype=bool)
        arrays[f"{metric}_obs"] = np.array(m.obs, dtype=np.float64)
        arrays[f"{metric}_obs_age_hours"] = np.array(m.obs_age_hours, dtype=np.float64)
    return arrays


def parameters(
    *, observation_hours: float, tolerance_hours: float, max_gap_hours: float
) -> dict[str, Any]:
    """What the targets depend on besides the snapshots (hashed into ``config_hash``)."""
    return {
        "horizons_days": list(HORIZONS_DAYS),
        "observation_hours": observation_hours,
        "tolerance_hours": tolerance_hours,
        "max_gap_hours": max_gap_hours,
        "interpolation": "log1p(count) linear in log(age_hours)",
        "falls_policy": FALLS_POLICY,
    }


def targets_meta(
    targets: VideoTargets,
    *,
    as_of: datetime,
    observation_hours: float,
    tolerance_hours: float,
    max_gap_hours: float,
    source: SourceInfo,
) -> dict[str, Any]:
    """The NPZ meta of one video's targets (seed rule 10: producer, schema, versions)."""
    history = targets.history
    params = parameters(
        observation_hours=observation_hours,
        tolerance_hours=tolerance_hours,
        max_gap_hours=max_gap_hours,
    )
    config_hash = stable_hash(params)
    reasons = {h.reason for m in targets.metrics.values() for h in m.horizons}
    empty_reason = None if "" in reasons else sorted(reasons)[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "producer": PRODUCER,
        "producer_version": PRODUCER_VERSION,
        "dataprocessor_version": DATAPROCESSOR_VERSION,
        "config_hash": config_hash,
        "component_config_hash": config_hash,
        "sampling_policy_version": None,  # targets sample no frames
        "models_used": [],
        "run_id": None,  # targets belong to a video, not to a processing run
        "platform": history.platform,
        "platform_id": history.platform,
        "video_id": history.video_id,
        "channel": history.channel,
        "published_at": history.published_at.isoformat(),
        "horizons_days": list(HORIZONS_DAYS),
        "observation_hours": observation_hours,
        "tolerance_hours": tolerance_hours,
        "max_gap_hours": max_gap_hours,
        "interpolation": params["interpolation"],
        "falls_policy": FALLS_POLICY,
        "as_of": as_of.isoformat(),
        "source": {"where": source.where, "sha256": source.sha256},
        "snapshots": targets.snapshots,
        "falls": [f.as_json() for f in targets.falls],
        "empty_reason": empty_reason,
    }


def targets_path(targets_dir: Path, platform: str, video_id: str) -> Path:
    """``<targets_dir>/<platform>/<video_id>/targets.npz``."""
    return targets_dir / platform / video_id / TARGETS_NAME


def build_targets(
    histories: Sequence[VideoHistory],
    out_dir: Path,
    *,
    as_of: datetime | None,
    observation_hours: float = DEFAULT_OBSERVATION_HOURS,
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS,
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS,
    source: SourceInfo,
    progress: Callable[[VideoHistory], None] | None = None,
) -> TargetsReport:
    """Write one targets NPZ per video under ``out_dir``; count what was present and why not.

    Args:
        histories: the videos' snapshot histories.
        out_dir: targets root (``<platform>/<video_id>/targets.npz`` beneath it).
        as_of: what was observable; ``None`` -> the latest ``observed_at`` in ``histories``.
        observation_hours: the observation point's age limit.
        tolerance_hours: a snapshot this close to a horizon is used as is.
        max_gap_hours: the widest bracket interpolated across.
        source: where the snapshots came from (recorded in every NPZ).
        progress: called after each video.
    """
    check_parameters(
        observation_hours=observation_hours,
        tolerance_hours=tolerance_hours,
        max_gap_hours=max_gap_hours,
    )
    when = as_of if as_of is not None else source_as_of(histories)
    if when.tzinfo is None:
        raise TargetsError(f"as_of {when.isoformat()} has no UTC offset")
    report = TargetsReport(out_dir=out_dir, as_of=when)
    for history in histories:
        targets = compute_targets(
            history,
            as_of=when,
            observation_hours=observation_hours,
            tolerance_hours=tolerance_hours,
            max_gap_hours=max_gap_hours,
        )
        meta = targets_meta(
            targets,
            as_of=when,
            observation_hours=observation_hours,
            tolerance_hours=tolerance_hours,
            max_gap_hours=max_gap_hours,
            source=source,
        )
        write_npz(
            targets_path(out_dir, history.platform, history.video_id),
            targets_arrays(targets),
            meta,
        )
        report.videos += 1
        report.written += 1
        report.falls += len(targets.falls)
        report.videos_with_falls += bool(targets.falls)
        for metric, m in targets.metrics.items():
            for days, value in zip(HORIZONS_DAYS, m.horizons, strict=True):
                counts = report.counts.setdefault(f"{metric}.h{days}", Counter())
                counts[value.source or value.reason] += 1
            if math.isnan(m.obs):
                report.no_observation_point[metric] += 1
        if progress is not None:
            progress(history)
    return report


def read_targets(
    targets_dir: Path, platform: str, video_id: str
) -> tuple[dict[str, NDArray[Any]], dict[str, Any]] | None:
    """A video's targets NPZ (arrays, meta), or ``None`` when none was built."""
    path = targets_path(targets_dir, platform, video_id)
    if not path.is_file():
        return None
    arrays, meta = read_npz(path)
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise TargetsError(
            f"{path} has schema {meta.get('schema_version')!r}, not {SCHEMA_VERSION!r}: "
            "rebuild it with `trendflow targets build`"
        )
    return arrays, meta
