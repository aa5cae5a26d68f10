"""Prediction jobs through ``trendflow serve``: a forecast of a synced video with the model's
version, its content features taken from the newest run of the same video, the same numbers
as ``trendflow predict``, idempotent, and refused with 422 by a server without a model."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trendflow.learn import models
from trendflow.learn.cli_model import model_app

from .conftest import Service  # noqa: TID252 - this folder's fixtures

PUBLISHED = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
# The job's times are written in New York's winter offset, the CLI's file in UTC: the same
# moments, so the same features (hour and weekday are UTC's: Friday 23:30, not Saturday 04:30).
NEW_YORK = timezone(timedelta(hours=-5))
# Hours after publication, views, likes: as SM Core's post metric snapshots would have them.
SEEN = ((4, 310, 12), (11, 820, 35), (22, 1500, 61), (70, 2900, 118))


def _body(external_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "prediction",
        "platform": "instagram",
        "external_id": external_id,
        "published_at": PUBLISHED.astimezone(NEW_YORK).isoformat(),
        "observations": [
            {
                "observed_at": (PUBLISHED + timedelta(hours=h)).astimezone(NEW_YORK).isoformat(),
                "views": views,
                "likes": likes,
            }
            for h, views, likes in SEEN
        ],
        "channel": "ch01",
        "caption": "a new video #cats",
        "channel_followers": 5000,
        **extra,
    }


def _cli_forecast(model: Path, service: Service, external_id: str, tmp: Path) -> dict[str, Any]:
    snapshots = tmp / "snapshots.csv"
    with snapshots.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["platform", "video_id", "channel", "published_at", "observed_at", "views", "likes",
             "channel_followers", "caption"]
        )  # fmt: skip
        for h, views, likes in SEEN:
            writer.writerow(
                ["instagram", external_id, "ch01", PUBLISHED.isoformat(),
                 (PUBLISHED + timedelta(hours=h)).isoformat(), views, likes, 5000,
                 "a new video #cats"]
            )  # fmt: skip
    result = CliRunner().invoke(
        model_app,
        [
            "predict", "--model", str(model), "--platform", "instagram", "--video-id",
            external_id, "--snapshots", str(snapshots), "--result-store",
            str(service.data_dir / "result_store"), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    forecast: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return forecast


def test_a_prediction_uses_the_videos_run_and_matches_trendflow_predict(
    service: Service,
    image_job: Callable[..., dict[str, Any]],
    ladder_model: Path,
    tmp_path: Path,
) -> None:
    analysed = service.post(image_job("pred-1"))
    assert analysed.status_code == 202, analysed.text
    assert service.wait(analysed.json()["id"])["status"] == "done"

    posted = service.post(_body("pred-1"))
    assert posted.status_code == 202, posted.text
    job = service.wait(posted.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["kind"] == "prediction" and job["progress"] == {"prediction": "computed"}
    summary = job["result"]["summary"]
    version = json.loads((ladder_model / models.MANIFEST).read_text())["model_version"]
    assert summary["model_version"] == version == job["versions"]["model"]["model_version"]
    assert summary["provenance"] == "simulated"
    assert summary["features_job"] == analysed.json()["id"], "the video's own run"
    assert job["result"]["manifest_url"] is None and job["result"]["artifacts"] == []
    for metric, seen in (("views", SEEN[2][1]), ("likes", SEEN[2][2])):
        for horizon in ("h7", "h14", "h21"):
            forecast = summary["forecast"][metric][horizon]
            assert forecast["model"] == "lightgbm"
            assert forecast["count"] is not None and forecast["count"] > 0
            assert forecast["second_opinion"]["model"] == "szabo_huberman"
            # Szabo-Huberman grows the count at the observation point (24 h: the 22 h one).
            assert forecast["second_opinion"]["count"] >= seen * 0.99
        assert summary["forecast"][metric]["h7"]["optional"] is True

    cli = _cli_forecast(ladder_model, service, "pred-1", tmp_path)
    assert cli["model_version"] == version
    for metric in ("views", "likes"):
        for horizon in ("h7", "h14", "h21"):
            assert (
                cli["forecast"][metric][horizon]["log1p"]
                == summary["forecast"][metric][horizon]["log1p"]
            ), "the job API and trendflow predict give the same forecast"

    again = service.post(_body("pred-1"))
    assert again.status_code == 200 and again.json()["id"] == job["id"], "idempotent"
    later = service.post(_body("pred-1", observations=_body("pred-1")["observations"][:2]))
    assert later.status_code == 202, "another history is another prediction"


def test_a_prediction_without_a_run_says_so_and_is_made_again_once_there_is_one(
    service: Service, image_job: Callable[..., dict[str, Any]]
) -> None:
    first = service.wait(service.post(_body("pred-late")).json()["id"])
    assert first["status"] == "done", first["error"]
    summary = first["result"]["summary"]
    assert summary["features_job"] is None
    assert any(name.startswith("content.") for name in summary["missing_features"])
    assert summary["forecast"]["views"]["h21"]["count"] is not None

    analysed = service.wait(service.post(image_job("pred-late")).json()["id"])
    assert analysed["status"] == "done"
    again = service.post(_body("pred-late"))
    assert again.status_code == 202, "the same history with a run now is a new forecast"
    second = service.wait(again.json()["id"])
    assert second["result"]["summary"]["features_job"] == analysed["id"]


def test_a_history_observed_before_publication_fails_as_bad_input(service: Service) -> None:
    body = _body("pred-early")
    body["observations"][0]["observed_at"] = (PUBLISHED - timedelta(hours=2)).isoformat()
    job = service.wait(service.post(body).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "bad_input" and job["error"]["retryable"] is False
    assert "before published_at" in job["error"]["message"]


def test_a_prediction_on_a_server_without_a_model_is_422(tmp_path: Path) -> None:
    from trendflow.service import jobs  # noqa: PLC0415
    from trendflow.service.errors import InvalidJob  # noqa: PLC0415
    from trendflow.service.schemas import PredictionJobRequest  # noqa: PLC0415
    from trendflow.settings import Settings  # noqa: PLC0415

    catalog = jobs.Catalog.from_settings(Settings(data_dir=tmp_path))
    request = PredictionJobRequest.model_validate(_body("x"))
    with pytest.raises(InvalidJob, match="TRENDFLOW_PREDICTION_MODEL") as refused:
        jobs.plan(catalog, request)
    assert refused.value.field == "kind"
