"""Retention (``trendflow gc``): frames after 7 days, raw OCR/comment text after 60 days.

The clock is a parameter so the policy is testable. Purges are recorded in the manifest
(``run.frames_purged_at``, ``artifact.purged_at``), so ``validate`` tells a purge from a loss.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from trendflow.segmenter.frames import FramesDir
from trendflow.store.manifest import MANIFEST_NAME, RunManifest

FRAMES_DAYS = 7
RAW_TEXT_DAYS = 60


@dataclass
class GcReport:
    frames_removed: list[str] = field(default_factory=list)
    raw_text_removed: list[str] = field(default_factory=list)


def collect(
    result_store: Path,
    *,
    clock: Callable[[], datetime],
    frames_days: int = FRAMES_DAYS,
    raw_text_days: int = RAW_TEXT_DAYS,
    dry_run: bool = False,
) -> GcReport:
    """Remove expired frames dirs and raw-text artifacts of every run under ``result_store``."""
    now = clock()
    report = GcReport()
    for manifest_path in sorted(result_store.glob(f"*/*/*/{MANIFEST_NAME}")):
        manifest = RunManifest(manifest_path.parent)
        data = manifest.read()
        run = data.get("run", {})
        frames_path = run.get("frames_dir")
        if frames_path and not run.get("frames_purged_at") and Path(frames_path).exists():
            created = FramesDir(Path(frames_path)).metadata().get("created_at")
            if created and now - datetime.fromisoformat(created) > timedelta(days=frames_days):
                report.frames_removed.append(frames_path)
                if not dry_run:
                    shutil.rmtree(frames_path)
                    stamp = now.isoformat()
                    manifest.upsert_run({"frames_purged_at": stamp})
        expired: list[tuple[str, str]] = []
        for name, entry in data.get("components", {}).items():
            finished = entry.get("finished_at")
            if not finished:
                continue
            age = now - datetime.fromisoformat(finished)
            for artifact in entry.get("artifacts", []):
                if (
                    artifact.get("retention") == "raw_text"
                    and not artifact.get("purged_at")
                    and age > timedelta(days=raw_text_days)
                ):
                    expired.append((name, artifact["path"]))
        if expired and not dry_run:
            for _name, rel in expired:
                (manifest_path.parent / rel).unlink(missing_ok=True)
            stamp = now.isoformat()
            paths = {rel for _name, rel in expired}

            def mark(doc: dict[str, Any], paths: set[str] = paths, stamp: str = stamp) -> None:
                for entry in doc["components"].values():
                    for artifact in entry.get("artifacts", []):
                        if artifact["path"] in paths:
                            artifact["purged_at"] = stamp

            manifest.update(mark)
        report.raw_text_removed += [str(manifest_path.parent / rel) for _n, rel in expired]
    return report
