"""`ocr_text`: PP-OCRv4 reads a word rendered into a video, marks the frame without text as
such, keeps the strings in the 60-day raw-text artifact, and is `empty` with NaN when no frame
holds text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from trendflow.store.npz import read_npz

SIZE = (640, 360)
WORD = "SALE 50"
# Everything but the Segmenter and OCR.
NOT_OCR = [
    "core_clip",
    "core_depth_midas",
    "core_object_detections",
    "core_face_landmarks",
    "color_motion",
    "shot_stats",
    "audio_tier0",
    "asr_extractor",
    "text_metadata",
    "text_comments",
]


def poster(index: int) -> NDArray[np.uint8]:
    """Large black "SALE 50" on white for the first 2 s (10 fps), then plain white."""
    image = Image.new("RGB", SIZE, "white")
    if index < 20:
        font = ImageFont.load_default(size=96)
        ImageDraw.Draw(image).text((90, 120), WORD, fill="black", font=font)
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def poster_run(cli, env, make_video, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("poster")
    video = make_video(root / "poster.mp4", seconds=3.0, fps=10, size=SIZE, picture=poster)
    config = env.with_config(root / "c.yaml", disabled=NOT_OCR)
    _, report = cli.process(
        video, video_id="poster", result_store=root / "rs", frames_store=root / "fr", config=config
    )
    assert report["components"]["ocr_text"]["status"] == "computed", report
    return Path(report["run_dir"])


def test_ocr_reads_the_rendered_word_and_not_the_blank_frame(cli, poster_run) -> None:
    arrays, meta = read_npz(poster_run / "ocr_text" / "ocr.npz")
    assert arrays["frame_indices"].tolist() == [0, 10, 20], "1 fps over 3 s at 10 fps"
    assert arrays["text_present"].tolist() == [True, True, False]
    assert arrays["n_boxes"].tolist() == [1, 1, 0], "a blank frame is a measured zero"
    assert (arrays["mean_confidence"][:2] > 0.8).all()
    assert np.isnan(arrays["mean_confidence"][2]), "no box, no confidence"
    # The word spans roughly 350 x 80 px of the 640 x 360 frame.
    area = arrays["text_area_fraction"][:2]
    assert ((area > 0.05) & (area < 0.3)).all()
    assert arrays["text_area_fraction"][2] == 0
    box = arrays["boxes_quad_norm"][0, 0]
    assert 0.05 < box[:, 0].min() < box[:, 0].max() < 0.8
    np.testing.assert_allclose(float(arrays["text_frame_ratio"]), 2 / 3, rtol=1e-6)
    assert arrays["n_chars"][0] >= 6
    raw, raw_meta = read_npz(poster_run / "ocr_text" / "ocr_raw.npz")
    read = [t.replace(" ", "") for t in raw["text"][raw["text_present"]]]
    assert read == ["SALE50", "SALE50"], raw["text"]
    assert [m["name"] for m in meta["models_used"]] == [
        "ppocr_v4_det",
        "ppocr_mobile_v2_cls",
        "ppocr_v4_rec",
    ]
    assert raw_meta["empty_reason"] is None
    assert cli.run("validate", poster_run).returncode == 0


def test_the_raw_text_artifact_has_the_raw_text_retention(poster_run) -> None:
    manifest = json.loads((poster_run / "manifest.json").read_text())
    retention = {a["path"]: a["retention"] for a in manifest["components"]["ocr_text"]["artifacts"]}
    assert retention == {"ocr_text/ocr.npz": "standard", "ocr_text/ocr_raw.npz": "raw_text"}


def test_frames_without_text_give_empty_ocr_with_nan(blocks_run) -> None:
    entry = blocks_run["components"]["ocr_text"]
    assert (entry["status"], entry.get("empty_reason")) == ("empty", "no_text_detected")
    arrays, _ = read_npz(Path(blocks_run["run_dir"]) / "ocr_text" / "ocr.npz")
    assert len(arrays["frame_indices"]) == 3
    assert not arrays["text_present"].any() and not arrays["box_present"].any()
    assert np.isnan(arrays["n_boxes"]).all(), "nothing read: unknown-by-absence, not 0"
    assert np.isnan(arrays["text_frame_ratio"])


def test_det_max_side_reads_a_downscaled_frame_with_boxes_in_frame_coordinates(
    cli, env, poster_run, tmp_path: Path
) -> None:
    """`det_max_side: 320` halves the 640-px frames before OCR: the same word is read and its
    box, scaled back, lands where the full-size reading put it."""
    config = env.with_config(
        tmp_path / "c.yaml", disabled=NOT_OCR, components={"ocr_text": {"det_max_side": 320}}
    )
    video = poster_run.parents[3] / "poster.mp4"  # run dir: <root>/rs/youtube/poster/r1
    _, report = cli.process(
        video,
        video_id="poster",
        result_store=tmp_path / "rs",
        frames_store=tmp_path / "fr",
        config=config,
    )
    small, _ = read_npz(Path(report["run_dir"]) / "ocr_text" / "ocr.npz")
    full, _ = read_npz(poster_run / "ocr_text" / "ocr.npz")
    assert small["text_present"].tolist() == [True, True, False]
    np.testing.assert_allclose(
        small["boxes_quad_norm"][0, 0], full["boxes_quad_norm"][0, 0], atol=0.03
    )
    raw, _ = read_npz(Path(report["run_dir"]) / "ocr_text" / "ocr_raw.npz")
    assert [t.replace(" ", "") for t in raw["text"][raw["text_present"]]] == ["SALE50", "SALE50"]
