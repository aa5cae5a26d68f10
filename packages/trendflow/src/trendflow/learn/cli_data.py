"""``trendflow targets build`` and ``trendflow dataset build``: the typer apps (wired into
``trendflow.cli``).

Each command reads the snapshot table once, calls one service function, shows a progress bar and
a summary table on stderr, and with ``--json`` prints its report as the last stdout line. Exit
codes: 0 done, 2 bad input (unreadable source, invalid row, bad option).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from trendflow.errors import TrendflowError

# The services (pyarrow, numpy, the text features) are imported by the commands that use them:
# `trendflow --version` and the other commands do not pay for them. The defaults below are
# the services' (test_targets checks they agree).
DEFAULT_OBSERVATION_HOURS = 24.0
DEFAULT_TOLERANCE_HOURS = 2.0
DEFAULT_MAX_GAP_HOURS = 72.0

targets_app = typer.Typer(
    help="Targets: views and likes at 7, 14 and 21 days from metric snapshots.",
    no_args_is_help=True,
)
dataset_app = typer.Typer(
    help="The training dataset: features known at the observation point, and targets.",
    no_args_is_help=True,
)
err = Console(stderr=True)


@targets_app.callback()
def _targets() -> None:
    """Targets: views and likes at 7, 14 and 21 days from metric snapshots."""


@dataset_app.callback()
def _dataset() -> None:
    """The training dataset: features known at the observation point, and targets."""


SourceArg = Annotated[
    str,
    typer.Argument(
        help="Snapshot table: a .csv or .parquet file, or SM Core's export URL "
        "(http(s)://HOST/api/v1/exports/post-metrics?platform=tiktok)."
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        envvar="TRENDFLOW_SMCORE_API_KEY",
        help="SM Core API key, sent as X-API-Key to a URL source.",
        show_default=False,
    ),
]
ObservationOpt = Annotated[
    float,
    typer.Option(help="Observation point: hours after publication (the early window's end)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on the last line.")]


class ProvenanceChoice(StrEnum):
    """Where the snapshots came from, stated in dataset.json and the model card."""

    simulated = "simulated"
    real = "real"


def _fail(error: TrendflowError) -> typer.Exit:
    err.print(f"[red]error:[/red] {error}", soft_wrap=True)
    return typer.Exit(2)


def _progress(total: int, label: str) -> tuple[Progress, TaskID]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    return progress, progress.add_task(label, total=total)


@targets_app.command("build")
def targets_build(
    source: SourceArg,
    *,
    out_dir: Annotated[Path, typer.Option("--out", help="Targets root (written beneath).")],
    api_key: ApiKeyOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="What was observable (ISO-8601 with offset); later snapshots are ignored. "
            "Default: the latest observed_at in the source.",
            show_default=False,
        ),
    ] = None,
    observation_hours: ObservationOpt = DEFAULT_OBSERVATION_HOURS,
    tolerance_hours: Annotated[
        float, typer.Option(help="A snapshot this close to a horizon is used as is.")
    ] = DEFAULT_TOLERANCE_HOURS,
    max_gap_hours: Annotated[
        float, typer.Option(help="Widest pair of snapshots interpolated across a horizon.")
    ] = DEFAULT_MAX_GAP_HOURS,
    as_json: JsonOpt = False,
) -> None:
    """Write targets/<platform>/<video_id>/targets.npz: counts at each horizon, deltas, masks."""
    from trendflow.learn import targets as targets_service  # noqa: PLC0415 - see the top
    from trendflow.learn.snapshots import load_histories  # noqa: PLC0415 - see the top

    try:
        when = _parse_as_of(as_of)
        histories, info = load_histories(source, api_key=api_key)
        progress, task = _progress(len(histories), "targets")
        with progress:
            report = targets_service.build_targets(
                histories,
                out_dir,
                as_of=when,
                observation_hours=observation_hours,
                tolerance_hours=tolerance_hours,
                max_gap_hours=max_gap_hours,
                source=info,
                progress=lambda _h: progress.advance(task),
            )
    except TrendflowError as error:
        raise _fail(error) from error
    table = Table(
        title=f"targets of {report.videos} videos in {out_dir} (as of {report.as_of.isoformat()})"
    )
    kinds = ("snapshot", "interpolated", "horizon_not_reached", "snapshot_gap")
    table.add_column("target")
    table.add_column("present", justify="right")
    for kind in kinds:
        table.add_column(kind, justify="right")
    for key, counts in report.counts.items():
        present = counts["snapshot"] + counts["interpolated"]
        table.add_row(key, str(present), *(str(counts[k]) for k in kinds))
    err.print(table)
    err.print(
        f"no observation point (deltas NaN): {dict(report.no_observation_point) or 0}; "
        f"falling counts recorded: {report.falls} in {report.videos_with_falls} videos"
    )
    if as_json:
        typer.echo(json.dumps(report.as_json(), sort_keys=True))


def _parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise TrendflowError(
            f"--as-of {value!r} is not an ISO-8601 time (e.g. 2025-03-01T00:00:00+00:00)"
        ) from None
    if when.tzinfo is None:
        raise TrendflowError(f"--as-of {value!r} needs a UTC offset (+00:00)")
    return when


@dataset_app.command("build")
def dataset_build(
    source: SourceArg,
    *,
    result_store: Annotated[
        Path, typer.Option(help="Result store holding the videos' runs.", show_default=False)
    ],
    targets_dir: Annotated[
        Path, typer.Option("--targets", help="Targets root written by `trendflow targets build`.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for dataset.parquet and dataset.json.")
    ],
    provenance: Annotated[
        ProvenanceChoice,
        typer.Option(help="Say whether the data is simulated (socialsim) or real."),
    ],
    api_key: ApiKeyOpt = None,
    observation_hours: ObservationOpt = DEFAULT_OBSERVATION_HOURS,
    as_json: JsonOpt = False,
) -> None:
    """Write dataset.parquet (one row per video) and dataset.json (provenance, columns)."""
    from trendflow.learn import dataset as dataset_service  # noqa: PLC0415 - see the top
    from trendflow.learn.snapshots import load_histories  # noqa: PLC0415 - see the top

    try:
        histories, info = load_histories(source, api_key=api_key)
        progress, task = _progress(len(histories), "dataset")
        with progress:
            report = dataset_service.build_dataset(
                histories,
                result_store,
                targets_dir,
                out_dir,
                observation_hours=observation_hours,
                provenance="simulated" if provenance is ProvenanceChoice.simulated else "real",
                source=info,
                progress=lambda _h: progress.advance(task),
            )
    except TrendflowError as error:
        raise _fail(error) from error
    table = Table(title=f"{report.rows} rows ({provenance.value}) in {report.parquet}")
    table.add_column("target")
    table.add_column("rows with a value", justify="right")
    for key, count in report.present.items():
        table.add_row(key, str(count))
    err.print(table)
    err.print(f"with a finished run: {report.with_run}; without targets: {report.without_targets}")
    if as_json:
        typer.echo(json.dumps(report.as_json(), sort_keys=True))
