"""Audio Tier-0 and text features measure what they say; GPU-heavy modules respect
gpu_max_concurrent while others run in parallel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trendflow.audio import tier0
from trendflow.store.npz import read_npz
from trendflow.text import features as text


def test_audio_tier0_on_a_440_hz_tone(blocks_run) -> None:
    arrays, meta = read_npz(Path(blocks_run["run_dir"]) / "audio_tier0" / "tier0.npz")
    assert meta["empty_reason"] is None
    present = arrays["segment_present"]
    assert present.sum() >= 4, "3 s of audio in 1 s windows with 0.5 s hop"
    centroid = arrays["spectral_centroid_hz"][present]
    np.testing.assert_allclose(np.median(centroid), 440, atol=40)
    # A sine crosses zero twice per period.
    np.testing.assert_allclose(
        np.median(arrays["zero_crossing_rate"][present]), 880 / 16000, rtol=0.1
    )
    # 0.5 amplitude sine: RMS = 0.5 / sqrt(2) = -9 dBFS (AAC keeps it within ~1.5 dB).
    np.testing.assert_allclose(np.median(arrays["rms_db"][present]), -9.03, atol=1.5)
    assert float(arrays["silence_ratio"]) == 0.0


def test_silence_and_tempo_of_a_click_track() -> None:
    rate = 16000
    samples = np.zeros(rate * 8, dtype=np.float32)
    for beat in range(16):  # 120 BPM: a click every 0.5 s
        start = int(beat * 0.5 * rate)
        samples[start : start + 160] = np.hanning(160) * 0.8
    bpm, strength = tier0.tempo(samples, rate)
    np.testing.assert_allclose(bpm, 120, atol=4)
    assert strength > 0.3
    quiet = tier0.segment_features(np.zeros(rate, dtype=np.float32), rate, 1024)
    assert quiet["rms_db"] < -150
    assert np.isnan(quiet["spectral_centroid_hz"]), "no spectrum in silence: NaN, not 0 Hz"


def test_text_metadata_and_comments_of_the_processed_run(bbb_run) -> None:
    meta_arrays, _ = read_npz(bbb_run.run_dir / "text_metadata" / "metadata.npz")
    names = list(meta_arrays["count_names"])
    title, description = meta_arrays["counts"]
    assert title[names.index("emoji")] == 1 and title[names.index("hashtags")] == 1
    assert description[names.index("mentions")] == 1
    assert description[names.index("hashtags")] == 1
    assert list(meta_arrays["language"]) == ["en", "en"]
    np.testing.assert_allclose(np.linalg.norm(meta_arrays["embeddings"], axis=1), 1, rtol=1e-4)

    comments, _ = read_npz(bbb_run.run_dir / "text_comments" / "features.npz")
    assert int(comments["n_comments_total"]) == 3
    assert comments["embeddings"].shape == (3, 384)
    assert "ru" in list(comments["language"])
    assert comments["counts"][0][names.index("emoji")] == 2
    raw, _ = read_npz(bbb_run.run_dir / "text_comments" / "comments_raw.npz")
    assert raw["text"][1] == "Классный мультик!"


def test_multilingual_embeddings_place_a_translation_nearer_than_an_unrelated_text() -> None:
    vectors = text.embed(["Классный мультик!", "Great cartoon!", "Quarterly tax filing deadline"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
