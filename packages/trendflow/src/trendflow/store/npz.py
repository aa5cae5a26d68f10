"""NPZ artifacts: arrays plus a ``meta`` JSON string, written atomically.

``meta`` is stored as a 0-d unicode array so the file loads with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trendflow.errors import StoreError

META_KEY = "meta"

# Keys every artifact's meta must carry (seed rule 10).
REQUIRED_META = (
    "producer",
    "producer_version",
    "schema_version",
    "config_hash",
    "component_config_hash",
    "sampling_policy_version",
    "dataprocessor_version",
    "models_used",
    "platform_id",
    "video_id",
    "run_id",
    "empty_reason",
)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_npz(path: Path, arrays: Mapping[str, NDArray[Any]], meta: Mapping[str, Any]) -> str:
    """Write arrays + meta atomically; return the file's sha256."""
    if META_KEY in arrays:
        raise StoreError(f"array name {META_KEY!r} is reserved for the artifact's meta")
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise StoreError(f"meta of {path.name} lacks {missing}")
    buffer = io.BytesIO()
    payload: dict[str, NDArray[Any]] = {k: np.asarray(v) for k, v in arrays.items()}
    for key, value in payload.items():
        if value.dtype == object:
            raise StoreError(f"{path.name}:{key} is an object array; NPZ artifacts never pickle")
    payload[META_KEY] = np.array(json.dumps(dict(meta), sort_keys=True))
    np.savez_compressed(buffer, **payload)  # type: ignore[arg-type]  # numpy stubs want *args
    data = buffer.getvalue()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def read_npz(path: Path) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Load an artifact: its arrays and its meta. Raise :class:`StoreError` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise StoreError(f"cannot read artifact {path}: {error}") from error
    if META_KEY not in arrays:
        raise StoreError(f"artifact {path} has no {META_KEY!r} entry")
    meta = json.loads(str(arrays.pop(META_KEY)))
    if not isinstance(meta, dict):
        raise StoreError(f"artifact {path}: meta is not a JSON object")
    return arrays, meta


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
