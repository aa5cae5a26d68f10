"""The manifest survives concurrent writers; NPZ artifacts carry meta and never pickle."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from trendflow.errors import StoreError
from trendflow.store.manifest import RunManifest, run_dir
from trendflow.store.npz import REQUIRED_META, read_npz, sha256_file, write_npz


def _meta(**extra: object) -> dict[str, object]:
    return dict.fromkeys(REQUIRED_META, "x") | {"empty_reason": None} | extra


def test_concurrent_upserts_keep_every_writers_component(tmp_path: Path) -> None:
    manifest = RunManifest(tmp_path / "run")
    manifest.upsert_run({"run_id": "r"})

    def writer(worker: int) -> None:
        for i in range(15):
            manifest.upsert_component(f"c{worker}-{i}", {"status": "ok", "n": i})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert len(data["components"]) == 90
    assert data["run"] == {"run_id": "r"}
    assert not list((tmp_path / "run").glob("*.tmp")), "no temp file is left behind"


def test_run_dir_refuses_ids_that_escape_the_store(tmp_path: Path) -> None:
    assert run_dir(tmp_path, "youtube", "v1", "r1") == tmp_path / "youtube" / "v1" / "r1"
    for bad in ("..", "a/b", "", ".hidden"):
        with pytest.raises(StoreError, match="cannot name a folder"):
            run_dir(tmp_path, "youtube", bad, "r1")


def test_npz_roundtrip_keeps_arrays_and_meta_and_checksum(tmp_path: Path) -> None:
    path = tmp_path / "c" / "a.npz"
    digest = write_npz(path, {"x": np.arange(3.0), "x_present": np.ones(3, bool)}, _meta(k=1))
    arrays, meta = read_npz(path)
    assert digest == sha256_file(path)
    assert meta["k"] == 1
    np.testing.assert_array_equal(arrays["x"], [0.0, 1.0, 2.0])
    assert "meta" not in arrays


def test_npz_refuses_object_arrays_and_incomplete_meta(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="object array"):
        write_npz(tmp_path / "a.npz", {"x": np.array([{"a": 1}], dtype=object)}, _meta())
    incomplete = _meta()
    del incomplete["config_hash"]
    with pytest.raises(StoreError, match="config_hash"):
        write_npz(tmp_path / "b.npz", {"x": np.zeros(1)}, incomplete)
    assert not list(tmp_path.iterdir()), "a refused artifact leaves no file"
