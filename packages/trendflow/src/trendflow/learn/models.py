"""The baseline ladder: Szabo-Huberman, a Pinto-style linear model and LightGBM.

Every model of the ladder predicts ``log1p(V_h)``, the cumulative count of a target (views,
likes) ``h`` days after publication (h = 7, 14, 21), from one row of the dataset that
``trendflow dataset build`` writes (columns ``meta.*``, ``early.*``, ``content.*``):

- **Szabo-Huberman** (Szabo & Huberman 2010, "Predicting the popularity of online content"):
  ``log1p(V_h) = early.<m>_obs_log1p + b_h``, with ``b_h`` the mean log ratio on training rows.
- **Pinto** (Pinto, Almeida & Gonçalves 2013, "Using early view patterns to predict the
  popularity of YouTube videos"): least squares (with a tiny ridge) on the early snapshot vector
  ``early.<m>_at_{k}h_log1p`` and the count at the observation point; a hole in the vector takes
  the last earlier value, a hole with none earlier takes the observation point's value.
- **LightGBM** (the seed's mandatory baseline) on every ``content.*``, ``meta.*`` and
  ``early.*`` column, trained on the delta ``log1p(V_h) - early.<m>_obs_log1p``; fixed seed,
  ``deterministic=True``, a fixed thread count.

A model is fitted on rows whose ``target.<m>.h<h>.present`` is true and that have an early
count; a row without an early count gets no prediction (NaN) from any rung.

A model directory holds ``ladder.json`` (features, coefficients, LightGBM parameters), one
LightGBM booster per target and horizon as text (``lightgbm.<m>.h<h>.txt``), and
``model.json``, its manifest, written last: ``model_version`` is ``ladder-`` and the first 12
hex digits of a sha256 over the model files' bytes, so the same data and settings give the
same version. The model card and the evaluation sit beside them.

Errors::

    TrendflowError
    └── LearnError              a dataset or a model directory cannot be used
        ├── DatasetError        the dataset is absent, unreadable or lacks columns
        ├── TooFewRowsError     too few rows with a target present to fit a model
        └── ModelDirError       a model directory is absent, incomplete or altered
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from trendflow.errors import TrendflowError
from trendflow.learn.contract import HORIZONS_DAYS, IDENTITY_COLUMNS, METRICS, REQUIRED_HORIZONS
from trendflow.store.npz import sha256_file, write_bytes_atomic
from trendflow.versions import DATAPROCESSOR_VERSION

if TYPE_CHECKING:
    import lightgbm as lgb

TARGETS: Final = METRICS
HORIZONS: Final = HORIZONS_DAYS
MODELS: Final = ("lightgbm", "pinto", "szabo_huberman")
MODEL_TITLES: Final = {
    "lightgbm": "LightGBM",
    "pinto": "Pinto",
    "szabo_huberman": "Szabo-Huberman",
}
FEATURE_PREFIXES: Final = ("meta.", "early.", "content.")
IDENTITY: Final = IDENTITY_COLUMNS
MODEL_SCHEMA: Final = "trendflow_model_v1"
LADDER_SCHEMA: Final = "trendflow_ladder_v1"
MANIFEST: Final = "model.json"
LADDER_FILE: Final = "ladder.json"

Provenance = Literal["simulated", "real", "unknown"]
Predictions = dict[str, dict[str, NDArray[np.float64]]]
"""model name → ``<metric>.h<days>`` → log1p predictions, one per row (NaN: none)."""


class LearnError(TrendflowError):
    """A dataset or a model directory cannot be used."""


class DatasetError(LearnError):
    """The dataset is absent, unreadable or lacks columns the ladder needs."""


class TooFewRowsError(LearnError):
    """Too few rows have a target present (and an early count) to fit a model."""

    def __init__(self, key: str, rows: int, needed: int) -> None:
        self.key = key
        self.rows = rows
        self.needed = needed
        super().__init__(
            f"too few rows to train {key}: {rows} row(s) have the target present and an early "
            f"count, at least {needed} are needed; build the dataset from a longer snapshot "
            "history or more videos"
        )


class ModelDirError(LearnError):
    """A model directory is absent, incomplete or its files do not match its manifest."""


def key_of(metric: str, horizon: int) -> str:
    """The name of one target at one horizon, e.g. ``views.h14``."""
    return f"{metric}.h{horizon}"


def target_column(metric: str, horizon: int) -> str:
    """The dataset column of ``log1p(V_h)``."""
    return f"target.{metric}.h{horizon}.log1p"


def present_column(metric: str, horizon: int) -> str:
    """The dataset column that says whether the target was observable."""
    return f"target.{metric}.h{horizon}.present"


def obs_column(metric: str) -> str:
    """The dataset column of ``log1p`` of the count at the observation point."""
    return f"early.{metric}_obs_log1p"


def all_keys() -> list[str]:
    """Every ``<metric>.h<days>`` the ladder predicts, views first."""
    return [key_of(m, h) for m in TARGETS for h in HORIZONS]


def required_keys() -> list[str]:
    """The keys a trained model must have (seed rule 9: 14 and 21 days)."""
    return [key_of(m, h) for m in TARGETS for h in REQUIRED_HORIZONS]


# ---------------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Table:
    """Columns of equal length: floats (NaN for unknown), booleans or strings."""

    columns: Mapping[str, NDArray[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def has(self, name: str) -> bool:
        """Whether the column exists."""
        return name in self.columns

    def numbers(self, name: str) -> NDArray[np.float64]:
        """A column as float64 (booleans as 0/1)."""
        try:
            return np.asarray(self.columns[name], dtype=np.float64)
        except KeyError:
            raise DatasetError(f"the dataset has no column {name!r}") from None

    def mask(self, name: str) -> NDArray[np.bool_]:
        """A 0/1 or boolean column as booleans; NaN is false."""
        values = self.numbers(name)
        return np.asarray(np.nan_to_num(values, nan=0.0) > 0.5)

    def text(self, name: str) -> NDArray[np.str_]:
        """A string column."""
        try:
            return np.asarray(self.columns[name], dtype=np.str_)
        except KeyError:
            raise DatasetError(f"the dataset has no column {name!r}") from None

    def take(self, rows: NDArray[np.int64]) -> Table:
        """The table restricted to ``rows`` (indices)."""
        return Table({name: values[rows] for name, values in self.columns.items()})

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, float | None]], names: Iterable[str]) -> Table:
        """A float table of ``names`` from row dicts; an absent or null value is NaN."""
        columns: dict[str, NDArray[Any]] = {}
        for name in names:
            values = [row.get(name) for row in rows]
            columns[name] = np.array(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
        return cls(columns)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """Where a dataset came from: its file, checksum, provenance and observation window."""

    path: Path
    sha256: str
    provenance: Provenance
    observation_hours: float
    manifest: Mapping[str, Any]

    @property
    def embargo_days(self) -> float:
        """The forward split's embargo: the longest horizon, plus how far past it a target
        may have looked (a snapshot within the tolerance, or the far side of an interpolation
        gap) as the targets were built (``dataset.json``'s ``targets_parameters``)."""
        reach = [
            max(float(p.get("max_gap_hours", 0.0)), float(p.get("tolerance_hours", 0.0)))
            for p in self.manifest.get("targets_parameters", [])
            if isinstance(p, Mapping)
        ]
        return max(HORIZONS) + max(reach, default=0.0) / 24.0

    def as_json(self) -> dict[str, Any]:
        """The record copied into ``model.json``."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "provenance": self.provenance,
            "observation_hours": self.observation_hours,
            "sources": self.manifest.get("sources", []),
            "counts": self.manifest.get("counts", {}),
        }


def read_dataset(location: Path) -> tuple[Table, DatasetInfo]:
    """Read ``dataset.parquet`` and its ``dataset.json`` from a dataset directory (or the file).

    Timestamps become float seconds since the epoch (UTC); numbers float64 with NaN for null;
    booleans stay booleans; strings become ``str`` arrays (null → ``''``).

    Raises:
        DatasetError: the file is absent or unreadable, or lacks the columns the ladder needs.
    """
    # Imported here: the CLI starts faster without pyarrow. pyarrow ships no py.typed.
    import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415

    path = location / "dataset.parquet" if location.is_dir() else location
    if not path.is_file():
        raise DatasetError(
            f"no dataset at {path}: run `trendflow dataset build` to write dataset.parquet"
        )
    try:
        arrow = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    columns = {name: _column(arrow.column(name)) for name in arrow.column_names}
    table = Table(columns)
    check_columns(table)
    manifest = _read_manifest(path.parent / "dataset.json")
    info = DatasetInfo(
        path=path,
        sha256=sha256_file(path),
        provenance=provenance_of(manifest),
        observation_hours=_observation_hours(manifest, table),
        manifest=manifest,
    )
    return table, info


def _column(column: Any) -> NDArray[Any]:
    import pyarrow as pa  # noqa: PLC0415 - as above (mypy reports pyarrow once per module)
    import pyarrow.compute as pc  # type: ignore[import-untyped]  # noqa: PLC0415 - as above

    kind = column.type
    if pa.types.is_timestamp(kind):
        micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
        values = np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.float64)
        return values / 1e6
    if pa.types.is_boolean(kind):
        return np.asarray(column.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        floats = pc.cast(column, pa.float64()).fill_null(np.nan)
        return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.array(["" if v is None else v for v in column.to_pylist()], dtype=np.str_)
    raise DatasetError(f"column {column!r} has type {kind}, which the ladder does not read")


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(
            f"no {path.name} beside the dataset: it is written last by `trendflow dataset "
            "build` (its provenance, sources and targets' parameters); build the dataset again"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise DatasetError(f"{path} is not a JSON object")
    return data


def provenance_of(manifest: Mapping[str, Any]) -> Provenance:
    """``simulated`` or ``real`` as the dataset's manifest states it (``provenance.label``),
    else ``unknown``."""
    stated = manifest.get("provenance")
    label = stated.get("label") if isinstance(stated, Mapping) else stated
    if label == "simulated":
        return "simulated"
    return "real" if label == "real" else "unknown"


def _observation_hours(manifest: Mapping[str, Any], table: Table) -> float:
    stated = manifest.get("observation_hours")
    if isinstance(stated, int | float) and not isinstance(stated, bool):
        return float(stated)
    raise DatasetError("dataset.json does not say its observation_hours: build it again")


def check_columns(table: Table, features: Iterable[str] = ()) -> None:
    """Raise :class:`DatasetError` naming every column the ladder needs and the table lacks."""
    needed = [*IDENTITY, *(obs_column(m) for m in TARGETS)]
    for metric in TARGETS:
        for horizon in HORIZONS:
            needed += [target_column(metric, horizon), present_column(metric, horizon)]
    needed += list(features)
    missing = [name for name in needed if not table.has(name)]
    if missing:
        raise DatasetError(
            f"the dataset lacks {len(missing)} column(s) the ladder needs: {', '.join(missing)}"
        )


def feature_columns(columns: Iterable[str]) -> list[str]:
    """LightGBM's inputs: every ``meta.*``, ``early.*`` and ``content.*`` column, sorted."""
    return sorted(name for name in columns if name.startswith(FEATURE_PREFIXES))


_AT = re.compile(r"^early\.(?P<metric>[a-z]+)_at_(?P<hours>\d+)h_log1p$")


def early_vector_columns(columns: Iterable[str], metric: str) -> list[tuple[int, str]]:
    """The early snapshot vector's columns of one metric as (hours, name), by hours."""
    found = []
    for name in columns:
        match = _AT.match(name)
        if match and match["metric"] == metric:
            found.append((int(match["hours"]), name))
    return sorted(found)


# ---------------------------------------------------------------------------------- the ladder


@dataclass(frozen=True, slots=True)
class LadderConfig:
    """Settings of a ladder fit; recorded in ``ladder.json``."""

    seed: int = 16
    num_rounds: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_data_in_leaf: int = 20
    max_bin: int = 63
    feature_fraction: float = 0.9
    lambda_l2: float = 1.0
    num_threads: int = 1
    ridge: float = 1e-3
    min_rows: int = 30

    def lightgbm_params(self) -> dict[str, Any]:
        """LightGBM's parameters: deterministic, one fixed seed, a fixed thread count."""
        return {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "max_bin": self.max_bin,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }


DEFAULT_CONFIG: Final = LadderConfig()


@dataclass(frozen=True, slots=True)
class LinearFit:
    """``y = intercept + coef · x`` over ``features`` (after the early vector's imputation)."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float


@dataclass(slots=True)
class Ladder:
    """The three rungs fitted for every target and horizon that had enough rows."""

    features: tuple[str, ...]
    observation_hours: float
    config: LadderConfig
    szabo_huberman: dict[str, float] = field(default_factory=dict)
    pinto: dict[str, LinearFit] = field(default_factory=dict)
    boosters: dict[str, lgb.Booster] = field(default_factory=dict)
    trained_rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def predict(self, table: Table) -> Predictions:
        """Predictions of every rung for every row; NaN where a rung cannot predict.

        Raises:
            DatasetError: the table lacks one of the model's feature columns.
        """
        missing = [name for name in self.features if not table.has(name)]
        if missing:
            raise DatasetError(
                f"the dataset lacks {len(missing)} feature column(s) of the model: "
                + ", ".join(missing[:10])
                + (" …" if len(missing) > 10 else "")
            )
        n = len(table)
        out: Predictions = {name: {} for name in MODELS}
        matrix = _matrix(table, self.features)
        for key in all_keys():
            metric = key.split(".")[0]
            obs = table.numbers(obs_column(metric))
            if key in self.szabo_huberman:
                out["szabo_huberman"][key] = obs + self.szabo_huberman[key]
            else:
                out["szabo_huberman"][key] = np.full(n, np.nan)
            fit = self.pinto.get(key)
            if fit is not None:
                vector = _early_vector(table, fit.features, obs)
                out["pinto"][key] = fit.intercept + vector @ np.asarray(fit.coef)
            else:
                out["pinto"][key] = np.full(n, np.nan)
            booster = self.boosters.get(key)
            if booster is not None and n:
                delta = np.asarray(booster.predict(matrix), dtype=np.float64)
                out["lightgbm"][key] = obs + delta
            else:
                out["lightgbm"][key] = np.full(n, np.nan)
        return out

    def importance(self) -> dict[str, float]:
        """LightGBM's gain per feature: each booster's gain as a share of its total, averaged."""
        totals = dict.fromkeys(self.features, 0.0)
        for booster in self.boosters.values():
            gain = np.asarray(booster.feature_importance("gain"), dtype=np.float64)
            share = gain / gain.sum() if gain.sum() > 0 else gain
            for name, value in zip(booster.feature_name(), share, strict=True):
                totals[name] = totals.get(name, 0.0) + float(value)
        count = max(len(self.boosters), 1)
        return {name: value / count for name, value in totals.items()}

    def to_files(self) -> dict[str, bytes]:
        """The model files, by name: ``ladder.json`` and one text booster per target."""
        files: dict[str, bytes] = {}
        boosters = {}
        for key, booster in sorted(self.boosters.items()):
            name = f"lightgbm.{key}.txt"
            files[name] = booster.model_to_string().encode("utf-8")
            boosters[key] = name
        doc = {
            "schema_version": LADDER_SCHEMA,
            "features": list(self.features),
            "targets": list(TARGETS),
            "horizons_days": list(HORIZONS),
            "observation_hours": self.observation_hours,
            "config": asdict(self.config),
            "lightgbm": {
                "params": self.config.lightgbm_params(),
                "num_rounds": self.config.num_rounds,
                "target": "log1p(V_h) - early.<metric>_obs_log1p",
                "boosters": boosters,
            },
            "szabo_huberman": dict(sorted(self.szabo_huberman.items())),
            "pinto": {
                key: {"features": list(f.features), "coef": list(f.coef), "intercept": f.intercept}
                for key, f in sorted(self.pinto.items())
            },
            "trained_rows": dict(sorted(self.trained_rows.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }
        files[LADDER_FILE] = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        return files

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> Ladder:
        """The inverse of :meth:`to_files`.

        Raises:
            ModelDirError: a file is absent or malformed.
        """
        import lightgbm as lgb  # noqa: PLC0415 - only the commands that fit or predict need it

        try:
            doc = json.loads(files[LADDER_FILE])
            if doc.get("schema_version") != LADDER_SCHEMA:
                raise ModelDirError(
                    f"{LADDER_FILE} has schema {doc.get('schema_version')!r}, "
                    f"this trendflow reads {LADDER_SCHEMA!r}"
                )
            ladder = cls(
                features=tuple(doc["features"]),
                observation_hours=float(doc["observation_hours"]),
                config=LadderConfig(**doc["config"]),
                szabo_huberman={k: float(v) for k, v in doc["szabo_huberman"].items()},
                pinto={
                    k: LinearFit(tuple(v["features"]), tuple(v["coef"]), float(v["intercept"]))
                    for k, v in doc["pinto"].items()
                },
                trained_rows={k: int(v) for k, v in doc["trained_rows"].items()},
                skipped=dict(doc["skipped"]),
            )
            for key, name in doc["lightgbm"]["boosters"].items():
                ladder.boosters[key] = lgb.Booster(model_str=files[name].decode("utf-8"))
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as error:
            raise ModelDirError(f"the model files are incomplete or malformed: {error}") from error
        return ladder


def fit_ladder(
    table: Table,
    *,
    observation_hours: float,
    config: LadderConfig | None = None,
    features: Sequence[str] | None = None,
    required: Iterable[str] = (),
) -> Ladder:
    """Fit the three rungs for every target and horizon on the rows of ``table``.

    A target whose rows (present, with an early count) number fewer than ``config.min_rows``
    is skipped with its reason recorded, unless its key is in ``required``.

    Raises:
        TooFewRowsError: a required key has too few rows.
        DatasetError: the table lacks a column.
    """
    import lightgbm as lgb  # noqa: PLC0415

    config = config or LadderConfig()
    names = tuple(features) if features is not None else tuple(feature_columns(table.columns))
    check_columns(table, names)
    ladder = Ladder(features=names, observation_hours=observation_hours, config=config)
    matrix = _matrix(table, names)
    needed = set(required)
    for metric in TARGETS:
        obs = table.numbers(obs_column(metric))
        early = tuple(name for _, name in early_vector_columns(table.columns, metric))
        pinto_features = (*early, obs_column(metric))
        vector = _early_vector(table, pinto_features, obs)
        for horizon in HORIZONS:
            key = key_of(metric, horizon)
            y = table.numbers(target_column(metric, horizon))
            rows = table.mask(present_column(metric, horizon)) & np.isfinite(y) & np.isfinite(obs)
            count = int(rows.sum())
            if count < config.min_rows:
                if key in needed:
                    raise TooFewRowsError(key, count, config.min_rows)
                ladder.skipped[key] = (
                    f"not trained: {count} row(s) have {key} present with an early count, "
                    f"at least {config.min_rows} are needed"
                )
                continue
            ladder.trained_rows[key] = count
            ladder.szabo_huberman[key] = float(np.mean(y[rows] - obs[rows]))
            ladder.pinto[key] = _fit_linear(vector[rows], y[rows], pinto_features, config.ridge)
            data = lgb.Dataset(
                matrix[rows],
                label=y[rows] - obs[rows],
                feature_name=list(names),
                params={"verbose": -1, "max_bin": config.max_bin},
                free_raw_data=True,
            )
            ladder.boosters[key] = lgb.train(
                config.lightgbm_params(), data, num_boost_round=config.num_rounds
            )
    return ladder


def check_rows(table: Table, config: LadderConfig | None = None) -> None:
    """Raise :class:`TooFewRowsError` for the first required target with too few rows."""
    needed = (config or LadderConfig()).min_rows
    for key in required_keys():
        metric, horizon = key.split(".h")
        y = table.numbers(target_column(metric, int(horizon)))
        obs = table.numbers(obs_column(metric))
        present = table.mask(present_column(metric, int(horizon)))
        count = int((present & np.isfinite(y) & np.isfinite(obs)).sum())
        if count < needed:
            raise TooFewRowsError(key, count, needed)


def _matrix(table: Table, names: Sequence[str]) -> NDArray[np.float64]:
    if not names:
        return np.zeros((len(table), 0))
    return np.column_stack([table.numbers(name) for name in names])


def _early_vector(table: Table, names: Sequence[str], obs: NDArray[np.float64]) -> NDArray[Any]:
    """The early snapshot vector, holes filled with the last earlier value, then the obs value.

    The last name is the observation point's own column; a row without it stays NaN.
    """
    columns = [
        table.numbers(name) if table.has(name) else np.full(len(obs), np.nan) for name in names
    ]
    vector = np.column_stack(columns) if columns else np.zeros((len(obs), 0))
    for j in range(1, vector.shape[1]):
        holes = np.isnan(vector[:, j])
        vector[holes, j] = vector[holes, j - 1]
    return np.where(np.isnan(vector), obs[:, None], vector)


def _fit_linear(
    x: NDArray[np.float64], y: NDArray[np.float64], names: Sequence[str], ridge: float
) -> LinearFit:
    """Least squares with an unpenalized intercept and a ridge of ``ridge * rows``."""
    mean_x = x.mean(axis=0)
    mean_y = float(y.mean())
    centred = x - mean_x
    gram = centred.T @ centred + ridge * len(y) * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, centred.T @ (y - mean_y))
    intercept = mean_y - float(mean_x @ coef)
    return LinearFit(tuple(names), tuple(float(c) for c in coef), intercept)


# ---------------------------------------------------------------------------- the model dir


def model_version(files: Mapping[str, bytes]) -> str:
    """``ladder-`` + the first 12 hex digits of a sha256 over the model files, by name."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(files[name]).hexdigest().encode("ascii") + b"\n")
    return "ladder-" + digest.hexdigest()[:12]


def save_model(
    model_dir: Path,
    ladder: Ladder,
    dataset: DatasetInfo,
    *,
    documents: Mapping[str, bytes] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Write the model files, then ``documents`` (card, plots, evaluation), then ``model.json``.

    Every file is written atomically and the manifest last: a directory whose ``model.json``
    lists a file with a matching sha256 holds a complete model. A previous model's manifest is
    removed first, and its files that this model does not write are deleted.

    Returns:
        The manifest written.
    """
    files = ladder.to_files()
    model_ver = model_version(files)
    manifest_path = model_dir / MANIFEST
    previous = _previous_files(manifest_path)
    manifest_path.unlink(missing_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    documents = documents or {}
    for name, data in {**files, **documents}.items():
        write_bytes_atomic(model_dir / name, data)
    for name in previous - set(files) - set(documents):
        (model_dir / name).unlink(missing_ok=True)
    manifest = {
        "schema_version": MODEL_SCHEMA,
        "model_version": model_ver,
        "created_at": (created_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "producer": "trendflow.learn.models",
        "dataprocessor_version": DATAPROCESSOR_VERSION,
        "lightgbm_version": version("lightgbm"),
        "models": list(MODELS),
        "primary_model": "lightgbm",
        "targets": list(TARGETS),
        "horizons_days": list(HORIZONS),
        "optional_horizons_days": [h for h in HORIZONS if h not in REQUIRED_HORIZONS],
        "observation_hours": ladder.observation_hours,
        "features": list(ladder.features),
        "trained_rows": dict(sorted(ladder.trained_rows.items())),
        "skipped": dict(sorted(ladder.skipped.items())),
        "provenance": dataset.provenance,
        "dataset": dataset.as_json(),
        "model_files": {
            name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())
        },
        "files": {
            name: hashlib.sha256(data).hexdigest() for name, data in sorted(documents.items())
        },
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(manifest_path, text.encode("utf-8"))
    return manifest


def _previous_files(manifest_path: Path) -> set[str]:
    try:
        doc = json.loads(manifest_path.read_text(encoding="utf-8"))
        return {*doc.get("model_files", {}), *doc.get("files", {})}
    except (OSError, ValueError, AttributeError):
        return set()


def load_model(model_dir: Path) -> tuple[Ladder, dict[str, Any]]:
    """Read a model directory, checking each model file against the manifest's sha256.

    Raises:
        ModelDirError: the directory, its manifest or a model file is absent, altered or
            malformed.
    """
    manifest_path = model_dir / MANIFEST
    if not model_dir.is_dir():
        raise ModelDirError(f"no model directory {model_dir}: train one with `trendflow train`")
    if not manifest_path.is_file():
        raise ModelDirError(
            f"{model_dir} has no {MANIFEST}: it holds no complete model (train one with "
            "`trendflow train DATASET_DIR --out MODEL_DIR`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = dict(manifest["model_files"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelDirError(f"cannot read {manifest_path}: {error}") from error
    if manifest.get("schema_version") != MODEL_SCHEMA:
        raise ModelDirError(
            f"{manifest_path} has schema {manifest.get('schema_version')!r}, "
            f"this trendflow reads {MODEL_SCHEMA!r}"
        )
    files: dict[str, bytes] = {}
    for name, digest in expected.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelDirError(f"{model_dir} lacks {name}, which {MANIFEST} lists")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModelDirError(f"{path} does not match the sha256 in {MANIFEST}: retrain")
        files[name] = data
    return Ladder.from_files(files), manifest
