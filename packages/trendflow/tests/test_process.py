"""`trendflow process` then `validate` on a real video; reruns reuse; config changes recompute
only what they touch; validate catches broken runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from trendflow.config import load_config
from trendflow.models.cache import MODELS
from trendflow.models.registry import ModelStore
from trendflow.pipeline.contracts import RunInputs
from trendflow.pipeline.service import DataProcessor, RunRequest
from trendflow.store.npz import read_npz


def test_first_run_computes_every_component_and_validates(cli, bbb_run) -> None:
    statuses = {name: c["status"] for name, c in bbb_run.first["components"].items()}
    assert statuses["segmenter"] == "computed"
    assert statuses["core_object_detections"] == "computed"
    assert set(statuses.values()) <= {"computed", "empty"}, bbb_run.first
    assert bbb_run.run_dir == bbb_run.result_store / "youtube" / "bbb" / "r1"
    result = cli.run("validate", bbb_run.run_dir, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["problems"] == []


def test_every_npz_carries_the_run_meta(bbb_run) -> None:
    manifest = json.loads((bbb_run.run_dir / "manifest.json").read_text())
    run = manifest["run"]
    for name, entry in manifest["components"].items():
        for artifact in entry["artifacts"]:
            _, meta = read_npz(bbb_run.run_dir / artifact["path"])
            assert meta["config_hash"] == run["config_hash"], name
            assert meta["dataprocessor_version"] == run["dataprocessor_version"]
            assert meta["sampling_policy_version"] == run["sampling_policy_version"]
            assert meta["producer_version"] and meta["schema_version"]
    detections = manifest["components"]["core_object_detections"]
    assert detections["models_used"][0]["name"] == "yolox_nano"
    assert len(detections["models_used"][0]["sha256"]) == 64


def _process_again(cli, run, **options: Any) -> dict[str, Any]:
    """``trendflow process`` of ``run``'s video into ``run``'s stores again; its report."""
    _, report = cli.process(
        run.video,
        video_id="bbb",
        result_store=run.result_store,
        frames_store=run.frames_store,
        meta=run.meta,
        comments=run.comments,
        **options,
    )
    return report


def test_rerun_with_same_inputs_reuses_every_component(cli, bbb_run) -> None:
    again = _process_again(cli, bbb_run)
    assert {c["status"] for c in again["components"].values()} == {"reused"}
    assert set(again["components"]) == set(bbb_run.first["components"])


def test_changing_one_components_config_recomputes_only_it_and_its_dependents(
    cli, env, bbb_copy, tmp_path: Path
) -> None:
    config = env.with_config(
        tmp_path / "changed.yaml",
        components={"core_object_detections": {"score_threshold": 0.5}},
    )
    report = _process_again(cli, bbb_copy, config=config)
    statuses = {n: c["status"] for n, c in report["components"].items()}
    assert {n for n, s in statuses.items() if s != "reused"} == {
        "core_object_detections",
        "objects_over_time",
    }
    assert statuses["core_object_detections"] == "computed"
    arrays, _ = read_npz(bbb_copy.run_dir / "core_object_detections" / "detections.npz")
    kept = arrays["scores"][arrays["detection_present"]]
    assert (kept >= 0.5).all()
    assert cli.run("validate", bbb_copy.run_dir).returncode == 0


def test_a_lost_frames_file_is_reported_and_decoded_again(cli, bbb_copy) -> None:
    """Colour and motion read their own 160-px frames file: losing it (not a recorded purge)
    fails validate, and the next run decodes the video again instead of reusing the segmenter."""
    frames_dir = bbb_copy.frames_store / "youtube" / "bbb" / "r1"
    (frames_dir / "frames_160.npy").unlink()
    result = cli.run("validate", bbb_copy.run_dir, "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("frames_160.npy is gone" in p for p in problems), problems
    report = _process_again(cli, bbb_copy)
    assert report["components"]["segmenter"]["status"] == "computed"
    assert (frames_dir / "frames_160.npy").exists()
    assert cli.run("validate", bbb_copy.run_dir).returncode == 0


def test_validate_reports_a_tampered_artifact_and_a_json_artifact(
    cli, bbb_run, tmp_path: Path
) -> None:
    copy = tmp_path / "youtube" / "bbb" / "r1"
    shutil.copytree(bbb_run.run_dir, copy)
    target = copy / "core_object_detections" / "detections.npz"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    (copy / "core_object_detections" / "summary.json").write_text("{}")
    result = cli.run("validate", copy, "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("detections.npz: sha256 differs" in p for p in problems), problems
    assert any("summary.json: JSON artifact" in p for p in problems), problems


def test_a_worker_loads_each_model_once_for_all_its_jobs(env, bbb_run, tmp_path: Path) -> None:
    """One DataProcessor (as a `trendflow serve` worker keeps) runs two jobs: the second job's
    components get the sessions, the OCR engine and the Whisper model the first one loaded, and
    compute the same artifacts."""
    config = load_config(env.config)
    processor = DataProcessor(config, ModelStore(env.models_dir, config.models, download=False))
    MODELS.clear()
    reports = []
    for video_id in ("first", "second"):
        request = RunRequest(
            platform_id="youtube",
            video_id=video_id,
            run_id="r1",
            inputs=RunInputs(video=bbb_run.video),
            result_store=tmp_path / "rs",
            frames_root=tmp_path / "frames",
        )
        reports.append(processor.run(request))
    first, second = ({n: c.status for n, c in r.components.items()} for r in reports)
    assert first == second and "failed" not in first.values(), first
    loaded = {entry["key"]: entry for entry in MODELS.stats()}
    assert set(loaded) == {
        "onnx:yolox_nano.onnx",
        "onnx:yunet_n_dynamic.onnx",
        "onnx:clip-vit-b32-vision.onnx",
        "onnx:model-small.onnx",
        "rapidocr:ch_PP-OCRv4_det_infer.onnx",
        "whisper:whisper-base",  # bigbuckbunny's hums pass the VAD: Whisper runs
    }, loaded
    assert all(entry["hits"] == 1 for entry in loaded.values()), loaded
    for name in ("core_object_detections", "core_face_landmarks", "ocr_text"):
        artifact = reports[0].components[name].artifacts[0]
        a, _ = read_npz(reports[0].run_dir / artifact)
        b, _ = read_npz(reports[1].run_dir / artifact)
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), key
