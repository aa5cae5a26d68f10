"""``trendflow train | evaluate | predict`` through typer's runner on synthetic Parquet
datasets, and the model card they write: provenance first, the ladder's table, the plots."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trendflow.learn import card, evaluate, models
from trendflow.learn.cli_model import model_app

from .test_models import write_dataset  # noqa: TID252 - the synthetic dataset of the ladder's tests

PNG = b"\x89PNG\r\n\x1a\n"
QUICK = ["--folds", "3", "--rounds", "60"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A dataset and the model ``trendflow train`` made of it, with its output."""
    root = tmp_path_factory.mktemp("train")
    data = write_dataset(root / "dataset", n=240, channels=8)
    result = CliRunner().invoke(model_app, ["train", str(data), "--out", str(root / "m"), *QUICK])
    assert result.exit_code == 0, result.output
    return data, root / "m", result.output


def test_train_writes_model_card_evaluation_and_manifest_last(
    trained: tuple[Path, Path, str],
) -> None:
    """The model directory lists every file it holds with its sha256; the ladder's table was
    printed, marked simulated."""
    _, model_dir, output = trained
    manifest = json.loads((model_dir / models.MANIFEST).read_text())
    assert manifest["model_version"].startswith("ladder-")
    assert manifest["provenance"] == "simulated"
    assert set(manifest["files"]) == {
        card.CARD,
        card.PRED_VS_TRUE,
        card.ERROR_BY_HORIZON,
        card.IMPORTANCE,
        "evaluation.json",
    }
    assert "lightgbm.views.h21.txt" in manifest["model_files"]
    assert "The baseline ladder (simulated)" in output
    # 21 days and the 12 h tolerance the synthetic targets were built with (dataset.json).
    assert "dropped by the 21.5-day embargo" in output
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["model_version"] == manifest["model_version"]
    assert {row["model"] for row in evaluation["metrics"]} == set(models.MODELS)


def test_card_states_provenance_first_and_every_plot_exists(
    trained: tuple[Path, Path, str],
) -> None:
    """The card opens with the provenance in plain words; its table caption and every plot's
    title say simulated; each referenced PNG exists, is a PNG and is not empty."""
    _, model_dir, _ = trained
    text = (model_dir / card.CARD).read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# Model card")
    assert lines[2].startswith("**Data provenance: simulated.**")
    assert "Table 1 (simulated)" in text
    assert "| groups by channel | views | h21 |" in text
    assert "h7 (optional, masked)" in text
    plots = re.findall(r"!\[([^\]]+)\]\(([^)]+\.png)\)", text)
    assert {name for _, name in plots} == {
        card.PRED_VS_TRUE,
        card.ERROR_BY_HORIZON,
        card.IMPORTANCE,
    }
    for title, name in plots:
        assert "(simulated)" in title
        data = (model_dir / name).read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 5_000


def test_card_of_real_data_says_real(tmp_path: Path) -> None:
    """With provenance real, the card says so and never calls its results simulated."""
    table, info = models.read_dataset(write_dataset(tmp_path / "d", n=150, channels=4))
    config = models.LadderConfig(num_rounds=20)
    report = evaluate.evaluate(table, observation_hours=24.0, config=config, folds=2)
    ladder = models.fit_ladder(table, observation_hours=24.0, config=config)
    files = card.render_card(
        model_version="ladder-000000000000",
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
        dataset=dataclasses.replace(info, provenance="real"),
        table=table,
        report=report,
        ladder=ladder,
    )
    text = files[card.CARD].decode()
    assert text.splitlines()[2].startswith("**Data provenance: real.**")
    assert "simulated" not in text
    assert "Table 1 (real data)" in text


def test_evaluate_prints_json_and_writes_the_file(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """``evaluate --model --json --out``: both evaluations, every model, target and horizon,
    the recipe's model version; the same JSON in the file."""
    data, model_dir, _ = trained
    out = tmp_path / "evaluation.json"
    result = CliRunner().invoke(
        model_app,
        [
            "evaluate",
            str(data),
            "--model",
            str(model_dir),
            "--json",
            "--out",
            str(out),
            "--folds",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed == json.loads(out.read_text())
    manifest = json.loads((model_dir / models.MANIFEST).read_text())
    assert printed["model_version"] == manifest["model_version"]
    assert printed["evaluations"]["time_split"]["status"] == "done"
    assert printed["evaluations"]["time_split"]["dropped_by_embargo"] > 0
    assert printed["evaluations"]["channel_groups"]["folds"] == 3
    assert len(printed["metrics"]) == 2 * 3 * 2 * 3  # evaluations, models, targets, horizons


def test_commands_explain_bad_input(tmp_path: Path) -> None:
    """No model directory, a dataset without a column, too few rows: exit 2 with the reason."""
    runner = CliRunner()
    data = write_dataset(tmp_path / "d", n=60, drop=("target.likes.h14.present",))
    result = runner.invoke(model_app, ["train", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "target.likes.h14.present" in result.stderr

    small = write_dataset(tmp_path / "small", n=25)
    result = runner.invoke(model_app, ["train", str(small), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "at least 30 are needed" in result.stderr
    assert not (tmp_path / "m" / models.MANIFEST).exists()

    result = runner.invoke(
        model_app, ["evaluate", str(small), "--model", str(tmp_path / "no-model")]
    )
    assert result.exit_code == 2
    assert "no model directory" in result.stderr


def test_predict_forecasts_a_synced_video_with_the_model_version(
    trained: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """``trendflow predict`` reads the video's snapshots, finds no processed run (content
    unknown, said so) and forecasts views and likes at 7/14/21 days with the model's version;
    a video absent from the snapshots is refused with exit 2."""
    _, model_dir, _ = trained
    published = datetime(2025, 6, 1, 12, tzinfo=UTC)
    snapshots = tmp_path / "snapshots.csv"
    with snapshots.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["platform", "video_id", "channel", "published_at", "observed_at", "views", "likes",
             "channel_followers", "caption"]
        )  # fmt: skip
        for hours, views, likes in ((5, 300, 12), (11, 700, 30), (23, 1200, 55), (40, 2000, 80)):
            observed = published + timedelta(hours=hours)
            writer.writerow(
                ["tiktok", "new1", "ch01", published.isoformat(), observed.isoformat(), views,
                 likes, 5000, "a new video #cats"]
            )  # fmt: skip
    args = [
        "predict",
        "--model",
        str(model_dir),
        "--platform",
        "tiktok",
        "--snapshots",
        str(snapshots),
        "--result-store",
        str(tmp_path / "result_store"),
        "--json",
    ]
    result = CliRunner().invoke(model_app, [*args, "--video-id", "new1"])
    assert result.exit_code == 0, result.output
    forecast = json.loads(result.stdout.strip().splitlines()[-1])
    manifest = json.loads((model_dir / models.MANIFEST).read_text())
    assert forecast["model_version"] == manifest["model_version"]
    assert forecast["video_id"] == "new1"
    assert forecast["run_dir"] is None
    assert any("no finished run" in w for w in forecast["warnings"])
    for metric in ("views", "likes"):
        for horizon in ("h7", "h14", "h21"):
            entry = forecast["forecast"][metric][horizon]
            assert entry["model"] == "lightgbm"
            assert entry["count"] >= 1
            assert entry["second_opinion"]["count"] >= 1
    # The 40 h snapshot is past the observation point: the forecast starts from 1,200 views.
    assert forecast["forecast"]["views"]["h7"]["second_opinion"]["count"] > 1200

    missing = CliRunner().invoke(model_app, [*args, "--video-id", "absent"])
    assert missing.exit_code == 2
    assert "not in the snapshot source" in missing.stderr
