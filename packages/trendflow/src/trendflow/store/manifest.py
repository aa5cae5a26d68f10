"""``manifest.json``: the one JSON file of a run, merged safely by concurrent writers.

Every change is read-modify-write under an exclusive ``flock`` on a lock file beside the manifest,
and lands with an atomic ``os.replace``; a reader never sees a half-written manifest, and two
processors upserting different components at once both survive.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trendflow.errors import StoreError
from trendflow.store.npz import write_bytes_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "trendflow_manifest_v1"
_LOCK_NAME = ".manifest.lock"

Manifest = dict[str, Any]


def run_dir(result_store: Path, platform_id: str, video_id: str, run_id: str) -> Path:
    """``result_store/<platform_id>/<video_id>/<run_id>`` (seed rule 7)."""
    for label, part in (("platform_id", platform_id), ("video_id", video_id), ("run_id", run_id)):
        if not part or "/" in part or part in {".", ".."} or part.startswith("."):
            raise StoreError(f"{label} {part!r} cannot name a folder; use letters, digits, - or _")
    return result_store / platform_id / video_id / run_id


class RunManifest:
    """The manifest of one run directory."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self.path = run_path / MANIFEST_NAME

    def read(self) -> Manifest:
        """The manifest as it is on disk (an empty skeleton if none was written yet)."""
        if not self.path.exists():
            return {"schema_version": MANIFEST_SCHEMA, "run": {}, "components": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise StoreError(f"cannot read {self.path}: {error}") from error
        if not isinstance(data, dict) or not isinstance(data.get("components"), dict):
            raise StoreError(f"{self.path} is not a trendflow manifest")
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_path.mkdir(parents=True, exist_ok=True)
        with (self.run_path / _LOCK_NAME).open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def update(self, change: Callable[[Manifest], None]) -> Manifest:
        """Apply ``change`` to the current manifest under the lock and replace it atomically."""
        with self._locked():
            manifest = self.read()
            change(manifest)
            text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
            write_bytes_atomic(self.path, (text + "\n").encode())
            return manifest

    def upsert_run(self, run: dict[str, Any]) -> Manifest:
        """Merge ``run`` into ``manifest.run`` (keys in ``run`` win)."""

        def change(manifest: Manifest) -> None:
            manifest["run"] = {**manifest.get("run", {}), **run}

        return self.update(change)

    def upsert_component(self, name: str, entry: dict[str, Any]) -> Manifest:
        """Replace one component's entry, keeping every other writer's entries."""

        def change(manifest: Manifest) -> None:
            manifest["components"][name] = entry

        return self.update(change)
