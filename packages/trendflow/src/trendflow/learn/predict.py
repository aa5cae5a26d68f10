"""Forecasts from a trained model directory, one video at a time.

LightGBM's forecast is the primary one; Szabo-Huberman's is given beside it as a second
opinion. A value the model cannot give is ``null`` with its reason: no early count at the
observation point (every rung starts from it), or a target the model was not trained for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trendflow.learn import models
from trendflow.learn.contract import REQUIRED_HORIZONS
from trendflow.learn.models import HORIZONS, TARGETS


class Predictor:
    """A loaded model directory: ``Predictor.load(model_dir).predict(feature_row)``."""

    def __init__(self, ladder: models.Ladder, manifest: Mapping[str, Any]) -> None:
        self.ladder = ladder
        self.manifest = dict(manifest)
        self.model_version: str = str(manifest["model_version"])
        self.observation_hours: float = ladder.observation_hours
        self.provenance: str = str(manifest.get("provenance", "unknown"))

    @classmethod
    def load(cls, model_dir: Path) -> Predictor:
        """Load and verify a model directory written by ``trendflow train``.

        Raises:
            ModelDirError: the directory is absent, incomplete or altered.
        """
        ladder, manifest = models.load_model(model_dir)
        return cls(ladder, manifest)

    def inputs(self) -> list[str]:
        """Every column the model reads from a feature row."""
        names = set(self.ladder.features)
        names.update(models.obs_column(m) for m in TARGETS)
        for fit in self.ladder.pinto.values():
            names.update(fit.features)
        return sorted(names)

    def predict(self, row: Mapping[str, float | None]) -> dict[str, Any]:
        """The forecast of one video from its feature row (``meta.*``, ``early.*``,
        ``content.*``, as :func:`trendflow.learn.features.feature_row` builds it).

        Returns:
            ``model_version``, ``observation_hours``, ``provenance``, ``missing_features`` (the
            model's features the row lacks or holds as NaN), ``warnings`` and ``forecast``:
            ``{metric: {"h7"|"h14"|"h21": {"log1p", "count", "model", "optional",
            "second_opinion": {"model", "log1p", "count"}}}}``, with a ``reason`` beside a
            null value.
        """
        names = self.inputs()
        table = models.Table.from_rows([row], names)
        missing = [n for n in self.ladder.features if _absent(row.get(n))]
        predicted = self.ladder.predict(table)
        forecast: dict[str, dict[str, Any]] = {}
        for metric in TARGETS:
            obs_missing = _absent(row.get(models.obs_column(metric)))
            forecast[metric] = {}
            for horizon in HORIZONS:
                key = models.key_of(metric, horizon)
                reason = self._reason(metric, key, obs_missing=obs_missing)
                primary = _value(predicted["lightgbm"][key][0])
                second = _value(predicted["szabo_huberman"][key][0])
                entry: dict[str, Any] = {
                    **primary,
                    "model": "lightgbm",
                    "optional": horizon not in REQUIRED_HORIZONS,
                    "second_opinion": {"model": "szabo_huberman", **second},
                }
                if primary["log1p"] is None:
                    entry["reason"] = reason or "the model gave no finite value"
                if second["log1p"] is None:
                    entry["second_opinion"]["reason"] = reason or "the model gave no finite value"
                forecast[metric][f"h{horizon}"] = entry
        return {
            "model_version": self.model_version,
            "observation_hours": self.observation_hours,
            "provenance": self.provenance,
            "missing_features": missing,
            "warnings": self._warnings(row, missing),
            "forecast": forecast,
        }

    def _reason(self, metric: str, key: str, *, obs_missing: bool) -> str | None:
        if key in self.ladder.skipped:
            return self.ladder.skipped[key]
        if obs_missing:
            return (
                f"no early {metric} count: no snapshot at or before "
                f"{self.observation_hours:g} h after publication "
                f"({models.obs_column(metric)} is missing); every rung starts from it"
            )
        return None

    def _warnings(self, row: Mapping[str, float | None], missing: list[str]) -> list[str]:
        warnings = []
        age = row.get("early.obs_age_hours")
        if age is not None and math.isfinite(age) and age < 0.5 * self.observation_hours:
            warnings.append(
                f"the last early snapshot is {age:.3g} h after publication, early in the "
                f"{self.observation_hours:g} h window: Szabo-Huberman, blind to that age, is "
                "likely low (LightGBM reads it)"
            )
        content = [n for n in missing if n.startswith("content.")]
        if content:
            warnings.append(
                f"{len(content)} content feature(s) missing (no processed run?): LightGBM "
                "treats them as unknown"
            )
        return warnings


def _absent(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def _value(log1p: float) -> dict[str, Any]:
    if not math.isfinite(log1p):
        return {"log1p": None, "count": None}
    return {"log1p": float(log1p), "count": int(max(round(float(np.expm1(log1p))), 0))}
