"""The model card: ``model_card.md`` and its plots, written next to the model.

The card opens with the data's provenance in plain words (simulated or real, the dataset's
source, counts, time range); then the ladder side by side on both evaluations, then the plots
(PNG, matplotlib's Agg canvas): predicted vs true at the longest horizon with rows, the error by
horizon, and LightGBM's feature importance (gain, top 20). When the data is simulated, every
plot title and table caption says so.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from trendflow.learn import evaluate, models
from trendflow.learn.contract import REQUIRED_HORIZONS
from trendflow.learn.models import HORIZONS, MODEL_TITLES, MODELS, TARGETS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CARD: Final = "model_card.md"
PRED_VS_TRUE: Final = "plot_pred_vs_true.png"
ERROR_BY_HORIZON: Final = "plot_error_by_horizon.png"
IMPORTANCE: Final = "plot_feature_importance.png"
TOP_FEATURES: Final = 20
_COLOURS: Final = {"lightgbm": "#1f77b4", "pinto": "#2ca02c", "szabo_huberman": "#d62728"}
_STYLES: Final = {"time_split": "-", "channel_groups": "--"}


def provenance_tag(provenance: str) -> str:
    """The words every title and caption carries: ``(simulated)``, ``(real data)``, …"""
    return {
        "simulated": "(simulated)",
        "real": "(real data)",
    }.get(provenance, "(provenance unknown)")


def render_card(
    *,
    model_version: str,
    created_at: datetime,
    dataset: models.DatasetInfo,
    table: models.Table,
    report: evaluate.EvaluationReport,
    ladder: models.Ladder,
) -> dict[str, bytes]:
    """The card and its plots, by file name (the caller writes them beside the model)."""
    tag = provenance_tag(dataset.provenance)
    plots = {
        PRED_VS_TRUE: _pred_vs_true(report, tag),
        ERROR_BY_HORIZON: _error_by_horizon(report, tag),
        IMPORTANCE: _importance(ladder, tag),
    }
    files = {name: _png(figure) for name, (figure, _) in plots.items()}
    titles = {name: title for name, (_, title) in plots.items()}
    text = _markdown(
        model_version=model_version,
        created_at=created_at,
        dataset=dataset,
        table=table,
        report=report,
        ladder=ladder,
        titles=titles,
    )
    files[CARD] = text.encode("utf-8")
    return files


# ------------------------------------------------------------------------------- markdown


def _markdown(
    *,
    model_version: str,
    created_at: datetime,
    dataset: models.DatasetInfo,
    table: models.Table,
    report: evaluate.EvaluationReport,
    ladder: models.Ladder,
    titles: Mapping[str, str],
) -> str:
    tag = provenance_tag(dataset.provenance)
    lines = [f"# Model card: TrendFlow baseline ladder `{model_version}`", ""]
    lines += [_provenance_line(dataset), ""]
    lines += _facts(model_version, created_at, dataset, table, ladder)
    header, body = evaluate.ladder_table(report)
    lines += [
        "",
        "## The ladder",
        "",
        f"Table 1 {tag}: LightGBM against the Pinto-style linear model and Szabo-Huberman, "
        "each cell reading LightGBM / Pinto / Szabo-Huberman. Spearman's rank correlation of "
        "the count (higher is better), the MAE of log1p of the count and the mean relative "
        "squared error mean((V_hat/V - 1)^2) (lower is better), on the test rows where the target "
        "is present. h7 is optional (masked): 14 and 21 days are the required horizons.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    if not body:
        lines.append("| " + " | ".join("n/a" for _ in header) + " |")
    lines += ["", *_evaluation_notes(report, tag)]
    lines += ["", "## Plots", ""]
    for name, title in titles.items():
        lines += [f"![{title}]({name})", ""]
    lines += _models_section(ladder)
    return "\n".join(lines).rstrip() + "\n"


def _provenance_line(dataset: models.DatasetInfo) -> str:
    if dataset.provenance == "simulated":
        return (
            "**Data provenance: simulated.** The model was trained and evaluated on a simulated "
            "corpus (socialsim); every number and plot below is a simulated result and says "
            "nothing about real platforms."
        )
    if dataset.provenance == "real":
        return (
            "**Data provenance: real.** The model was trained and evaluated on metric history "
            "observed on real platforms."
        )
    return (
        "**Data provenance: unknown.** The dataset's dataset.json does not say whether it is "
        "simulated or real; treat every number below as unverified."
    )


def _facts(
    model_version: str,
    created_at: datetime,
    dataset: models.DatasetInfo,
    table: models.Table,
    ladder: models.Ladder,
) -> list[str]:
    published = table.numbers("published_at")
    dated = published[np.isfinite(published)]
    channels = table.text("channel")
    span = (
        f"{_date(float(dated.min()))} to {_date(float(dated.max()))}" if len(dated) else "unknown"
    )
    present = ", ".join(
        f"{models.key_of(m, h)} {int(table.mask(models.present_column(m, h)).sum())}"
        for m in TARGETS
        for h in HORIZONS
    )
    rows = [
        ("model version", f"`{model_version}`"),
        ("created", created_at.astimezone(UTC).isoformat(timespec="seconds")),
        ("provenance", dataset.provenance),
        ("dataset", f"`{dataset.path}` (sha256 `{dataset.sha256[:16]}…`)"),
        ("sources", _sources(dataset.manifest.get("sources"))),
        (
            "videos",
            f"{len(table)} from {len(set(channels.tolist()) - {''})} channel(s)"
            + (
                f", {int((channels == '').sum())} of unknown channel"
                if (channels == "").any()
                else ""
            ),
        ),
        ("published", span),
        ("targets observed as of", _as_of(dataset.manifest)),
        ("observation point", f"{ladder.observation_hours:g} h after publication"),
        ("targets present (videos)", present),
        ("features (LightGBM)", str(len(ladder.features))),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return lines


def _sources(sources: Any) -> str:
    """``dataset.json``'s sources in a line: the snapshot table, the targets, the runs."""
    parts = []
    if isinstance(sources, Mapping):
        snapshots = sources.get("snapshots")
        if snapshots:
            parts.append(f"snapshots {_source(snapshots)}")
        parts += [f"targets {_source(t)}" for t in sources.get("targets") or []]
        if sources.get("result_store"):
            parts.append(f"content from the result store `{sources['result_store']}`")
    return "; ".join(parts) or "not recorded"


def _as_of(manifest: Mapping[str, Any]) -> str:
    params = manifest.get("targets_parameters")
    if isinstance(params, list):
        moments = sorted({str(p.get("as_of")) for p in params if isinstance(p, Mapping)})
        if moments:
            return ", ".join(moments)
    return "not recorded"


def _source(source: Any) -> str:
    if isinstance(source, Mapping):
        where = source.get("where") or "?"
        digest = source.get("sha256")
        return f"`{where}`" + (f" (sha256 `{str(digest)[:16]}…`)" if digest else "")
    return f"`{source}`"


def _evaluation_notes(report: evaluate.EvaluationReport, tag: str) -> list[str]:
    lines = []
    for e in report.evaluations:
        title = evaluate.EVALUATION_TITLES[e.name].capitalize()
        if e.status != "done":
            lines.append(f"- {title} {tag}: not run: {e.reason}.")
        elif e.name == "time_split":
            lines.append(
                f"- {title} {tag}: test = the last {e.info['test']} videos by publication time "
                f"(from {e.info['first_test_published_at']}); train = the "
                f"{e.info['train']} published at least {e.info['embargo_days']:g} days "
                f"before it; {e.info['dropped_by_embargo']} video(s) dropped by the embargo."
            )
        else:
            lines.append(
                f"- {title} {tag}: {e.info['folds']} folds over {e.info['channels']} "
                f"channel(s) (test sizes {e.info['fold_sizes']}), no channel on both sides; "
                "metrics on the pooled out-of-fold predictions."
            )
    return lines


def _models_section(ladder: models.Ladder) -> list[str]:
    skipped = [f"- {key}: {why}" for key, why in sorted(ladder.skipped.items())]
    lines = [
        "## The models",
        "",
        "- **LightGBM** (the primary forecast): gradient-boosted trees on every `content.*`, "
        "`meta.*` and `early.*` column, trained on log1p(V_h) - log1p(V_obs); "
        f"{ladder.config.num_rounds} rounds, {ladder.config.num_leaves} leaves, learning rate "
        f"{ladder.config.learning_rate:g}, seed {ladder.config.seed}, deterministic.",
        "- **Pinto** (Pinto, Almeida & Gonçalves 2013): least squares with a tiny ridge on the "
        "early snapshot vector `early.<m>_at_{k}h_log1p` and the observation point's count.",
        "- **Szabo-Huberman** (Szabo & Huberman 2010): log1p(V_h) = log1p(V_obs) + b_h, "
        "b_h the mean log ratio on the training rows.",
        "",
        "Only snapshots at or before the observation point enter the features; a video "
        "without an early count gets no forecast. Rows per target at the final fit: "
        + ", ".join(f"{k} {v}" for k, v in sorted(ladder.trained_rows.items()))
        + ".",
    ]
    if skipped:
        lines += ["", "Targets not trained:", *skipped]
    return lines


def _date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


# ---------------------------------------------------------------------------------- plots


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib loads slowly

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas: no display, no pyplot state
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _shown(report: evaluate.EvaluationReport) -> evaluate.Evaluation | None:
    return report.get("time_split") or report.get("channel_groups")


def _pred_vs_true(report: evaluate.EvaluationReport, tag: str) -> tuple[Figure, str]:
    figure = _figure(10, 4.6)
    shown = _shown(report)
    axes = figure.subplots(1, len(TARGETS))
    where = evaluate.EVALUATION_TITLES[shown.name] if shown else "no evaluation ran"
    title = f"Predicted vs true log1p(count), longest horizon with rows, {where} {tag}"
    figure.suptitle(title)
    for ax, metric in zip(axes, TARGETS, strict=True):
        ax.set_xlabel(f"true log1p({metric})")
        ax.set_ylabel(f"predicted log1p({metric})")
        if shown is None:
            ax.set_title(f"{metric}: no predictions {tag}")
            continue
        horizon, usable = _longest_with_rows(report, shown, metric)
        key = models.key_of(metric, horizon)
        truth = report.truth[key][usable]
        for name in ("szabo_huberman", "lightgbm"):
            ax.scatter(
                truth,
                shown.predictions[name][key][usable],
                s=8,
                alpha=0.5,
                color=_COLOURS[name],
                label=MODEL_TITLES[name],
            )
        if len(truth):
            low, high = float(truth.min()), float(truth.max())
            ax.plot([low, high], [low, high], color="black", linewidth=1, label="y = x")
        ax.set_title(f"{metric} at {horizon} days, n = {len(truth)} {tag}")
        ax.legend(loc="upper left")
    return figure, title


def _longest_with_rows(
    report: evaluate.EvaluationReport, shown: evaluate.Evaluation, metric: str
) -> tuple[int, np.ndarray[Any, np.dtype[np.bool_]]]:
    usable = np.zeros(len(shown.tested), dtype=np.bool_)
    for horizon in sorted(REQUIRED_HORIZONS, reverse=True):
        key = models.key_of(metric, horizon)
        usable = shown.tested & report.present[key]
        for name in MODELS:
            usable &= np.isfinite(shown.predictions[name][key])
        if usable.any():
            return horizon, usable
    return max(HORIZONS), usable


def _error_by_horizon(report: evaluate.EvaluationReport, tag: str) -> tuple[Figure, str]:
    figure = _figure(10, 5.0)
    title = f"MAE of log1p(count) by horizon, both evaluations {tag}"
    figure.suptitle(title)
    axes = figure.subplots(1, len(TARGETS), sharey=True)
    for ax, metric in zip(axes, TARGETS, strict=True):
        for e in report.evaluations:
            if e.status != "done":
                continue
            for name in MODELS:
                values = [_mae(e.rows, metric, h, name) for h in HORIZONS]
                ax.plot(
                    HORIZONS,
                    values,
                    marker="o",
                    linestyle=_STYLES[e.name],
                    color=_COLOURS[name],
                    label=f"{MODEL_TITLES[name]}, {evaluate.EVALUATION_TITLES[e.name]}",
                )
        ax.set_xticks(HORIZONS, [f"{h} d{' (optional)' if h == 7 else ''}" for h in HORIZONS])
        ax.set_xlabel("horizon (days after publication)")
        ax.set_ylabel("MAE of log1p")
        ax.set_title(f"{metric} {tag}")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize="small")
    return figure, title


def _mae(rows: Sequence[Mapping[str, Any]], metric: str, horizon: int, model: str) -> float:
    for row in rows:
        if (row["target"], row["horizon"], row["model"]) == (metric, f"h{horizon}", model):
            value = row["mae_log1p"]
            return float(value) if value is not None else math.nan
    return math.nan


def _importance(ladder: models.Ladder, tag: str) -> tuple[Figure, str]:
    gains = sorted(ladder.importance().items(), key=lambda item: (-item[1], item[0]))
    top = gains[:TOP_FEATURES]
    figure = _figure(9, 0.32 * max(len(top), 4) + 1.4)
    title = f"LightGBM feature importance (gain share, top {len(top)}) {tag}"
    figure.suptitle(title)
    ax = figure.subplots()
    names = [name for name, _ in reversed(top)]
    ax.barh(names, [value for _, value in reversed(top)], color=_COLOURS["lightgbm"])
    ax.set_xlabel("mean share of gain over the targets' boosters")
    ax.tick_params(axis="y", labelsize="small")
    return figure, title
