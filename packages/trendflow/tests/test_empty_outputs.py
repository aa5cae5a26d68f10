"""A video without audio and one without faces give `empty` components with an empty_reason:
NaN values and all-false `*_present` masks, never zeros and never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trendflow.store.npz import read_npz


def test_video_without_audio_track_gives_empty_audio(cli, bikes_run) -> None:
    audio = bikes_run["components"]["audio_tier0"]
    assert audio["status"] == "empty"
    assert audio["empty_reason"] == "no_audio_track"
    arrays, meta = read_npz(_path(bikes_run, "audio_tier0/tier0.npz"))
    assert meta["empty_reason"] == "no_audio_track"
    assert not arrays["audio_present"]
    assert arrays["segment_present"].size == 0
    assert np.isnan(arrays["silence_ratio"]) and np.isnan(arrays["rms_db_mean"])
    # Without meta and comments the text components are empty too, each saying why.
    assert bikes_run["components"]["text_metadata"]["empty_reason"] == "no_meta"
    assert bikes_run["components"]["text_comments"]["empty_reason"] == "no_comments"
    assert cli.run("validate", bikes_run["run_dir"]).returncode == 0


def test_video_without_faces_gives_empty_faces_with_nan(cli, blocks_run) -> None:
    faces = blocks_run["components"]["core_face_landmarks"]
    assert faces["status"] == "empty"
    assert faces["empty_reason"] == "no_faces_detected"
    arrays, _ = read_npz(_path(blocks_run, "core_face_landmarks/faces.npz"))
    assert arrays["face_present"].shape[0] == len(arrays["frame_indices"]) > 0
    assert not arrays["face_present"].any()
    assert np.isnan(arrays["boxes_xyxy_norm"]).all()
    over_time = blocks_run["components"]["faces_over_time"]
    assert over_time["status"] == "empty"
    assert over_time["empty_reason"] == "no_faces_detected"
    module, _ = read_npz(_path(blocks_run, "faces_over_time/faces_over_time.npz"))
    assert np.isnan(module["face_count"]).all(), "absent faces are NaN, not a count of 0"
    assert np.isnan(module["face_frame_ratio"])
    # The same video has audio: that component is computed, not empty.
    assert blocks_run["components"]["audio_tier0"]["status"] == "computed"
    assert cli.run("validate", blocks_run["run_dir"]).returncode == 0


def test_manifest_records_the_empty_status(blocks_run) -> None:
    manifest = json.loads(_path(blocks_run, "manifest.json").read_text())
    entry = manifest["components"]["core_face_landmarks"]
    assert entry["status"] == "empty"
    assert entry["artifacts"][0]["empty_reason"] == "no_faces_detected"


def _path(report, rel):
    return Path(report["run_dir"]) / rel
