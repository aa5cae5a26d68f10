"""``asr_extractor``: Whisper token ids per speech segment (non-baseline AudioProcessor extractor).

Reads only ``frames_dir/audio/audio.wav`` (16 kHz mono, written by the Segmenter). Whisper base
runs with faster-whisper (CTranslate2, int8 on CPU by default) from the registry's
``whisper_base`` folder; speech is found first by the Silero VAD that faster-whisper bundles.

The seed asks for token ids, not raw text, so no transcript is stored: ``token_ids`` holds each
segment's text tokens (ids below ``<|endoftext|>``; timestamp and special tokens are dropped, the
segment's times are in ``segment_start_s``/``segment_end_s``), flat, with ``segment_offsets``
(``token_ids[offsets[i]:offsets[i + 1]]`` is segment ``i``). Decode them with the model's own
``tokenizer.json``, which ``models_used`` pins by sha256. Note that the ids decode back to the
words spoken: they are as personal as the transcript.
"""

from __future__ import annotations

import importlib.metadata
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.config import AsrConfig
from trendflow.errors import MissingDependencyError, ModelUnavailableError
from trendflow.models.registry import REGISTRY
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context
from trendflow.store.npz import sha256_file

NAME = "asr_extractor"
VERSION = "1.0.0"
SCHEMA = "asr_extractor_v1"
SAMPLE_RATE = 16000
TOP_LANGUAGES = 5
_SEGMENT_FLOATS = ("avg_logprob", "no_speech_prob", "compression_ratio", "temperature")


@cache
def vad_record() -> dict[str, str]:
    """``models_used`` entry of the Silero VAD model bundled in faster-whisper, hashed in place."""
    version = importlib.metadata.version("faster-whisper")
    dist = importlib.metadata.distribution("faster-whisper")
    path = Path(str(dist.locate_file("faster_whisper/assets/silero_vad_v6.onnx")))
    if not path.is_file():
        raise MissingDependencyError(NAME, "silero_vad_v6.onnx", f"{path} is not installed")
    return {
        "name": "silero_vad_v6",
        "version": f"faster-whisper-{version}",
        "sha256": sha256_file(path),
        "runtime": f"onnxruntime-{importlib.metadata.version('onnxruntime')}",
    }


def _records(model: str, sha256: str | None, version: str) -> list[dict[str, str]]:
    ct2 = importlib.metadata.version("ctranslate2")
    tokenizer = next((f for f in REGISTRY[model].files if f.name == "tokenizer.json"), None)
    if tokenizer is None:
        raise ModelUnavailableError(model, "it is not a Whisper model folder (no tokenizer.json)")
    return [
        {
            "name": model,
            "version": version,
            "sha256": sha256 or "unpinned",
            "runtime": f"ctranslate2-{ct2}",
        },
        {
            "name": f"{model}_tokenizer",
            "version": version,
            "sha256": tokenizer.sha256,
            "runtime": f"tokenizers-{importlib.metadata.version('tokenizers')}",
        },
    ]


def _empty(duration_s: float) -> dict[str, NDArray[Any]]:
    arrays: dict[str, NDArray[Any]] = {
        "token_ids": np.zeros(0, dtype=np.int32),
        "segment_offsets": np.zeros(1, dtype=np.int64),
        "segment_start_s": np.zeros(0, dtype=np.float32),
        "segment_end_s": np.zeros(0, dtype=np.float32),
        "segment_n_tokens": np.zeros(0, dtype=np.int32),
        **{name: np.zeros(0, dtype=np.float32) for name in _SEGMENT_FLOATS},
        "segment_present": np.zeros(0, dtype=bool),
        "language": np.array(""),
        "language_prob": np.array(np.nan, dtype=np.float32),
        "top_languages": np.array([], dtype="<U8"),
        "top_language_probs": np.zeros(0, dtype=np.float32),
        "audio_duration_s": np.array(duration_s, dtype=np.float32),
        "speech_duration_s": np.array(np.nan, dtype=np.float32),
        "speech_ratio": np.array(np.nan, dtype=np.float32),
        "n_segments": np.array(np.nan, dtype=np.float32),
        "n_segments_dropped": np.array(np.nan, dtype=np.float32),
        "n_tokens": np.array(np.nan, dtype=np.float32),
        "tokens_per_speech_second": np.array(np.nan, dtype=np.float32),
        "avg_logprob_mean": np.array(np.nan, dtype=np.float32),
        "no_speech_prob_mean": np.array(np.nan, dtype=np.float32),
        "asr_present": np.array(False),
    }
    return arrays


def run(ctx: Context) -> ComponentResult:
    """Transcribe the run's audio into token ids per segment; empty without audio or speech."""
    cfg = ctx.config.components.asr_extractor
    spec = ctx.models.spec(cfg.model)
    model_dir = ctx.models.path(cfg.model)  # no fallback: absent weights raise here
    records = _records(cfg.model, spec.sha256, spec.version)
    if cfg.vad_filter:
        records.append(vad_record())
    audio_meta = ctx.frames.audio_metadata()
    if not audio_meta.get("has_audio"):
        reason = audio_meta.get("empty_reason") or "no_audio_track"
        return _result(_empty(float("nan")), reason, records)
    samples, rate = ctx.frames.audio_samples()
    if rate != SAMPLE_RATE:
        raise MissingDependencyError(
            NAME,
            f"{SAMPLE_RATE} Hz audio.wav",
            f"audio.wav is {rate} Hz; set segmenter.audio_sample_rate to {SAMPLE_RATE}",
        )
    duration = len(samples) / rate
    if not len(samples) or (cfg.vad_filter and not _has_speech(samples)):
        # Whisper is not even loaded: on no speech it would only detect a language (~1 s).
        return _result(_empty(duration), "no_speech", records)
    model = _load(model_dir, cfg)
    segments, info = model.transcribe(
        samples,
        beam_size=cfg.beam_size,
        language=cfg.language,
        vad_filter=cfg.vad_filter,
        temperature=list(cfg.temperatures),
        max_new_tokens=cfg.max_new_tokens,
    )
    segments = list(segments)  # a generator: decoding happens as it is consumed
    decoded = len(segments)
    if cfg.drop_hallucinations:
        segments = [s for s in segments if not _rejected(s)]
    eot = model.hf_tokenizer.token_to_id("<|endoftext|>")
    token_lists = [[t for t in s.tokens if t < eot] for s in segments]
    if not any(token_lists):
        nothing = _empty(duration)
        nothing["n_segments_dropped"] = np.array(decoded, dtype=np.float32)
        return _result(nothing, "no_speech", records)
    counts = np.array([len(t) for t in token_lists], dtype=np.int32)
    floats = {
        name: np.array([getattr(s, name) for s in segments], dtype=np.float32)
        for name in _SEGMENT_FLOATS
    }
    languages = sorted(info.all_language_probs or [], key=lambda lp: -lp[1])[:TOP_LANGUAGES]
    speech_s = float(info.duration_after_vad)
    n_tokens = int(counts.sum())
    arrays: dict[str, NDArray[Any]] = {
        "token_ids": np.array([t for ts in token_lists for t in ts], dtype=np.int32),
        "segment_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "segment_start_s": np.array([s.start for s in segments], dtype=np.float32),
        "segment_end_s": np.array([s.end for s in segments], dtype=np.float32),
        "segment_n_tokens": counts,
        **floats,
        "segment_present": counts > 0,
        "language": np.array(info.language),
        "language_prob": np.array(info.language_probability, dtype=np.float32),
        "top_languages": np.array([code for code, _ in languages], dtype="<U8"),
        "top_language_probs": np.array([p for _, p in languages], dtype=np.float32),
        "audio_duration_s": np.array(duration, dtype=np.float32),
        "speech_duration_s": np.array(speech_s, dtype=np.float32),
        "speech_ratio": np.array(speech_s / duration, dtype=np.float32),
        "n_segments": np.array(len(segments), dtype=np.float32),
        "n_segments_dropped": np.array(decoded - len(segments), dtype=np.float32),
        "n_tokens": np.array(n_tokens, dtype=np.float32),
        "tokens_per_speech_second": np.array(
            n_tokens / speech_s if speech_s > 0 else np.nan, dtype=np.float32
        ),
        "avg_logprob_mean": np.array(floats["avg_logprob"].mean(), dtype=np.float32),
        "no_speech_prob_mean": np.array(floats["no_speech_prob"].mean(), dtype=np.float32),
        "asr_present": np.array(True),
    }
    return _result(arrays, None, records)


# Whisper's defaults (openai/whisper transcribe(): compression_ratio_threshold,
# no_speech_threshold, logprob_threshold), applied after the last temperature.
COMPRESSION_RATIO_MAX = 2.4
NO_SPEECH_PROB_MIN = 0.6
LOGPROB_MIN = -1.0


def _rejected(segment: Any) -> bool:
    looping = segment.compression_ratio > COMPRESSION_RATIO_MAX
    silent = segment.no_speech_prob > NO_SPEECH_PROB_MIN and segment.avg_logprob < LOGPROB_MIN
    return bool(looping or silent)


def _result(
    arrays: dict[str, NDArray[Any]], reason: str | None, records: list[dict[str, str]]
) -> ComponentResult:
    return ComponentResult(
        artifacts=[Artifact("asr", arrays, empty_reason=reason)], models_used=records
    )


def _has_speech(samples: NDArray[np.float32]) -> bool:
    """Whether faster-whisper's VAD, with the options ``transcribe`` uses, finds any speech."""
    from faster_whisper.vad import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
        VadOptions,
        get_speech_timestamps,
    )

    return bool(get_speech_timestamps(samples, VadOptions()))


def _load(model_dir: Path, cfg: AsrConfig) -> Any:
    # Imported here: faster-whisper (with ctranslate2 and huggingface_hub) costs ~0.5 s, which
    # every other CLI command (validate, gc, models) would otherwise pay. The model directory is
    # local and complete (tokenizer.json included), so faster-whisper never reaches the Hub.
    from faster_whisper import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
        WhisperModel,
    )

    return WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type=cfg.compute_type,
        cpu_threads=cfg.cpu_threads,
        num_workers=1,
        local_files_only=True,
    )
