"""The dataset on real processed runs: one row per video, content from the latest finished run,
early features and targets as the NPZ says, provenance in dataset.json."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no py.typed
import pytest
from typer.testing import CliRunner

from trendflow.learn.cli_data import dataset_app
from trendflow.learn.dataset import build_dataset, read_dataset, target_columns
from trendflow.learn.features import content_columns, feature_columns, feature_row, latest_run
from trendflow.learn.snapshots import load_histories
from trendflow.learn.targets import TargetsError, build_targets, read_targets

T0 = datetime(2025, 5, 1, 18, 30, tzinfo=UTC)
HEADER = "platform,video_id,channel,published_at,observed_at,views,likes,channel_followers,caption"


@dataclass(frozen=True)
class Corpus:
    source: Path
    result_store: Path
    targets: Path


def _snapshots(path: Path) -> Path:
    """Three videos: 'bright' and 'dark' were processed, 'unseen' was not."""
    rows = []
    for n, video in enumerate(("bright", "dark", "unseen")):
        published = T0 + timedelta(hours=n)
        for hours, views in [(4, 50), (13, 120), (22, 300), (30, 400), (168, 2000), (337, 2600)]:
            observed = published + timedelta(hours=hours)
            rows.append(
                [
                    "youtube",
                    video,
                    f"chan{n % 2}",
                    published.isoformat(),
                    observed.isoformat(),
                    views * (n + 1),
                    views // 10,
                    "" if n == 2 else 5000,
                    "Look at this #sky @friend" if n == 0 else "",
                ]
            )
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.split(","))
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def corpus(
    cli: Any, make_video: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> Corpus:
    """Two tiny videos processed through `trendflow process`, snapshots and their targets."""
    root = tmp_path_factory.mktemp("learn_dataset")
    store, frames = root / "rs", root / "frames"
    for video_id, colour in (("bright", (235, 235, 225)), ("dark", (25, 20, 30))):
        video = make_video(root / f"{video_id}.mp4", seconds=1.0, fps=10, colour=colour)
        cli.process(video, video_id=video_id, result_store=store, frames_store=frames)
    source = _snapshots(root / "snapshots.csv")
    histories, info = load_histories(str(source))
    build_targets(histories, root / "targets", as_of=None, source=info)
    return Corpus(source=source, result_store=store, targets=root / "targets")


def test_one_row_per_video_with_content_early_and_targets(corpus: Corpus, tmp_path: Path) -> None:
    """Every video has a row; processed ones carry their run's content, the unseen one NaN with
    present 0; early features and targets are those of the snapshots and the NPZ."""
    histories, info = load_histories(str(corpus.source))
    report = build_dataset(
        histories,
        corpus.result_store,
        corpus.targets,
        tmp_path / "ds",
        observation_hours=24.0,
        provenance="simulated",
        source=info,
    )
    assert (report.rows, report.with_run, report.without_targets) == (3, 2, 0)
    table, described = read_dataset(tmp_path / "ds")
    identity = ["platform", "video_id", "channel", "published_at"]
    assert table.column_names == identity + feature_columns(24.0) + target_columns()
    assert table.schema.field("published_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("target.views.h14.present").type == pa.bool_()
    rows = {r["video_id"]: r for r in table.to_pylist()}
    bright, dark, unseen = rows["bright"], rows["dark"], rows["unseen"]
    for row in (bright, dark):
        assert row["content.segmenter.present"] == 1.0
        assert row["content.segmenter.duration_s"] == pytest.approx(1.0, abs=0.15)
        assert row["content.color_motion.present"] == 1.0
        assert row["content.faces_over_time.face_present_ratio"] == 0.0
    assert bright["content.color_motion.brightness_mean"] > 0.8
    assert dark["content.color_motion.brightness_mean"] < 0.2
    assert unseen["content.segmenter.present"] == 0.0
    unseen_content = [unseen[c] for c in content_columns() if not c.endswith(".present")]
    assert all(math.isnan(v) for v in unseen_content)
    # meta: hour and weekday of publication, caption counts, followers (unknown → NaN).
    assert (bright["meta.hour_utc"], bright["meta.weekday"]) == (18.0, float(T0.weekday()))
    assert (bright["meta.hashtags"], bright["meta.mentions"]) == (1.0, 1.0)
    assert bright["meta.channel_followers_log1p"] == pytest.approx(math.log1p(5000))
    assert math.isnan(unseen["meta.channel_followers_log1p"])
    # early: the 22 h snapshot is the observation point; the 30 h one is never read.
    assert bright["early.views_obs_log1p"] == pytest.approx(math.log1p(300))
    assert bright["early.obs_age_hours"] == 22.0
    assert bright["early.views_at_6h_log1p"] == pytest.approx(math.log1p(50))
    assert dark["early.views_at_18h_log1p"] == pytest.approx(math.log1p(240))
    # targets: as the NPZ holds them.
    arrays, _ = read_targets(corpus.targets, "youtube", "dark") or ({}, {})
    assert dark["target.views.h7.present"] is True
    assert dark["target.views.h7.log1p"] == pytest.approx(math.log1p(arrays["views"][0]))
    assert dark["target.views.h7.delta_log1p"] == pytest.approx(arrays["views_delta_log1p"][0])
    assert dark["target.views.h14.delta_logdiff"] == pytest.approx(
        math.log1p(5200) - math.log1p(600)
    )
    assert dark["target.views.h21.present"] is False
    assert math.isnan(dark["target.views.h21.log1p"])
    # dataset.json: provenance, sources with sha256, columns, the Parquet's checksum.
    assert described["provenance"] == {"label": "simulated", "simulated": True}
    assert described["sources"]["snapshots"]["sha256"] == info.sha256
    assert described["sources"]["targets"] == [
        {"where": str(corpus.source), "sha256": info.sha256, "videos": 3}
    ]
    assert described["columns"]["content"] == content_columns()
    assert described["content_excluded"] == ["text_comments"]
    assert described["counts"]["present"]["views.h14"] == 3


def test_feature_row_matches_the_dataset(corpus: Corpus, tmp_path: Path) -> None:
    """The prediction path's feature_row gives the very values of the dataset's row."""
    histories, _ = load_histories(str(corpus.source))
    build_dataset(histories, corpus.result_store, corpus.targets, tmp_path, provenance="real")
    table, described = read_dataset(tmp_path)
    assert described["provenance"]["simulated"] is False
    for history, row in zip(histories, table.to_pylist(), strict=True):
        run = latest_run(corpus.result_store, history.platform, history.video_id)
        features = feature_row(history, run_dir=run, observation_hours=24.0)
        assert list(features) == feature_columns(24.0)
        np.testing.assert_array_equal(
            np.array(list(features.values())), np.array([row[c] for c in features])
        )


def test_latest_run_is_the_newest_finished_one(corpus: Corpus, tmp_path: Path) -> None:
    """A failed or unfinished run is passed over; among succeeded runs the latest finish wins,
    a video run before a newer image run (a cover), never a text run; a component whose
    artifact is gone counts as absent."""
    store = tmp_path / "rs"
    shutil.copytree(corpus.result_store, store)
    video_dir = store / "youtube" / "bright"
    (original,) = list(video_dir.iterdir())
    base = json.loads((original / "manifest.json").read_text())
    finished = datetime.fromisoformat(base["run"]["finished_at"])

    def copy(name: str, status: str, delta_h: float, kind: str = "video") -> Path:
        target = video_dir / name
        shutil.copytree(original, target)
        manifest = json.loads(json.dumps(base))
        manifest["run"]["status"] = status
        manifest["run"]["media_kind"] = kind
        manifest["run"]["finished_at"] = (finished + timedelta(hours=delta_h)).isoformat()
        (target / "manifest.json").write_text(json.dumps(manifest))
        return target

    copy("older", "succeeded", -5)
    copy("failed", "failed", 5)
    assert latest_run(store, "youtube", "bright") == original
    newer = copy("newer", "succeeded", 3)
    assert latest_run(store, "youtube", "bright") == newer
    copy("cover", "succeeded", 6, kind="image")
    copy("caption", "succeeded", 7, kind="text")
    assert latest_run(store, "youtube", "bright") == newer, "the video's own run"
    assert latest_run(store, "youtube", "nobody") is None
    (newer / "color_motion" / "color_motion.npz").unlink()
    histories, _ = load_histories(str(corpus.source))
    row = feature_row(histories[0], run_dir=newer)
    assert row["content.color_motion.present"] == 0.0
    assert math.isnan(row["content.color_motion.brightness_mean"])
    assert row["content.segmenter.present"] == 1.0


def test_targets_for_another_observation_point_are_refused(corpus: Corpus, tmp_path: Path) -> None:
    """Deltas from a 24 h observation point do not go with 12 h early features."""
    histories, _ = load_histories(str(corpus.source))
    with pytest.raises(TargetsError, match="observation_hours"):
        build_dataset(
            histories,
            corpus.result_store,
            corpus.targets,
            tmp_path,
            observation_hours=12.0,
            provenance="simulated",
        )


def test_cli_builds_the_dataset(corpus: Corpus, tmp_path: Path) -> None:
    """`dataset build` writes both files and reports; an unknown provenance is refused."""
    runner = CliRunner()
    args = [
        "build",
        str(corpus.source),
        "--result-store",
        str(corpus.result_store),
        "--targets",
        str(corpus.targets),
        "--out",
        str(tmp_path / "out"),
    ]
    result = runner.invoke(dataset_app, [*args, "--provenance", "simulated", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["rows"], report["with_run"], report["without_run"]) == (3, 2, 1)
    assert (tmp_path / "out" / "dataset.parquet").is_file()
    assert (tmp_path / "out" / "dataset.json").is_file()
    assert runner.invoke(dataset_app, [*args, "--provenance", "maybe"]).exit_code == 2
