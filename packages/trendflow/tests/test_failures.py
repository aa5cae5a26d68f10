"""A failed optional component is reported and recorded while the run goes on; its dependents
fail naming it; a failed required component fails the command."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from trendflow.store.manifest import RunManifest


def test_missing_model_fails_its_component_and_dependents_only(
    cli, env, sample_videos, tmp_path: Path
) -> None:
    data = json.loads(json.dumps(env.config_data))
    data["models"]["yolox_nano"] = {"sha256": "0" * 64}  # installed file can't match
    data["disabled"] = ["core_clip", "core_depth_midas", "color_motion", "text_comments"]
    data["disabled"] += ["asr_extractor", "ocr_text"]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    args = ["process", sample_videos("bigbuckbunny.mp4"), "--video-id", "bbb", "--json"]
    args += ["--result-store", tmp_path / "rs", "--frames-store", tmp_path / "fr"]
    args += ["--config", config, "--run-id", "broken"]
    result = cli.run(*args)
    assert result.returncode == 0, result.stderr
    report = cli.last_json(result)["components"]
    assert report["core_object_detections"]["status"] == "failed"
    assert "yolox_nano" in report["core_object_detections"]["error"]
    assert report["objects_over_time"]["status"] == "failed"
    assert "core_object_detections" in report["objects_over_time"]["error"]
    others = {n: c["status"] for n, c in report.items() if "object" not in n}
    assert set(others.values()) <= {"computed", "empty"}, others
    assert "core_object_detections" in result.stderr, "the table shows the failure"
    run_dir = Path(cli.last_json(result)["run_dir"])
    entry = RunManifest(run_dir).read()["components"]["core_object_detections"]
    assert entry["status"] == "failed" and "sha256" in entry["error"]
    assert cli.run("validate", run_dir).returncode == 0, "optional failures keep the run valid"
    assert cli.run(*args, "--strict").returncode == 1


def test_undecodable_video_fails_the_required_segmenter(cli, tmp_path: Path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    args = ["process", video, "--video-id", "x", "--json"]
    args += ["--result-store", tmp_path / "rs", "--frames-store", tmp_path / "fr"]
    result = cli.run(*args)
    assert result.returncode == 1
    report = cli.last_json(result)["components"]
    assert report["segmenter"]["status"] == "failed"
    assert "cannot open video" in report["segmenter"]["error"]
    visual_audio = {n: c["status"] for n, c in report.items() if not n.startswith("text_")}
    assert set(visual_audio.values()) == {"failed"}, "every reader of the segmenter fails"
    validation = cli.run("validate", cli.last_json(result)["run_dir"], "--json")
    assert validation.returncode == 1
    assert any(
        "segmenter: required component failed" in p
        for p in json.loads(validation.stdout)["problems"]
    )


def test_unsupported_platform_is_bad_input(cli, sample_videos, tmp_path: Path) -> None:
    result = cli.run(
        "process",
        sample_videos("bikes.mp4"),
        "--platform",
        "vk",
        "--video-id",
        "x",
        "--result-store",
        tmp_path / "rs",
        "--frames-store",
        tmp_path / "fr",
    )
    assert result.returncode == 2
    assert "platform 'vk' is not supported" in result.stderr
    assert not (tmp_path / "rs").exists()
