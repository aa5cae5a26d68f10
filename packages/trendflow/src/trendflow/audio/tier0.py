"""``audio_tier0``: per-segment RMS, spectral features, silence; tempo; aggregates.

Reads only ``frames_dir/audio`` (``audio.wav`` + ``segments.json``, contract
``audio_segments_v1``): the AudioProcessor never decodes the video itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.pipeline.contracts import Artifact, ComponentResult, Context

NAME = "audio_tier0"
VERSION = "1.0.0"
SCHEMA = "audio_tier0_v1"
FEATURES = (
    "rms",
    "rms_db",
    "zero_crossing_rate",
    "spectral_centroid_hz",
    "spectral_bandwidth_hz",
    "spectral_rolloff_hz",
    "spectral_flatness",
)
_EPS = 1e-10


def _power_spectrum(x: NDArray[np.float32], n_fft: int) -> NDArray[np.float64]:
    """Mean power spectrum over Hann-windowed frames with 50% overlap."""
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    hop = n_fft // 2
    count = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:count]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    return np.asarray(spectrum.mean(axis=0), dtype=np.float64)


def segment_features(x: NDArray[np.float32], rate: int, n_fft: int) -> dict[str, float]:
    """Tier-0 features of one segment of mono samples in [-1, 1]."""
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0
    signs = np.signbit(x)
    zcr = float(np.mean(signs[1:] != signs[:-1])) if len(x) > 1 else 0.0
    power = _power_spectrum(x, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    total = power.sum()
    if total <= _EPS:
        centroid = bandwidth = rolloff = flatness = float("nan")
    else:
        weights = power / total
        centroid = float((freqs * weights).sum())
        bandwidth = float(np.sqrt(((freqs - centroid) ** 2 * weights).sum()))
        rolloff = float(freqs[np.searchsorted(np.cumsum(weights), 0.85)])
        flatness = float(np.exp(np.mean(np.log(power + _EPS))) / (power.mean() + _EPS))
    return {
        "rms": rms,
        "rms_db": 20.0 * float(np.log10(rms + _EPS)),
        "zero_crossing_rate": zcr,
        "spectral_centroid_hz": centroid,
        "spectral_bandwidth_hz": bandwidth,
        "spectral_rolloff_hz": rolloff,
        "spectral_flatness": flatness,
    }


def tempo(samples: NDArray[np.float32], rate: int) -> tuple[float, float]:
    """Tempo in BPM from the autocorrelation of a spectral-flux onset envelope, and its strength.

    NaN when the track is shorter than 4 beats at 60 BPM or has no onsets.
    """
    n_fft, hop = 1024, 256
    if len(samples) < 4 * rate:
        return float("nan"), float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[::hop]
    magnitude = np.log1p(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)))
    flux = np.maximum(np.diff(magnitude, axis=0), 0.0).sum(axis=1)
    flux = flux - flux.mean()
    if not np.any(flux):
        return float("nan"), float("nan")
    ac = np.correlate(flux, flux, mode="full")[len(flux) - 1 :]
    envelope_rate = rate / hop
    low, high = int(envelope_rate * 60 / 200), int(envelope_rate * 60 / 60)
    high = min(high, len(ac) - 1)
    if high <= low or ac[0] <= 0:
        return float("nan"), float("nan")
    lag = low + int(np.argmax(ac[low : high + 1]))
    return 60.0 * envelope_rate / lag, float(ac[lag] / ac[0])


def run(ctx: Context) -> ComponentResult:
    cfg = ctx.config.components.audio_tier0
    audio_meta = ctx.frames.audio_metadata()
    segments = ctx.frames.audio_segments()["segments"]
    values = {name: np.full(len(segments), np.nan, dtype=np.float32) for name in FEATURES}
    starts = np.array([s["start_s"] for s in segments], dtype=np.float32)
    ends = np.array([s["end_s"] for s in segments], dtype=np.float32)
    reason: str | None = audio_meta.get("empty_reason")
    bpm = strength = float("nan")
    if audio_meta.get("has_audio"):
        samples, rate = ctx.frames.audio_samples()
        for i, seg in enumerate(segments):
            feats = segment_features(
                samples[seg["start_sample"] : seg["end_sample"]], rate, cfg.n_fft
            )
            for name, value in feats.items():
                values[name][i] = value
        bpm, strength = tempo(samples, rate)
        if not segments:
            reason = "audio_shorter_than_one_window"
    silent = values["rms_db"] < cfg.silence_db
    present = np.isfinite(values["rms"])
    arrays: dict[str, NDArray[Any]] = {
        "segment_start_s": starts,
        "segment_end_s": ends,
        "segment_present": present,
        "silent": silent & present,
        **values,
        "silence_ratio": np.array(silent[present].mean() if present.any() else np.nan),
        "tempo_bpm": np.array(bpm),
        "tempo_strength": np.array(strength),
        "audio_present": np.array(bool(present.any())),
    }
    for name in FEATURES:
        finite = values[name][np.isfinite(values[name])]
        arrays[f"{name}_mean"] = np.array(finite.mean() if finite.size else np.nan)
        arrays[f"{name}_std"] = np.array(finite.std() if finite.size else np.nan)
        arrays[f"{name}_max"] = np.array(finite.max() if finite.size else np.nan)
    return ComponentResult(artifacts=[Artifact("tier0", arrays, empty_reason=reason)])
