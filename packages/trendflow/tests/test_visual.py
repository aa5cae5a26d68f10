"""Visual core providers on real and synthetic frames: YuNet finds a real face, YOLOX a person,
the CLIP and MiDaS paths preprocess exactly as specified, frames are RGB, shots are cut."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from trendflow.errors import MissingFrameIndicesError
from trendflow.segmenter.frames import FramesDir
from trendflow.store.manifest import RunManifest
from trendflow.store.npz import read_npz

ONLY_FACES_OBJECTS = [
    "core_clip",
    "core_depth_midas",
    "color_motion",
    "shot_stats",
    "audio_tier0",
    "asr_extractor",
    "ocr_text",
    "text_metadata",
    "text_comments",
]
COLOUR = (200, 100, 50)


@pytest.fixture(scope="module")
def carphone(cli, env, sample_videos, tmp_path_factory):
    """The classic 'carphone' test sequence (a man talking in a car), faces and objects only."""
    root = tmp_path_factory.mktemp("carphone")
    config = env.with_config(root / "c.yaml", disabled=ONLY_FACES_OBJECTS)
    _, report = cli.process(
        sample_videos("carphone_pristine.mp4"),
        video_id="carphone",
        result_store=root / "rs",
        frames_store=root / "fr",
        config=config,
    )
    assert set(report["components"]) == {
        "segmenter",
        "core_face_landmarks",
        "core_object_detections",
        "faces_over_time",
        "objects_over_time",
    }
    return Path(report["run_dir"])


@pytest.fixture(scope="module")
def colour_run(cli, env, make_video, tmp_path_factory):
    """A flat-colour clip: CLIP and depth outputs of the tiny models are predictable."""
    root = tmp_path_factory.mktemp("colour")
    video = make_video(root / "flat.mp4", seconds=2.0, fps=10, colour=COLOUR)
    # One GPU slot and four workers: the slot limit, not the pool, keeps providers apart.
    config = env.with_config(root / "c.yaml", gpu_max_concurrent=1, max_workers=4)
    _, report = cli.process(
        video, video_id="flat", result_store=root / "rs", frames_store=root / "fr", config=config
    )
    return Path(report["run_dir"]), root / "fr" / "youtube" / "flat" / "r1"


def test_yunet_finds_the_real_face_with_landmarks_inside_it(carphone) -> None:
    arrays, meta = read_npz(carphone / "core_face_landmarks" / "faces.npz")
    assert meta["empty_reason"] is None
    assert arrays["face_present"][:, 0].mean() > 0.9, "the face is on screen throughout"
    box = np.nanmedian(arrays["boxes_xyxy_norm"][:, 0], axis=0)
    # The man's face sits in the upper middle of the frame.
    assert 0.25 < box[0] < box[2] < 0.75 and 0.1 < box[1] < box[3] < 0.8
    eyes = arrays["landmarks_norm"][:, 0, :2]
    inside = (eyes[..., 0] > box[0]) & (eyes[..., 0] < box[2]) & (eyes[..., 1] < box[3])
    assert inside[arrays["face_present"][:, 0]].mean() > 0.9
    over_time, _ = read_npz(carphone / "faces_over_time" / "faces_over_time.npz")
    assert over_time["face_frame_ratio"] > 0.9
    assert over_time["max_face_count"] >= 1


def test_yolox_sees_a_person(carphone) -> None:
    arrays, _ = read_npz(carphone / "objects_over_time" / "objects_over_time.npz")
    person = list(arrays["class_names"]).index("person")
    assert arrays["class_presence_ratio"][person] > 0.8
    assert np.nanmean(arrays["person_area"]) > 0.1


def test_frames_are_rgb_per_size_and_only_the_union_of_sampled_frames(colour_run) -> None:
    """Colour and motion read 160-px frames at 5 fps; the detectors 320-px (the clip's own
    size: never enlarged) at 1 fps. Each size is stored once, with only its readers' frames."""
    _, frames_dir = colour_run
    meta = json.loads((frames_dir / "metadata.json").read_text())
    assert meta["color_space"] == "RGB"
    components = meta["components"]
    union = sorted({i for c in components.values() for i in c["frame_indices"]})
    assert meta["union_frame_indices"] == union
    assert set(meta["frame_files"]) == {"frames_640.npy", "frames_160.npy"}
    assert components["color_motion"]["frames_file"] == "frames_160.npy"
    assert components["core_face_landmarks"]["frames_file"] == "frames_640.npy"
    for name, entry in meta["frame_files"].items():
        readers = [c["frame_indices"] for c in components.values() if c["frames_file"] == name]
        frames = np.load(frames_dir / name)
        assert entry["frame_indices"] == sorted({i for r in readers for i in r})
        assert frames.shape == (len(entry["frame_indices"]), *entry["shape"][1:])
        assert max(frames.shape[1:3]) == min(entry["max_side"], 320)
        np.testing.assert_allclose(frames.reshape(-1, 3).mean(axis=0), COLOUR, atol=6)
    # 5 fps of the 2 s clip; the 640-px file only the detectors' 2 fps (this suite's config).
    assert len(meta["frame_files"]["frames_160.npy"]["frame_indices"]) == 10
    assert len(meta["frame_files"]["frames_640.npy"]["frame_indices"]) == 4


def test_clip_and_midas_paths_preprocess_as_specified(colour_run) -> None:
    run_dir, frames_dir = colour_run
    frames = np.load(frames_dir / "frames_640.npy")
    rgb = frames.reshape(-1, 3).mean(axis=0) / 255.0
    # The tiny CLIP tower's first 3 outputs are the CLIP-normalised channel means.
    clip_norm = (rgb - [0.48145466, 0.4578275, 0.40821073]) / [0.26862954, 0.26130258, 0.27577711]
    clip, clip_meta = read_npz(run_dir / "core_clip" / "embeddings.npz")
    assert clip["embeddings"].shape[1] == 8
    np.testing.assert_allclose(np.linalg.norm(clip["embeddings"], axis=1), 1.0, rtol=1e-5)
    first = clip["embeddings"][0]
    np.testing.assert_allclose(first[:3] / first[0], clip_norm / clip_norm[0], rtol=0.03)
    assert clip_meta["models_used"][0]["name"] == "clip_vit_b32_visual"
    # The tiny MiDaS returns the mean of the ImageNet-normalised channels at every pixel.
    midas_norm = (rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    depth, _ = read_npz(run_dir / "core_depth_midas" / "depth.npz")
    np.testing.assert_allclose(depth["depth_mean"], midas_norm.mean(), atol=0.03)
    assert depth["depth_maps"].shape[1:] == (32, 32)
    assert (depth["depth_std"] < 0.01).all()


def test_shot_boundary_at_the_hard_cut(blocks_run) -> None:
    run_dir = Path(blocks_run["run_dir"])
    seg, _ = read_npz(run_dir / "segmenter" / "segmentation.npz")
    assert seg["shot_start_frames"].tolist() == [0, 30]
    assert seg["shot_end_frames"].tolist() == [30, 60]
    shots, _ = read_npz(run_dir / "shot_stats" / "shots.npz")
    assert int(shots["n_shots"]) == 2
    np.testing.assert_allclose(shots["shot_duration_s"], [1.5, 1.5])
    motion, _ = read_npz(run_dir / "color_motion" / "color_motion.npz")
    # The cut is the largest change between consecutive sampled frames.
    cut_sample = int(np.nanargmax(motion["motion"]))
    assert motion["frame_indices"][cut_sample - 1] < 30 <= motion["frame_indices"][cut_sample]


def test_gpu_heavy_components_never_overlap_with_one_slot(colour_run) -> None:
    run_dir, _ = colour_run
    components = RunManifest(run_dir).read()["components"]
    slots = sorted(
        (
            datetime.fromisoformat(c["gpu_slot"]["acquired_at"]),
            datetime.fromisoformat(c["gpu_slot"]["released_at"]),
        )
        for c in components.values()
        if "gpu_slot" in c
    )
    assert len(slots) == 4, "clip, depth, objects and faces hold GPU slots"
    for (_, released), (acquired, _) in itertools.pairwise(slots):
        assert acquired >= released


def test_a_component_without_frame_indices_raises_naming_it(colour_run) -> None:
    _, frames_dir = colour_run
    with pytest.raises(MissingFrameIndicesError, match="'core_ocr' needs 'frame_indices'"):
        FramesDir(frames_dir).frames("core_ocr")
