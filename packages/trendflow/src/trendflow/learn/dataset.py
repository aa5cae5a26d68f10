"""The dataset: one row per video, features that could be known at the observation point, and
its targets.

``dataset.parquet`` holds identity columns (``platform``, ``video_id``, ``channel``,
``published_at``), the feature columns of :func:`trendflow.learn.features.feature_row` and the
``target.*`` columns read from each video's targets NPZ; ``dataset.json`` beside it says where
it came from (snapshot source and targets with their sha256, the result store, simulated or
real) and what it holds. Every video of the snapshot table gets a row: one without a finished
run has NaN content (``content.<component>.present`` 0), one without targets NPZ has every
``target.*.present`` False. ``docs/trendflow-targets.md`` has the no-leakage rule.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed
from numpy.typing import NDArray

from trendflow.learn.contract import HORIZONS_DAYS, IDENTITY_COLUMNS, METRICS
from trendflow.learn.features import (
    content_columns,
    early_columns,
    feature_row,
    latest_run,
    meta_columns,
)
from trendflow.learn.snapshots import SourceInfo, VideoHistory
from trendflow.learn.targets import TargetsError, read_targets
from trendflow.store.npz import sha256_file, write_bytes_atomic
from trendflow.versions import DATAPROCESSOR_VERSION

SCHEMA_VERSION = "trendflow_dataset_v1"
PRODUCER = "trendflow.learn.dataset"
DATASET_NAME = "dataset.parquet"
DATASET_JSON = "dataset.json"
TARGET_PARTS = ("log1p", "delta_logdiff", "delta_log1p", "present")
# Comments are read when the video is synced, after the observation point (see features.py).
EXCLUDED_COMPONENTS = ("text_comments",)
NO_LEAKAGE = (
    "A row's features use only what was known at publication (meta.*: time, caption, the "
    "channel's followers at or before published_at), the video's own media (content.*: its "
    "latest run, comments excluded) and the snapshots at or before published_at + "
    "observation_hours (early.*: one-sided, never a later snapshot). Targets come only from "
    "the targets NPZ."
)

Provenance = Literal["simulated", "real"]


def target_columns() -> list[str]:
    """``target.{views,likes}.h{7,14,21}.{log1p,delta_logdiff,delta_log1p,present}``."""
    return [
        f"target.{metric}.h{days}.{part}"
        for metric in METRICS
        for days in HORIZONS_DAYS
        for part in TARGET_PARTS
    ]


@dataclass
class DatasetReport:
    """What ``build_dataset`` wrote."""

    parquet: Path
    json_path: Path
    rows: int = 0
    with_run: int = 0
    without_targets: int = 0
    present: Counter[str] = field(default_factory=Counter)  # "views.h14" -> rows with a value

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "parquet": str(self.parquet),
            "json": str(self.json_path),
            "rows": self.rows,
            "with_run": self.with_run,
            "without_run": self.rows - self.with_run,
            "without_targets": self.without_targets,
            "present": dict(sorted(self.present.items())),
        }


def _paths(out_path: Path) -> tuple[Path, Path]:
    if out_path.suffix == ".parquet":
        return out_path, out_path.with_name(DATASET_JSON)
    return out_path / DATASET_NAME, out_path / DATASET_JSON


def _target_values(
    arrays: dict[str, NDArray[Any]] | None,
) -> dict[str, float | bool]:
    row: dict[str, float | bool] = {}
    for metric in METRICS:
        for i, days in enumerate(HORIZONS_DAYS):
            prefix = f"target.{metric}.h{days}"
            if arrays is None:
                row.update(
                    {
                        f"{prefix}.log1p": math.nan,
                        f"{prefix}.delta_logdiff": math.nan,
                        f"{prefix}.delta_log1p": math.nan,
                        f"{prefix}.present": False,
                    }
                )
                continue
            present = bool(arrays[f"{metric}_present"][i])
            value = float(arrays[metric][i])
            row[f"{prefix}.log1p"] = math.log1p(value) if present else math.nan
            row[f"{prefix}.delta_logdiff"] = float(arrays[f"{metric}_delta_logdiff"][i])
            row[f"{prefix}.delta_log1p"] = float(arrays[f"{metric}_delta_log1p"][i])
            row[f"{prefix}.present"] = present
    return row


def build_dataset(
    histories: Sequence[VideoHistory],
    result_store: Path,
    targets_dir: Path,
    out_path: Path,
    *,
    observation_hours: float = 24.0,
    provenance: Provenance,
    source: SourceInfo | None = None,
    progress: Callable[[VideoHistory], None] | None = None,
) -> DatasetReport:
    """Write ``dataset.parquet`` and ``dataset.json``: one row per video of ``histories``.

    Args:
        histories: the videos (the snapshot table the targets were built from).
        result_store: where the videos' runs are (``<platform>/<video_id>/<run_id>/``).
        targets_dir: where ``trendflow targets build`` wrote the targets.
        out_path: a directory (``dataset.parquet`` and ``dataset.json`` inside), or a
            ``.parquet`` path (``dataset.json`` beside it).
        observation_hours: the observation point; must match the targets'.
        provenance: ``simulated`` or ``real``, stated in ``dataset.json``.
        source: the snapshot table's description, recorded with its sha256.
        progress: called after each video.

    Raises:
        TargetsError: a targets NPZ was built for another observation point.
    """
    if provenance not in ("simulated", "real"):
        raise TargetsError(f"provenance must be 'simulated' or 'real', got {provenance!r}")
    parquet_path, json_path = _paths(out_path)
    report = DatasetReport(parquet=parquet_path, json_path=json_path)
    features = meta_columns() + early_columns(observation_hours) + content_columns()
    targets = target_columns()
    columns: dict[str, list[Any]] = {name: [] for name in (*IDENTITY_COLUMNS, *features, *targets)}
    target_sources: Counter[tuple[str, str]] = Counter()
    target_params: set[tuple[float, float, str]] = set()
    for history in histories:
        run = latest_run(result_store, history.platform, history.video_id)
        row = feature_row(history, run_dir=run, observation_hours=observation_hours)
        found = read_targets(targets_dir, history.platform, history.video_id)
        arrays = None
        if found is None:
            report.without_targets += 1
        else:
            arrays, meta = found
            if float(meta["observation_hours"]) != float(observation_hours):
                raise TargetsError(
                    f"targets of {history.platform}/{history.video_id} were built for "
                    f"observation_hours={meta['observation_hours']}, the dataset asks for "
                    f"{observation_hours}: rebuild the targets or pass the same value"
                )
            target_sources[(meta["source"]["where"], meta["source"]["sha256"])] += 1
            target_params.add(
                (float(meta["tolerance_hours"]), float(meta["max_gap_hours"]), meta["as_of"])
            )
        values = {
            "platform": history.platform,
            "video_id": history.video_id,
            "channel": history.channel,
            "published_at": history.published_at,
            **row,
            **_target_values(arrays),
        }
        for name, column in columns.items():
            column.append(values[name])
        report.rows += 1
        report.with_run += run is not None
        for metric in METRICS:
            for days in HORIZONS_DAYS:
                report.present[f"{metric}.h{days}"] += bool(
                    values[f"target.{metric}.h{days}.present"]
                )
        if progress is not None:
            progress(history)
    table = pa.table({name: pa.array(v, type=_arrow_type(name)) for name, v in columns.items()})
    _write_parquet(table, parquet_path)
    described = {
        "schema_version": SCHEMA_VERSION,
        "producer": PRODUCER,
        "dataprocessor_version": DATAPROCESSOR_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "provenance": {"label": provenance, "simulated": provenance == "simulated"},
        "observation_hours": observation_hours,
        "horizons_days": list(HORIZONS_DAYS),
        "sources": {
            "snapshots": None if source is None else source.as_json(),
            "targets": [
                {"where": where, "sha256": sha, "videos": n}
                for (where, sha), n in sorted(target_sources.items())
            ],
            "targets_dir": str(targets_dir),
            "result_store": str(result_store),
        },
        "targets_parameters": [
            {"tolerance_hours": tol, "max_gap_hours": gap, "as_of": as_of}
            for tol, gap, as_of in sorted(target_params)
        ],
        "counts": report.as_json() | {"parquet": DATASET_NAME, "json": DATASET_JSON},
        "columns": {
            "identity": list(IDENTITY_COLUMNS),
            "meta": meta_columns(),
            "early": early_columns(observation_hours),
            "content": content_columns(),
            "target": targets,
        },
        "content_excluded": list(EXCLUDED_COMPONENTS),
        "no_leakage": NO_LEAKAGE,
        "parquet": {
            "path": parquet_path.name,
            "sha256": sha256_file(parquet_path),
            "bytes": parquet_path.stat().st_size,
        },
    }
    # dataset.json last: it names the Parquet file's sha256 (the manifest-last rule).
    text = json.dumps(described, indent=2, sort_keys=True, ensure_ascii=False)
    write_bytes_atomic(json_path, (text + "\n").encode())
    return report


def _arrow_type(name: str) -> pa.DataType:
    if name == "published_at":
        return pa.timestamp("us", tz="UTC")
    if name in IDENTITY_COLUMNS:
        return pa.string()
    if name.startswith("target.") and name.endswith(".present"):
        return pa.bool_()
    return pa.float64()


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to a temp file beside ``path``, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_dataset(path: Path) -> tuple[pa.Table, dict[str, Any]]:
    """The dataset table and its ``dataset.json`` (``path``: the folder or the .parquet)."""
    parquet_path, json_path = _paths(path)
    described: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    return pq.read_table(parquet_path), described
