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
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.config import AsrConfig
from trendflow.errors import MissingDependencyError, ModelUnavailableError
from trendflow.models.cache import MODELS, threads_per_component
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
    speech = _speech_chunks(samples) if cfg.vad_filter and len(samples) else None
    if not len(samples) or speech == []:
        # Whisper is not even loaded: on no speech it would only detect a language (~1 s).
        return _result(_empty(duration), "no_speech", records)
    threads = threads_per_component(cfg.cpu_threads, ctx.config.max_workers)
    model = _load(model_dir, spec.sha256, cfg, threads)
    segments, info = _transcribe(model, samples, speech, cfg)
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


def _speech_chunks(samples: NDArray[np.float32]) -> list[dict[str, int]]:
    """Speech regions (sample offsets) found by faster-whisper's VAD with its default options.

    Run once per job: the same chunks gate Whisper and select what it transcribes.
    """
    from faster_whisper.vad import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
        VadOptions,
        get_speech_timestamps,
    )

    chunks: list[dict[str, int]] = get_speech_timestamps(samples, VadOptions())
    return chunks


def _transcribe(
    model: Any,
    samples: NDArray[np.float32],
    speech: list[dict[str, int]] | None,
    cfg: AsrConfig,
) -> tuple[list[Any], Any]:
    """Transcribe ``speech`` (VAD chunks) of ``samples``, or all of it when ``speech`` is None.

    What ``transcribe(vad_filter=True)`` does, with the VAD's chunks computed once by the
    caller: the speech is concatenated, transcribed, and its times mapped back to the audio's.
    """
    from faster_whisper.transcribe import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
        restore_speech_timestamps,
    )
    from faster_whisper.vad import collect_chunks  # noqa: PLC0415  # untyped: see _speech_chunks

    audio = samples
    if speech is not None:
        audio = np.concatenate(collect_chunks(samples, speech)[0], axis=0)
    segments, info = model.transcribe(
        audio,
        beam_size=cfg.beam_size,
        language=cfg.language,
        vad_filter=False,
        temperature=list(cfg.temperatures),
        max_new_tokens=cfg.max_new_tokens,
        condition_on_previous_text=cfg.condition_on_previous_text,
        without_timestamps=cfg.without_timestamps,
    )
    if speech is not None:
        segments = restore_speech_timestamps(segments, speech, SAMPLE_RATE)
    return list(segments), info  # a generator: decoding happens as it is consumed


def _load(model_dir: Path, sha256: str | None, cfg: AsrConfig, threads: int) -> Any:
    """The process's Whisper model for these weights, compute type and threads (loaded once)."""
    key = ("whisper", str(model_dir), sha256, cfg.compute_type, threads)
    return MODELS.get(key, lambda: _whisper(model_dir, cfg.compute_type, threads))


def _whisper(model_dir: Path, compute_type: str, threads: int) -> Any:
    # Imported here: faster-whisper (with ctranslate2 and huggingface_hub) costs ~0.5 s, which
    # every other CLI command (validate, gc, models) would otherwise pay. The model directory is
    # local and complete (tokenizer.json included), so faster-whisper never reaches the Hub.
    from faster_whisper import (  # type: ignore[import-untyped]  # ships no py.typed  # noqa: PLC0415
        WhisperModel,
    )

    class Whisper(WhisperModel):  # type: ignore[misc]  # WhisperModel is untyped
        """WhisperModel that encodes the first 30 s window once, not twice.

        With no language given, ``transcribe`` encodes the first window to detect the language
        and then again to decode it (one Whisper-base encoder pass is ~1.6 s of CPU here, a
        third of a minute of speech). Detection is handed the features less their last frame,
        which ``transcribe``'s own windows never read, so both ask ``encode`` for the same
        array; a per-thread memo of the last input answers the second ask.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._memo = threading.local()

        def detect_language(self, audio: Any = None, features: Any = None, **kw: Any) -> Any:
            if audio is None and features is not None and features.shape[-1] > 1:
                features = features[..., :-1]
            return super().detect_language(audio=audio, features=features, **kw)

        def encode(self, features: Any) -> Any:
            last = getattr(self._memo, "last", None)
            if last is not None and np.array_equal(last[0], features):
                self._memo.last = None  # one reuse: the next window is another array
                return last[1]
            output = super().encode(features)
            self._memo.last = (np.array(features, copy=True), output)
            return output

    return Whisper(
        str(model_dir),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=threads,
        num_workers=1,
        local_files_only=True,
    )
