"""`asr_extractor`: Whisper base turns real LibriVox speech into token ids whose words match the
published transcript; no speech and no audio track give `empty` with NaN; only ASR's own config
recomputes it; absent weights fail it naming the model."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from trendflow.config import load_config
from trendflow.pipeline.components import all_components
from trendflow.pipeline.service import component_config_hash
from trendflow.store.npz import read_npz

UTTERANCES = (
    "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0930",
)
# Everything but the Segmenter, audio and ASR: a speech test needs no detectors.
NOT_AUDIO = [
    "core_clip",
    "core_depth_midas",
    "core_object_detections",
    "core_face_landmarks",
    "color_motion",
    "ocr_text",
    "text_metadata",
    "text_comments",
]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; a hyphen separates words ("ill-disposed")."""
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Levenshtein distance over words, divided by the reference's length."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / len(reference)


@pytest.fixture(scope="module")
def speech_run(cli, env, librivox, make_video, tmp_path_factory) -> dict[str, Any]:
    """Two LibriVox utterances (0.5 s apart) muxed as AAC under a synthetic picture track."""
    root = tmp_path_factory.mktemp("speech")
    gap = np.zeros(8000, dtype=np.float32)
    speech = np.concatenate([part for u in UTTERANCES for part in (librivox.samples(u), gap)])
    video = make_video(root / "speech.mp4", seconds=len(speech) / 16000, fps=10, speech=speech)
    # ASR at its defaults (greedy, one temperature, no token cap), not the shared lean settings.
    config = env.with_config(root / "c.yaml", disabled=NOT_AUDIO, components={"asr_extractor": {}})
    _, report = cli.process(
        video, video_id="speech", result_store=root / "rs", frames_store=root / "fr", config=config
    )
    return {"report": report, "video": video, "root": root, "config": config}


def test_whisper_token_ids_decode_to_the_published_transcript(cli, env, librivox, speech_run):
    report = speech_run["report"]
    entry = report["components"]["asr_extractor"]
    assert entry["status"] == "computed", entry
    run_dir = Path(report["run_dir"])
    arrays, meta = read_npz(run_dir / "asr_extractor" / "asr.npz")
    tokenizer = Tokenizer.from_file(str(env.models_dir / "whisper-base" / "tokenizer.json"))
    offsets = arrays["segment_offsets"]
    assert offsets[0] == 0 and offsets[-1] == len(arrays["token_ids"])
    assert arrays["token_ids"].dtype == np.int32
    segments = [
        tokenizer.decode(arrays["token_ids"][a:b].tolist()) for a, b in itertools.pairwise(offsets)
    ]
    hypothesis = words(" ".join(segments))
    reference = words(" ".join(librivox.transcripts[u] for u in UTTERANCES))
    wer = word_error_rate(reference, hypothesis)
    assert wer <= 0.15, f"WER {wer:.2f}: {hypothesis} vs {reference}"
    assert {"disposed", "amiable", "himself"} <= set(hypothesis)
    assert str(arrays["language"]) == "en" and float(arrays["language_prob"]) > 0.8
    assert arrays["segment_present"].all() and bool(arrays["asr_present"])
    starts, ends = arrays["segment_start_s"], arrays["segment_end_s"]
    assert (starts < ends).all() and (np.diff(starts) >= 0).all()
    assert ends[-1] <= float(arrays["audio_duration_s"]) + 0.5
    assert 0.5 < float(arrays["speech_ratio"]) <= 1.0
    # No transcript is stored: token ids only (the seed's rule for asr_extractor).
    assert {k for k, a in arrays.items() if a.dtype.kind == "U"} == {"language", "top_languages"}
    names = [m["name"] for m in meta["models_used"]]
    assert names == ["whisper_base", "whisper_base_tokenizer", "silero_vad_v6"]
    assert meta["models_used"][0]["runtime"].startswith("ctranslate2-")
    assert cli.run("validate", run_dir).returncode == 0


def test_asr_reruns_only_when_its_own_config_changes(cli, env, speech_run) -> None:
    root: Path = speech_run["root"]

    def config(name: str, asr: dict[str, Any]) -> Path:
        return env.with_config(root / name, disabled=NOT_AUDIO, components={"asr_extractor": asr})

    # Threads change how fast, not what: neither the run's nor ASR's config hash moves.
    spec = next(s for s in all_components() if s.name == "asr_extractor")
    base, threads = (
        load_config(speech_run["config"]),
        load_config(config("t.yaml", {"cpu_threads": 1})),
    )
    assert threads.config_hash() == base.config_hash()
    assert component_config_hash(spec, threads) == component_config_hash(spec, base)
    _, report = cli.process(
        speech_run["video"],
        video_id="speech",
        result_store=root / "rs",
        frames_store=root / "fr",
        config=config("beam.yaml", {"beam_size": 2}),
    )
    statuses = {n: c["status"] for n, c in report["components"].items()}
    assert {n for n, s in statuses.items() if s != "reused"} == {"asr_extractor"}
    assert statuses["asr_extractor"] == "computed"


def test_without_timestamps_gives_the_same_words_one_segment_per_window(
    cli, env, librivox, speech_run
) -> None:
    root: Path = speech_run["root"]
    config = env.with_config(
        root / "nots.yaml",
        disabled=NOT_AUDIO,
        components={"asr_extractor": {"without_timestamps": True}},
    )
    _, report = cli.process(
        speech_run["video"],
        video_id="speech",
        result_store=root / "rs",
        frames_store=root / "fr",
        config=config,
    )
    assert report["components"]["asr_extractor"]["status"] == "computed"
    arrays, _ = read_npz(Path(report["run_dir"]) / "asr_extractor" / "asr.npz")
    tokenizer = Tokenizer.from_file(str(env.models_dir / "whisper-base" / "tokenizer.json"))
    hypothesis = words(tokenizer.decode(arrays["token_ids"].tolist()))
    reference = words(" ".join(librivox.transcripts[u] for u in UTTERANCES))
    assert word_error_rate(reference, hypothesis) <= 0.15, hypothesis
    speech_s = float(arrays["speech_duration_s"])
    assert len(arrays["segment_offsets"]) - 1 == int(np.ceil(speech_s / 30.0))


def test_tone_without_speech_is_empty_no_speech_with_nan(blocks_run) -> None:
    entry = blocks_run["components"]["asr_extractor"]
    assert (entry["status"], entry.get("empty_reason")) == ("empty", "no_speech")
    arrays, meta = read_npz(Path(blocks_run["run_dir"]) / "asr_extractor" / "asr.npz")
    assert meta["empty_reason"] == "no_speech"
    assert arrays["token_ids"].size == 0 and arrays["segment_present"].size == 0
    assert not arrays["asr_present"]
    for name in ("language_prob", "speech_ratio", "n_tokens", "avg_logprob_mean"):
        assert np.isnan(arrays[name]), f"{name} is NaN, not 0, when nothing was said"
    assert str(arrays["language"]) == ""


def test_hums_whisper_loops_on_are_dropped_as_no_speech(bbb_run) -> None:
    """bigbuckbunny's hums pass the VAD; Whisper decodes a 'Hmm hmm…' loop, which its own
    compression-ratio threshold rejects: no tokens, not a hallucinated transcript."""
    entry = bbb_run.first["components"]["asr_extractor"]
    assert (entry["status"], entry.get("empty_reason")) == ("empty", "no_speech")
    arrays, _ = read_npz(bbb_run.run_dir / "asr_extractor" / "asr.npz")
    assert arrays["n_segments_dropped"] >= 1
    assert arrays["token_ids"].size == 0 and not arrays["asr_present"]


def test_video_without_audio_track_is_empty_no_audio_track(bikes_run) -> None:
    entry = bikes_run["components"]["asr_extractor"]
    assert (entry["status"], entry.get("empty_reason")) == ("empty", "no_audio_track")
    arrays, _ = read_npz(Path(bikes_run["run_dir"]) / "asr_extractor" / "asr.npz")
    assert not arrays["asr_present"] and np.isnan(arrays["n_segments"])


def test_absent_weights_fail_asr_and_ocr_naming_the_models(
    cli, env, no_faces_video, tmp_path: Path
) -> None:
    """No fallback: without whisper-base and PP-OCR installed, both components fail."""
    config = env.with_config(
        tmp_path / "c.yaml",
        disabled=[n for n in NOT_AUDIO if n != "ocr_text"] + ["audio_tier0", "shot_stats"],
    )
    args = ["process", no_faces_video, "--video-id", "blocks", "--json", "--config", config]
    args += ["--result-store", tmp_path / "rs", "--frames-store", tmp_path / "fr"]
    result = cli.run(*args, env_overrides={"TRENDFLOW_MODELS_DIR": str(tmp_path / "empty")})
    assert result.returncode == 0, result.stderr
    report = cli.last_json(result)["components"]
    assert report["asr_extractor"]["status"] == "failed"
    assert "'whisper_base'" in report["asr_extractor"]["error"]
    assert "trendflow models install whisper_base" in report["asr_extractor"]["error"]
    assert report["ocr_text"]["status"] == "failed"
    assert "'ppocr_v4_det'" in report["ocr_text"]["error"]
    manifest = json.loads((Path(cli.last_json(result)["run_dir"]) / "manifest.json").read_text())
    assert manifest["components"]["asr_extractor"]["artifacts"] == []
