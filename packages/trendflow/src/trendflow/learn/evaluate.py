"""Two evaluations of the ladder, and its metrics.

- **Forward time split**: the videos old enough to have a target at the longest horizon, sorted
  by ``published_at``; the last 25 % are the test set;
  the training set is every video published at least the embargo (the longest horizon,
  21 days, plus how far past a horizon the targets may have looked: the interpolation's
  maximum gap, 72 h by default) before the first test video, so no training target is later
  than the first test video's publication. Videos in the gap
  are dropped, and counted.
- **Groups by channel**: k folds (5, or the number of channels if fewer) with no channel in
  both a fold's training and test sets, channels assigned largest first to the fold with the
  fewest rows (GroupKFold's rule); each row is predicted once, by the fold that holds it out,
  and the metrics are computed on these pooled out-of-fold predictions. Videos of unknown
  channel (``''``) form one group, so they never straddle a fold either.

Metrics per target, horizon and model, on the test rows where the target is present and every
rung has a prediction (the same rows for all three): Spearman's rank correlation of V_h (that
of log1p(V_h), ranks being the same), the MAE of log1p(V_h), and Pinto's mean relative squared
error ``mean((V_hat/V - 1)^2)`` on rows with V ≥ 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from trendflow.learn import models
from trendflow.learn.contract import REQUIRED_HORIZONS
from trendflow.learn.models import HORIZONS, MODELS, TARGETS, Ladder, LadderConfig, Table

EVALUATION_SCHEMA: Final = "trendflow_evaluation_v1"
EMBARGO_DAYS: Final = max(HORIZONS)
TEST_FRACTION: Final = 0.25
FOLDS: Final = 5
DAY_S: Final = 86_400.0

EvaluationName = Literal["time_split", "channel_groups"]
EVALUATION_TITLES: Final = {
    "time_split": "forward time split",
    "channel_groups": "groups by channel",
}
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Row indices of a forward time split and what the embargo dropped."""

    train: NDArray[np.int64]
    test: NDArray[np.int64]
    dropped: NDArray[np.int64]
    undated: int
    first_test_published_s: float
    embargo_days: float


def time_split(
    published_s: NDArray[np.float64],
    *,
    test_fraction: float = TEST_FRACTION,
    embargo_days: float = EMBARGO_DAYS,
) -> TimeSplit:
    """Test: the last ``test_fraction`` of videos by publication time; train: those published
    at least ``embargo_days`` before the first test video. Videos without a date are left out.
    """
    dated = np.flatnonzero(np.isfinite(published_s))
    order = dated[np.argsort(published_s[dated], kind="stable")]
    n_test = math.ceil(len(order) * test_fraction) if len(order) else 0
    test = np.sort(order[len(order) - n_test :])
    rest = order[: len(order) - n_test]
    first = float(published_s[test].min()) if n_test else math.nan
    cutoff = first - embargo_days * DAY_S
    keep = published_s[rest] <= cutoff
    return TimeSplit(
        train=np.sort(rest[keep]).astype(np.int64),
        test=test.astype(np.int64),
        dropped=np.sort(rest[~keep]).astype(np.int64),
        undated=int(len(published_s) - len(dated)),
        first_test_published_s=first,
        embargo_days=embargo_days,
    )


def channel_folds(channels: NDArray[np.str_], *, k: int = FOLDS) -> list[NDArray[np.int64]]:
    """Test rows of each fold: whole channels, largest first into the emptiest fold.

    ``k`` is capped at the number of channels; fewer than two channels give no folds.
    """
    names, inverse, counts = np.unique(channels, return_inverse=True, return_counts=True)
    folds = min(k, len(names))
    if folds < 2:
        return []
    sizes = np.zeros(folds, dtype=np.int64)
    fold_of = np.empty(len(names), dtype=np.int64)
    # Largest channel first, ties by name (np.unique sorted them): reproducible.
    for group in np.argsort(-counts, kind="stable"):
        target = int(np.argmin(sizes))
        fold_of[group] = target
        sizes[target] += counts[group]
    row_fold = fold_of[inverse]
    return [np.flatnonzero(row_fold == f).astype(np.int64) for f in range(folds)]


def metrics(truth: NDArray[np.float64], predicted: NDArray[np.float64]) -> dict[str, float]:
    """Spearman of V, MAE of log1p(V), mRSE ``mean((V_hat/V - 1)^2)`` over rows with V ≥ 1."""
    # Imported here: scipy loads slowly. It ships no stubs.
    from scipy.stats import spearmanr  # type: ignore[import-untyped]  # noqa: PLC0415

    n = len(truth)
    spearman = math.nan
    if n >= 3 and np.ptp(truth) > 0 and np.ptp(predicted) > 0:
        spearman = float(spearmanr(truth, predicted).statistic)
    mae = float(np.mean(np.abs(predicted - truth))) if n else math.nan
    counts = np.expm1(truth)
    positive = counts >= 1.0
    ratio = np.expm1(predicted[positive]) / counts[positive]
    mrse = float(np.mean((ratio - 1.0) ** 2)) if positive.any() else math.nan
    return {"spearman": spearman, "mae_log1p": mae, "mrse": mrse}


@dataclass(slots=True)
class Evaluation:
    """One evaluation: its split, its out-of-fold predictions and its metrics."""

    name: EvaluationName
    status: Literal["done", "skipped"]
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    predictions: models.Predictions = field(default_factory=dict)
    tested: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class EvaluationReport:
    """Both evaluations of one ladder recipe on one dataset."""

    evaluations: list[Evaluation]
    truth: dict[str, NDArray[np.float64]]
    present: dict[str, NDArray[np.bool_]]

    def rows(self) -> list[dict[str, Any]]:
        """Every metric row: evaluation, target, horizon, model, n, spearman, mae, mrse."""
        return [row for evaluation in self.evaluations for row in evaluation.rows]

    def get(self, name: EvaluationName) -> Evaluation | None:
        """The evaluation of that name, if it ran."""
        for evaluation in self.evaluations:
            if evaluation.name == name and evaluation.status == "done":
                return evaluation
        return None

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (NaN → null)."""
        return {
            "schema_version": EVALUATION_SCHEMA,
            "evaluations": {
                e.name: {"status": e.status, "reason": e.reason, **e.info} for e in self.evaluations
            },
            "metrics": [_clean(row) for row in self.rows()],
        }


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def evaluate(
    table: Table,
    *,
    observation_hours: float,
    config: LadderConfig | None = None,
    features: Sequence[str] | None = None,
    folds: int = FOLDS,
    test_fraction: float = TEST_FRACTION,
    embargo_days: float = EMBARGO_DAYS,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Run the forward time split and the channel folds; an evaluation whose training set is
    too small for the required targets is reported as skipped, with the reason."""
    config = config or LadderConfig()
    names = list(features) if features is not None else models.feature_columns(table.columns)
    models.check_columns(table, names)
    note = progress or (lambda _: None)
    truth = {
        models.key_of(m, h): table.numbers(models.target_column(m, h))
        for m in TARGETS
        for h in HORIZONS
    }
    present = {
        models.key_of(m, h): table.mask(models.present_column(m, h))
        & np.isfinite(truth[models.key_of(m, h)])
        for m in TARGETS
        for h in HORIZONS
    }

    def fit(rows: NDArray[np.int64]) -> Ladder:
        return models.fit_ladder(
            table.take(rows),
            observation_hours=observation_hours,
            config=config,
            features=names,
            required=models.required_keys(),
        )

    evaluations = [
        _time_evaluation(table, fit, note, test_fraction=test_fraction, embargo=embargo_days),
        _channel_evaluation(table, fit, note, folds=folds),
    ]
    for evaluation in evaluations:
        if evaluation.status == "done":
            evaluation.rows = _metric_rows(evaluation, truth, present)
    return EvaluationReport(evaluations=evaluations, truth=truth, present=present)


def _empty_predictions(n: int) -> models.Predictions:
    return {name: {key: np.full(n, np.nan) for key in models.all_keys()} for name in MODELS}


def _fill(into: models.Predictions, rows: NDArray[np.int64], got: models.Predictions) -> None:
    for name, by_key in got.items():
        for key, values in by_key.items():
            into[name][key][rows] = values


def _time_evaluation(
    table: Table,
    fit: Callable[[NDArray[np.int64]], Ladder],
    note: Progress,
    *,
    test_fraction: float,
    embargo: float,
) -> Evaluation:
    # Only videos old enough to be scored at the longest horizon take part: a corpus ends with
    # videos too young for it, and a test set of those would have nothing to score at 21 days.
    longest = max(models.HORIZONS)
    mature = np.zeros(len(table), dtype=np.bool_)
    for metric in models.TARGETS:
        column = models.present_column(metric, longest)
        if table.has(column):
            mature |= table.mask(column)
    published = np.where(mature, table.numbers("published_at"), np.nan)
    split = time_split(published, test_fraction=test_fraction, embargo_days=embargo)
    first = split.first_test_published_s
    info: dict[str, Any] = {
        "videos": len(table),
        "too_young_for_the_longest_horizon": int((~mature).sum()),
        "train": len(split.train),
        "test": len(split.test),
        "dropped_by_embargo": len(split.dropped),
        "undated": int(np.isnan(table.numbers("published_at")).sum()),
        "embargo_days": embargo,
        "test_fraction": test_fraction,
        "first_test_published_at": _iso(first),
        "last_train_published_at": _iso(
            float(table.numbers("published_at")[split.train].max()) if len(split.train) else None
        ),
    }
    note("time split: fitting on the videos before the embargo")
    try:
        ladder = fit(split.train)
    except models.TooFewRowsError as error:
        return Evaluation(
            "time_split",
            "skipped",
            reason=f"after the {embargo:g}-day embargo, {error}",
            info=info,
        )
    predictions = _empty_predictions(len(table))
    _fill(predictions, split.test, ladder.predict(table.take(split.test)))
    tested = np.zeros(len(table), dtype=np.bool_)
    tested[split.test] = True
    return Evaluation("time_split", "done", info=info, predictions=predictions, tested=tested)


def _channel_evaluation(
    table: Table, fit: Callable[[NDArray[np.int64]], Ladder], note: Progress, *, folds: int
) -> Evaluation:
    channels = table.text("channel")
    tests = channel_folds(channels, k=folds)
    info: dict[str, Any] = {
        "videos": len(table),
        "channels": len(np.unique(channels)),
        "folds": len(tests),
        "fold_sizes": [len(t) for t in tests],
    }
    if not tests:
        return Evaluation(
            "channel_groups",
            "skipped",
            reason=f"{info['channels']} channel(s): groups by channel need at least 2",
            info=info,
        )
    predictions = _empty_predictions(len(table))
    tested = np.zeros(len(table), dtype=np.bool_)
    everything = np.arange(len(table), dtype=np.int64)
    for number, test in enumerate(tests, start=1):
        note(f"channel fold {number}/{len(tests)}")
        train = np.setdiff1d(everything, test)
        try:
            ladder = fit(train)
        except models.TooFewRowsError as error:
            return Evaluation(
                "channel_groups", "skipped", reason=f"fold {number}: {error}", info=info
            )
        _fill(predictions, test, ladder.predict(table.take(test)))
        tested[test] = True
    return Evaluation("channel_groups", "done", info=info, predictions=predictions, tested=tested)


def _metric_rows(
    evaluation: Evaluation,
    truth: Mapping[str, NDArray[np.float64]],
    present: Mapping[str, NDArray[np.bool_]],
) -> list[dict[str, Any]]:
    rows = []
    for metric in TARGETS:
        for horizon in HORIZONS:
            key = models.key_of(metric, horizon)
            usable = evaluation.tested & present[key]
            for name in MODELS:
                usable &= np.isfinite(evaluation.predictions[name][key])
            for name in MODELS:
                scores = metrics(truth[key][usable], evaluation.predictions[name][key][usable])
                rows.append(
                    {
                        "evaluation": evaluation.name,
                        "target": metric,
                        "horizon": f"h{horizon}",
                        "optional": horizon not in REQUIRED_HORIZONS,
                        "model": name,
                        "n": int(usable.sum()),
                        **scores,
                    }
                )
    return rows


def _iso(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------- the table


SHORT_TITLES: Final = {"lightgbm": "LGBM", "pinto": "Pinto", "szabo_huberman": "S-H"}


def ladder_table(
    report: EvaluationReport, *, short: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The ladder side by side: one row per evaluation, target and horizon; each metric's cell
    gives LightGBM / Pinto / Szabo-Huberman (``short``: LGBM / Pinto / S-H, for terminals).
    h7 is marked optional (masked)."""
    titles = SHORT_TITLES if short else models.MODEL_TITLES
    order = " / ".join(titles[m] for m in MODELS)
    header = [
        "evaluation",
        "target",
        "horizon",
        "n",
        f"Spearman ({order})",
        f"MAE log1p ({order})",
        f"mRSE ({order})",
    ]
    body = []
    for evaluation in report.evaluations:
        if evaluation.status != "done":
            continue
        grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for row in evaluation.rows:
            grouped.setdefault((row["target"], row["horizon"]), {})[row["model"]] = row
        for (target, horizon), by_model in grouped.items():
            first = by_model[MODELS[0]]
            label = horizon
            if first["optional"]:
                label += " (opt.)" if short else " (optional, masked)"
            body.append(
                [
                    evaluation.name.replace("_", " ")
                    if short
                    else EVALUATION_TITLES[evaluation.name],
                    target,
                    label,
                    str(first["n"]),
                    " / ".join(_fmt(by_model[m]["spearman"], ".3f") for m in MODELS),
                    " / ".join(_fmt(by_model[m]["mae_log1p"], ".3f") for m in MODELS),
                    " / ".join(_fmt(by_model[m]["mrse"], ".3g") for m in MODELS),
                ]
            )
    return header, body


def _fmt(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return format(value, spec)
