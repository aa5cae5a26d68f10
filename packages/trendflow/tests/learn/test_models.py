"""The baseline ladder on synthetic datasets written as real Parquet files with dataset.json:
what each rung learns, the two evaluations' splits, the model directory's round trip."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pytest

from trendflow.learn import evaluate, models
from trendflow.learn.predict import Predictor

START = datetime(2025, 1, 1, tzinfo=UTC)
EARLY_HOURS = (6, 12, 18, 24)
FAST = models.LadderConfig(num_rounds=120)


def write_dataset(
    out: Path,
    *,
    n: int = 360,
    channels: int = 12,
    seed: int = 0,
    content_weight: float = 1.5,
    constant_growth: bool = False,
    days: float = 160.0,
    provenance: str = "simulated",
    drop: tuple[str, ...] = (),
) -> Path:
    """A dataset with the contract's columns: early views ~ lognormal by channel; the growth
    from the observation point to each horizon is a constant plus ``content_weight`` times a
    content feature (``content.visual.faces_mean``) plus noise, or exactly a constant when
    ``constant_growth``. Videos younger than a horizon at ``as_of`` have it absent."""
    rng = np.random.default_rng(seed)
    published = np.sort(rng.uniform(0, days, n)) * 86_400.0
    channel = rng.integers(0, channels, n)
    level = rng.normal(0, 0.6, channels)[channel]
    faces = rng.uniform(0, 1, n)
    noise_feature = rng.uniform(0, 1, n)
    views24 = np.exp(rng.normal(6.0, 1.0, n) + level)
    like_rate = rng.uniform(0.02, 0.08, n)
    as_of = days * 86_400.0 + 10 * 86_400.0
    cols: dict[str, Any] = {
        "platform": ["tiktok"] * n,
        "video_id": [f"v{i:04d}" for i in range(n)],
        "channel": [f"ch{c:02d}" for c in channel],
        "published_at": [START + timedelta(seconds=float(s)) for s in published],
        "meta.hour_utc": rng.integers(0, 24, n).astype(float),
        "meta.weekday": rng.integers(0, 7, n).astype(float),
        "meta.caption_chars": rng.integers(0, 200, n).astype(float),
        "meta.hashtags": rng.integers(0, 6, n).astype(float),
        "meta.mentions": rng.integers(0, 3, n).astype(float),
        "meta.channel_followers_log1p": np.log1p(np.exp(8 + level * 2)),
        "early.obs_age_hours": np.full(n, 24.0),
        "content.visual.faces_mean": faces,
        "content.visual.brightness_mean": noise_feature,
        "content.visual.present": np.ones(n),
    }
    for metric, base in (("views", views24), ("likes", views24 * like_rate)):
        for k in EARLY_HOURS:
            at = np.log1p(np.floor(base * (k / 24) ** 0.7))
            if k == 6:
                at[rng.random(n) < 0.2] = np.nan  # no snapshot that early: imputed
            cols[f"early.{metric}_at_{k}h_log1p"] = at
        obs = np.log1p(np.floor(base))
        cols[f"early.{metric}_obs_log1p"] = obs
        for horizon, offset in ((7, 0.8), (14, 1.1), (21, 1.3)):
            growth = np.full(n, offset)
            if not constant_growth:
                growth = growth + content_weight * faces + rng.normal(0, 0.15, n)
            target = obs + growth
            present = published + horizon * 86_400.0 <= as_of
            present &= rng.random(n) > 0.05  # a snapshot gap now and then
            prefix = f"target.{metric}.h{horizon}"
            cols[f"{prefix}.log1p"] = np.where(present, target, np.nan)
            cols[f"{prefix}.delta_logdiff"] = np.where(present, growth, np.nan)
            cols[f"{prefix}.delta_log1p"] = np.where(
                present, np.log1p(np.expm1(target) - np.expm1(obs)), np.nan
            )
            cols[f"{prefix}.present"] = present
    for name in drop:
        cols.pop(name)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {
        name: pa.array(values, type=pa.timestamp("us", tz="UTC"))
        if name == "published_at"
        else pa.array(values)
        for name, values in cols.items()
    }
    pq.write_table(pa.table(arrays), out / "dataset.parquet")
    described = {
        "provenance": {"label": provenance, "simulated": provenance == "simulated"},
        "observation_hours": 24.0,
        "sources": {
            "snapshots": {"where": "synthetic.csv", "sha256": "ab" * 32, "videos": n},
            "targets": [{"where": "synthetic.csv", "sha256": "ab" * 32, "videos": n}],
            "result_store": "synthetic",
        },
        "targets_parameters": [
            {"as_of": (START + timedelta(seconds=as_of)).isoformat(), "tolerance_hours": 12}
        ],
    }
    (out / "dataset.json").write_text(json.dumps(described), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def content_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("content") / "dataset")


@pytest.fixture(scope="module")
def content_report(content_world: Path) -> evaluate.EvaluationReport:
    table, info = models.read_dataset(content_world)
    return evaluate.evaluate(table, observation_hours=info.observation_hours, config=FAST)


def _score(
    report: evaluate.EvaluationReport, name: str, model: str, key: str, metric: str
) -> float:
    target, horizon = key.split(".")
    for row in report.rows():
        if (row["evaluation"], row["model"], row["target"], row["horizon"]) == (
            name,
            model,
            target,
            horizon,
        ):
            return float(row[metric])
    raise AssertionError(f"no row for {name} {model} {key}")


def test_lightgbm_beats_szabo_huberman_when_content_drives_growth(
    content_report: evaluate.EvaluationReport,
) -> None:
    """Growth depends on a content feature: LightGBM ranks and fits better than the
    early-count-only Szabo-Huberman on both evaluations, views and likes, at 14 and 21 days."""
    for name in ("time_split", "channel_groups"):
        for key in ("views.h14", "views.h21", "likes.h14", "likes.h21"):
            lgbm = _score(content_report, name, "lightgbm", key, "spearman")
            sh = _score(content_report, name, "szabo_huberman", key, "spearman")
            assert lgbm > sh + 0.02, (name, key, lgbm, sh)
            assert _score(content_report, name, "lightgbm", key, "mae_log1p") < _score(
                content_report, name, "szabo_huberman", key, "mae_log1p"
            )


def test_szabo_huberman_is_exact_for_a_constant_log_ratio(tmp_path: Path) -> None:
    """When log1p(V_h) - log1p(V_obs) is the same constant for every video, Szabo-Huberman
    recovers it and predicts every target exactly (the ridge-shrunk Pinto model nearly)."""
    table, _ = models.read_dataset(write_dataset(tmp_path / "d", constant_growth=True))
    ladder = models.fit_ladder(table, observation_hours=24.0, config=FAST)
    assert ladder.szabo_huberman["views.h21"] == pytest.approx(1.3, abs=1e-12)
    predicted = ladder.predict(table)
    for key in models.all_keys():
        metric, days = key.split(".h")
        truth = table.numbers(models.target_column(metric, int(days)))
        present = table.mask(models.present_column(metric, int(days)))
        np.testing.assert_allclose(predicted["szabo_huberman"][key][present], truth[present])
        pinto_error = np.abs(predicted["pinto"][key][present] - truth[present])
        assert float(np.mean(pinto_error)) < 0.01


def test_time_split_embargo_keeps_training_videos_21_days_before_the_first_test_video(
    content_world: Path, content_report: evaluate.EvaluationReport
) -> None:
    """Test = the last quarter by publication of the videos old enough for day 21; no training
    video is published within 21 days before the first test video; the dropped ones and the
    videos too young for day 21 are counted."""
    table, _ = models.read_dataset(content_world)
    mature = table.mask("target.views.h21.present") | table.mask("target.likes.h21.present")
    assert 0 < mature.sum() < len(table), "the world holds videos too young for day 21"
    published = np.where(mature, table.numbers("published_at"), np.nan)
    split = evaluate.time_split(published)
    assert len(split.test) == math.ceil(mature.sum() / 4)
    assert mature[split.test].all() and mature[split.train].all()
    assert published[split.test].min() >= published[split.train].max()
    assert published[split.train].max() <= split.first_test_published_s - 21 * 86_400.0
    assert len(split.dropped) > 0
    assert np.all(published[split.dropped] > split.first_test_published_s - 21 * 86_400.0)
    assert len(split.train) + len(split.test) + len(split.dropped) == mature.sum()
    info = content_report.evaluations[0].info
    assert info["too_young_for_the_longest_horizon"] == len(table) - mature.sum()
    assert info["dropped_by_embargo"] == len(split.dropped)
    assert info["train"] == len(split.train)


def test_channel_folds_are_disjoint_and_cover_every_video(content_world: Path) -> None:
    """No channel is on both sides of a fold; every video is tested exactly once; folds are
    capped by the number of channels."""
    table, _ = models.read_dataset(content_world)
    channels = table.text("channel")
    folds = evaluate.channel_folds(channels, k=5)
    assert len(folds) == 5
    tested = np.concatenate(folds)
    assert sorted(tested.tolist()) == list(range(len(table)))
    for test in folds:
        train = np.setdiff1d(np.arange(len(table)), test)
        assert not set(channels[test].tolist()) & set(channels[train].tolist())
    assert len(evaluate.channel_folds(np.array(["a", "b", "a"]), k=5)) == 2
    assert evaluate.channel_folds(np.array(["a", "a"]), k=5) == []


def test_metrics_follow_their_definitions() -> None:
    """Spearman on ranks, MAE on log1p, mRSE = mean((V_hat/V - 1)^2) over counts >= 1."""
    truth = np.log1p(np.array([10.0, 100.0, 1000.0, 0.0]))
    predicted = np.log1p(np.array([20.0, 100.0, 500.0, 5.0]))
    got = evaluate.metrics(truth, predicted)
    assert got["spearman"] == pytest.approx(1.0)
    assert got["mae_log1p"] == pytest.approx(np.mean(np.abs(predicted - truth)))
    assert got["mrse"] == pytest.approx(np.mean([1.0, 0.0, 0.25]))


def test_saved_model_round_trips_and_its_version_follows_the_data(tmp_path: Path) -> None:
    """Saved and loaded, the ladder predicts the same; the same data gives the same version,
    a changed target a new one; an altered file is refused."""
    data = write_dataset(tmp_path / "d", n=200, channels=6)
    table, info = models.read_dataset(data)
    ladder = models.fit_ladder(table, observation_hours=24.0, config=FAST)
    first = models.save_model(tmp_path / "m1", ladder, info)
    again = models.fit_ladder(table, observation_hours=24.0, config=FAST)
    second = models.save_model(tmp_path / "m2", again, info)
    assert first["model_version"] == second["model_version"]
    assert first["model_version"].startswith("ladder-")
    assert first["provenance"] == "simulated"
    assert first["dataset"]["sha256"] == info.sha256

    loaded, manifest = models.load_model(tmp_path / "m1")
    assert manifest["model_version"] == first["model_version"]
    before, after = ladder.predict(table), loaded.predict(table)
    for model in models.MODELS:
        for key in models.all_keys():
            np.testing.assert_array_equal(before[model][key], after[model][key])

    changed = dict(table.columns)
    changed["target.views.h21.log1p"] = changed["target.views.h21.log1p"] + 0.01
    other = models.fit_ladder(models.Table(changed), observation_hours=24.0, config=FAST)
    third = models.save_model(tmp_path / "m3", other, info)
    assert third["model_version"] != first["model_version"]

    booster = tmp_path / "m1" / "lightgbm.views.h21.txt"
    booster.write_text(booster.read_text() + "\n")
    with pytest.raises(models.ModelDirError, match="does not match"):
        models.load_model(tmp_path / "m1")
    with pytest.raises(models.ModelDirError, match="no model directory"):
        models.load_model(tmp_path / "absent")


def test_predictor_gives_every_target_and_explains_what_it_cannot(tmp_path: Path) -> None:
    """A feature row gives views and likes at 7, 14, 21 days from LightGBM with
    Szabo-Huberman beside it; without an early count the values are null with a reason."""
    data = write_dataset(tmp_path / "d", n=200, channels=6)
    table, info = models.read_dataset(data)
    ladder = models.fit_ladder(table, observation_hours=24.0, config=FAST)
    manifest = models.save_model(tmp_path / "m", ladder, info)
    predictor = Predictor.load(tmp_path / "m")
    assert predictor.model_version == manifest["model_version"]
    assert predictor.observation_hours == 24.0

    row = {name: float(table.numbers(name)[0]) for name in predictor.inputs()}
    out = predictor.predict(row)
    assert out["missing_features"] == []
    assert out["warnings"] == []
    assert out["model_version"] == manifest["model_version"]
    assert out["provenance"] == "simulated"
    assert set(out["forecast"]) == {"views", "likes"}
    expected = ladder.predict(table.take(np.array([0])))
    for metric in ("views", "likes"):
        assert set(out["forecast"][metric]) == {"h7", "h14", "h21"}
        for horizon in ("h7", "h14", "h21"):
            entry = out["forecast"][metric][horizon]
            key = f"{metric}.{horizon}"
            assert entry["model"] == "lightgbm"
            assert entry["log1p"] == pytest.approx(expected["lightgbm"][key][0])
            assert entry["count"] == round(math.expm1(entry["log1p"]))
            assert entry["second_opinion"]["model"] == "szabo_huberman"
            assert entry["second_opinion"]["log1p"] == pytest.approx(
                expected["szabo_huberman"][key][0]
            )
            assert entry["optional"] is (horizon == "h7")

    blind = {k: v for k, v in row.items() if not k.startswith("content.")}
    blind["early.likes_obs_log1p"] = math.nan
    out = predictor.predict(blind)
    assert out["missing_features"] == [
        "content.visual.brightness_mean",
        "content.visual.faces_mean",
        "content.visual.present",
        "early.likes_obs_log1p",
    ]
    assert any("content feature" in w for w in out["warnings"])
    assert out["forecast"]["views"]["h21"]["count"] is not None
    likes = out["forecast"]["likes"]["h21"]
    assert likes["log1p"] is None
    assert likes["count"] is None
    assert "no early likes count" in likes["reason"]
    assert "no early likes count" in likes["second_opinion"]["reason"]


def test_dataset_errors_name_what_is_missing(tmp_path: Path) -> None:
    """A dataset without a required column, or without the file, says which and why; too few
    rows for a required target says how many are needed."""
    with pytest.raises(models.DatasetError, match=r"early\.views_obs_log1p"):
        models.read_dataset(write_dataset(tmp_path / "d", n=50, drop=("early.views_obs_log1p",)))
    with pytest.raises(models.DatasetError, match="dataset build"):
        models.read_dataset(tmp_path / "nowhere")
    described = write_dataset(tmp_path / "undescribed", n=50)
    (described / "dataset.json").unlink()  # provenance and targets' parameters unknown
    with pytest.raises(models.DatasetError, match=r"no dataset\.json"):
        models.read_dataset(described)
    table, _ = models.read_dataset(write_dataset(tmp_path / "small", n=20))
    with pytest.raises(models.TooFewRowsError, match="at least 30 are needed"):
        models.check_rows(table)
