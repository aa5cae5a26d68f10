"""`trendflow gc`: frames after 7 days, raw comment and OCR text after 60, recorded in the manifest;
a later rerun decodes again but reuses every feature."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from trendflow.store.manifest import RunManifest


def test_gc_purges_by_age_and_the_run_stays_valid(cli, bbb_copy) -> None:
    created = datetime.fromisoformat(
        json.loads((bbb_copy.frames_store / "youtube/bbb/r1/metadata.json").read_text())[
            "created_at"
        ]
    )
    store = bbb_copy.result_store
    day6 = (created + timedelta(days=6)).isoformat()
    result = cli.run("gc", "--result-store", store, "--now", day6)
    assert json.loads(result.stdout) == {
        "dry_run": False,
        "frames_removed": [],
        "raw_text_removed": [],
    }

    day8 = (created + timedelta(days=8)).isoformat()
    result = cli.run("gc", "--result-store", store, "--now", day8)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["frames_removed"]) == 1
    assert not (bbb_copy.frames_store / "youtube/bbb/r1").exists()
    assert (bbb_copy.run_dir / "text_comments" / "comments_raw.npz").exists()
    assert cli.run("validate", bbb_copy.run_dir).returncode == 0

    day61 = (created + timedelta(days=61)).isoformat()
    result = cli.run("gc", "--result-store", store, "--now", day61)
    removed = json.loads(result.stdout)["raw_text_removed"]
    assert sorted(p.rsplit("/", 2)[-2:] for p in removed) == [
        ["ocr_text", "ocr_raw.npz"],
        ["text_comments", "comments_raw.npz"],
    ], "raw OCR and comment text go; their features stay"
    for kept, gone in (
        ("text_comments/features.npz", "text_comments/comments_raw.npz"),
        ("ocr_text/ocr.npz", "ocr_text/ocr_raw.npz"),
    ):
        assert (bbb_copy.run_dir / kept).exists()
        assert not (bbb_copy.run_dir / gone).exists()
    manifest = RunManifest(bbb_copy.run_dir).read()
    assert (
        manifest["run"]["frames_purged_at"]
        == datetime.fromisoformat(day8).replace(tzinfo=created.tzinfo or UTC).isoformat()
    )
    assert cli.run("validate", bbb_copy.run_dir).returncode == 0

    _, report = cli.process(
        bbb_copy.video,
        video_id="bbb",
        result_store=store,
        frames_store=bbb_copy.frames_store,
        meta=bbb_copy.meta,
        comments=bbb_copy.comments,
    )
    statuses = {n: c["status"] for n, c in report["components"].items()}
    assert statuses.pop("segmenter") == "computed", "purged frames are decoded again"
    assert set(statuses.values()) == {"reused"}
    assert cli.run("validate", bbb_copy.run_dir).returncode == 0
