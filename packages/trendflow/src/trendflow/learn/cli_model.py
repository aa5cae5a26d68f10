"""``trendflow train | evaluate | predict``: the baseline ladder's commands.

``model_app`` holds the three commands; ``app.add_typer(model_app)`` (no name) adds them to
``trendflow`` at the top level. Exit codes: 0 success, 2 bad input (no such dataset or model,
missing columns, too few rows), 1 anything else the ladder refuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from trendflow.errors import InputError, TrendflowError
from trendflow.learn import card, evaluate, models
from trendflow.store.npz import write_bytes_atomic

EVALUATION_FILE = "evaluation.json"

model_app = typer.Typer(help="The baseline ladder: train, evaluate, predict.", no_args_is_help=True)
err = Console(stderr=True)


# ------------------------------------------------------------------------------- services


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What ``trendflow train`` wrote."""

    model_dir: Path
    manifest: dict[str, Any]
    report: evaluate.EvaluationReport


def train_model(
    dataset_dir: Path,
    out: Path,
    *,
    config: models.LadderConfig | None = None,
    folds: int = evaluate.FOLDS,
    progress: evaluate.Progress | None = None,
) -> TrainResult:
    """Evaluate the ladder both ways, fit it on every row, save it with its card.

    Raises:
        LearnError: the dataset is unusable or has too few rows for a required target.
    """
    config = config or models.LadderConfig()
    note = progress or (lambda _: None)
    table, info = models.read_dataset(dataset_dir)
    models.check_rows(table, config)  # fail before the evaluations, not after
    report = evaluate.evaluate(
        table,
        observation_hours=info.observation_hours,
        config=config,
        folds=folds,
        embargo_days=info.embargo_days,
        progress=note,
    )
    note("final fit on every row")
    ladder = models.fit_ladder(
        table,
        observation_hours=info.observation_hours,
        config=config,
        required=models.required_keys(),
    )
    created = datetime.now(UTC)
    version = models.model_version(ladder.to_files())
    note("model card")
    documents = card.render_card(
        model_version=version,
        created_at=created,
        dataset=info,
        table=table,
        report=report,
        ladder=ladder,
    )
    evaluation = {"model_version": version, "dataset": info.as_json(), **report.as_json()}
    documents[EVALUATION_FILE] = _json_bytes(evaluation)
    manifest = models.save_model(out, ladder, info, documents=documents, created_at=created)
    return TrainResult(model_dir=out, manifest=manifest, report=report)


def evaluate_dataset(
    dataset_dir: Path,
    *,
    model_dir: Path | None = None,
    config: models.LadderConfig | None = None,
    folds: int = evaluate.FOLDS,
    progress: evaluate.Progress | None = None,
) -> tuple[evaluate.EvaluationReport, dict[str, Any]]:
    """Both evaluations of the ladder on a dataset, and the report as JSON-ready data.

    With ``model_dir``, the recipe is that model's: its features, settings and observation
    window (the dataset must have the same window and every feature).
    """
    table, info = models.read_dataset(dataset_dir)
    features = None
    recipe: dict[str, Any] = {}
    if model_dir is not None:
        ladder, manifest = models.load_model(model_dir)
        if abs(ladder.observation_hours - info.observation_hours) > 1e-9:
            raise models.DatasetError(
                f"the dataset's observation window is {info.observation_hours:g} h, the model's "
                f"is {ladder.observation_hours:g} h: rebuild the dataset with "
                f"--observation-hours {ladder.observation_hours:g}"
            )
        models.check_columns(table, ladder.features)
        config, features = ladder.config, list(ladder.features)
        recipe = {"model_version": manifest["model_version"], "model_dir": str(model_dir)}
    report = evaluate.evaluate(
        table,
        observation_hours=info.observation_hours,
        config=config,
        features=features,
        folds=folds,
        embargo_days=info.embargo_days,
        progress=progress,
    )
    return report, {**recipe, "dataset": info.as_json(), **report.as_json()}


def predict_video(
    model_dir: Path,
    *,
    platform: str,
    video_id: str,
    snapshots: str,
    result_store: Path,
    api_key: str | None = None,
) -> dict[str, Any]:
    """A forecast for one video: its history from the snapshot source, its latest run's
    content features, the model's prediction.

    Raises:
        TrendflowError: the model, the source or the video is unusable or absent.
    """
    from trendflow.learn import features as feature_rows  # noqa: PLC0415 - loads the readers
    from trendflow.learn.predict import Predictor  # noqa: PLC0415
    from trendflow.learn.snapshots import load_histories  # noqa: PLC0415

    predictor = Predictor.load(model_dir)
    histories, _ = load_histories(snapshots, api_key=api_key)
    history = next(
        (h for h in histories if h.platform == platform and h.video_id == video_id), None
    )
    if history is None:
        raise InputError(
            f"video {platform}/{video_id} is not in the snapshot source {snapshots} "
            f"({len(histories)} video(s) there): sync its metrics first"
        )
    run_dir = feature_rows.latest_run(result_store, platform, video_id)
    row = feature_rows.feature_row(
        history, run_dir=run_dir, observation_hours=predictor.observation_hours
    )
    result = predictor.predict(row)
    if run_dir is None:
        result["warnings"].append(
            f"no finished run of {platform}/{video_id} in {result_store}: content features "
            "are unknown (process the video first)"
        )
    return {
        "platform": platform,
        "video_id": video_id,
        "published_at": history.published_at.isoformat(),
        "run_dir": str(run_dir) if run_dir else None,
        **result,
    }


# ------------------------------------------------------------------------------- commands


@model_app.command()
def train(
    dataset_dir: Annotated[Path, typer.Argument(help="Directory of dataset.parquet + .json.")],
    *,
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    folds: Annotated[int, typer.Option(min=2, help="Channel folds (fewer if fewer channels).")] = (
        evaluate.FOLDS
    ),
    rounds: Annotated[int, typer.Option(min=1, help="LightGBM boosting rounds.")] = (
        models.DEFAULT_CONFIG.num_rounds
    ),
    seed: Annotated[int, typer.Option(help="LightGBM's seed.")] = models.DEFAULT_CONFIG.seed,
) -> None:
    """Evaluate the ladder (time split, channel groups), fit it on every row, save it with
    its model card; print the ladder's table."""
    config = models.LadderConfig(num_rounds=rounds, seed=seed)
    try:
        with _progress(total=folds + 3) as note:
            result = train_model(dataset_dir, out, config=config, folds=folds, progress=note)
    except TrendflowError as error:
        raise _fail(error) from error
    except OSError as error:
        raise _fail(TrendflowError(f"cannot write the model to {out}: {error}")) from error
    manifest = result.manifest
    _print_ladder(result.report, str(manifest["provenance"]), console=Console())
    err.print(
        f"[green]✓[/green] {manifest['model_version']} → {out} "
        f"({card.CARD}, {EVALUATION_FILE}, {models.MANIFEST})"
    )


@model_app.command("evaluate")
def evaluate_command(
    dataset_dir: Annotated[Path, typer.Argument(help="Directory of dataset.parquet + .json.")],
    *,
    model: Annotated[
        Path | None, typer.Option(help="Evaluate this trained model's recipe (features, settings).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write evaluation.json here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    folds: Annotated[int, typer.Option(min=2, help="Channel folds (fewer if fewer channels).")] = (
        evaluate.FOLDS
    ),
) -> None:
    """Run both evaluations of the ladder on a dataset; print the ladder's table."""
    try:
        with _progress(total=folds + 1) as note:
            report, result = evaluate_dataset(
                dataset_dir, model_dir=model, folds=folds, progress=note
            )
    except TrendflowError as error:
        raise _fail(error) from error
    provenance = str(result["dataset"]["provenance"])
    _print_ladder(report, provenance, console=err if as_json else Console())
    if out is not None:
        try:
            write_bytes_atomic(out, _json_bytes(result))
        except OSError as error:
            raise _fail(TrendflowError(f"cannot write {out}: {error}")) from error
        err.print(f"[green]✓[/green] {out}")
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True, default=str))


@model_app.command("predict")
def predict_command(
    *,
    model: Annotated[Path, typer.Option(help="Model directory (trendflow train --out).")],
    platform: Annotated[str, typer.Option(help="Platform id.")],
    video_id: Annotated[str, typer.Option(help="The platform's video id.")],
    snapshots: Annotated[
        str,
        typer.Option(help="Snapshot table: a .csv/.parquet file or SM Core's export URL."),
    ],
    result_store: Annotated[
        Path | None,
        typer.Option(help="Result store root; default $TRENDFLOW_DATA_DIR/result_store."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="TRENDFLOW_SMCORE_API_KEY",
            help="SM Core API key, sent as X-API-Key to a URL source.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the forecast as JSON.")] = False,
) -> None:
    """Forecast a video's views and likes at 7, 14 and 21 days, with the model's version."""
    try:
        store = result_store or _default_result_store()
        forecast = predict_video(
            model,
            platform=platform,
            video_id=video_id,
            snapshots=snapshots,
            result_store=store,
            api_key=api_key,
        )
    except TrendflowError as error:
        raise _fail(error) from error
    _print_forecast(forecast, console=err if as_json else Console())
    if as_json:
        typer.echo(json.dumps(forecast, sort_keys=True))


# -------------------------------------------------------------------------------- helpers


def _default_result_store() -> Path:
    from devstack.errors import SettingsError  # noqa: PLC0415
    from trendflow.settings import Settings  # noqa: PLC0415

    try:
        return Settings.load().result_store()
    except SettingsError as error:
        raise TrendflowError(str(error)) from None


def _fail(error: TrendflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {error}", soft_wrap=True)
    return typer.Exit(2 if isinstance(error, models.LearnError | InputError) else 1)


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("reading the dataset", total=total)

        def note(step: str) -> None:
            progress.update(task, description=step)
            progress.advance(task)

        yield note


def _print_ladder(report: evaluate.EvaluationReport, provenance: str, *, console: Console) -> None:
    header, body = evaluate.ladder_table(report, short=True)
    table = RichTable(
        title=f"The baseline ladder {card.provenance_tag(provenance)}",
        caption="LGBM: LightGBM; S-H: Szabo-Huberman; MAE on log1p; h7 optional (masked)",
    )
    for column in header:
        table.add_column(column)
    for row in body:
        table.add_row(*row)
    console.print(table)
    for e in report.evaluations:
        if e.status != "done":
            console.print(f"[yellow]{evaluate.EVALUATION_TITLES[e.name]} not run:[/] {e.reason}")
        elif e.name == "time_split":
            console.print(
                f"time split: train {e.info['train']}, test {e.info['test']}, "
                f"{e.info['dropped_by_embargo']} dropped by the {e.info['embargo_days']:g}-day "
                "embargo"
            )
        else:
            console.print(f"channel groups: {e.info['folds']} folds, {e.info['channels']} channels")


def _print_forecast(forecast: dict[str, Any], *, console: Console) -> None:
    table = RichTable(
        title=f"{forecast['platform']}/{forecast['video_id']}: forecast by "
        f"{forecast['model_version']} ({forecast['provenance']} training data)"
    )
    for column in ("target", "horizon", "LightGBM", "Szabo-Huberman", "note"):
        table.add_column(column)
    for metric, by_horizon in forecast["forecast"].items():
        for horizon, entry in by_horizon.items():
            second = entry["second_opinion"]
            table.add_row(
                metric,
                f"{horizon}{' (optional)' if entry['optional'] else ''}",
                _count(entry["count"]),
                _count(second["count"]),
                entry.get("reason", ""),
            )
    console.print(table)
    for warning in forecast["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"
