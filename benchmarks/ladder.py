"""The baseline ladder on a simulated corpus: SM Core syncs TikTok creators for simulated weeks,
TrendFlow processes every video, targets and a dataset are built, and the ladder is trained.

Phases (each writes under ``--work``, so a later phase can be run again alone):

1. ``corpus``: socialsim serves ``--accounts`` TikTok creators; an embedded PostgreSQL and
   Temporal dev server run SM Core, which syncs every public creator (scope ``posts``, a
   ``--refresh-days`` window) every ``--cadence-hours`` simulated hours for ``--days`` days. The
   post-metric history of the videos published after the first sync (seen from their first
   hours) is then read through SM Core's HTTP API (``GET /api/v1/exports/post-metrics?since=``)
   into ``snapshots.csv``.
2. ``process``: every video in the export is rendered exactly as socialsim's CDN serves it
   (:mod:`socialsim.media`, same seed, the CDN's 272x480 size) and processed by TrendFlow's
   DataProcessor in ``--jobs`` processes, models loaded once per process, into
   ``result_store/``. The audio and text components are off (the simulated videos carry a sine
   tone at most, and the captions reach the dataset as metadata): the config used is recorded.
   A video already processed is skipped.
3. ``learn``: ``trendflow targets build``, ``trendflow dataset build --provenance simulated``
   and ``trendflow train`` (both evaluations, the model card) as a user would run them.

Figures: videos in the corpus, targets present and absent by reason per horizon, a check that
no target is extrapolated (every present target has an observation at or after its horizon,
within the tolerance), and the ladder: LightGBM against Szabo-Huberman as ratios (Spearman of
LightGBM / Spearman of Szabo-Huberman; MAE of LightGBM / MAE of Szabo-Huberman; lower MAE is
better) for views and likes at 14 and 21 days, on the forward split and on channel groups, and
LightGBM again without the content features (what the video itself adds). The data is
simulated: socialsim's process (its README) decides what carries signal.

    uv run python benchmarks/ladder.py --work /tmp/ladder [--phase all|corpus|process|learn]
                                       [--accounts 100] [--days 60] [--cadence-hours 24]

The last line is one JSON object with the figures; exit code 1 when a check fails or a cell of
the ladder's table (both evaluations, views and likes at 14 and 21 days) could not be filled.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# benchmarks/trendflow.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

KEY = "bench-key"
SEED = 11
TT_SIZE = (272, 480)  # socialsim's CDN serves TikTok videos at this size (apis/cdn.py)
SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
DISABLED = ["audio_tier0", "asr_extractor", "text_metadata", "text_comments"]
TRENDFLOW = Path(sys.executable).parent / "trendflow"
MANIFEST = "manifest.json"

console = Console(stderr=True)


# ------------------------------------------------------------------------------- 1. corpus
async def corpus(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from temporalio.client import Client  # noqa: PLC0415 - the corpus phase only

    from devstack import Stack, databases, logs  # noqa: PLC0415
    from smcore.api.app import create_app  # noqa: PLC0415
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415
    from smcore.settings import Settings  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415
    from socialsim.testing import serve  # noqa: PLC0415

    logs.configure("WARNING")
    stack = Stack(work / "stack")
    rounds = int(args.days * 24 / args.cadence_hours)
    started = time.perf_counter()
    try:
        with (
            serve(
                seed=SEED, profiles=1, channels=0, tiktok_accounts=args.accounts, api_key=KEY
            ) as sim,
            httpx.Client(base_url=sim.url, timeout=120) as http,
        ):
            with console.status("starting PostgreSQL and Temporal…"):
                info = await asyncio.to_thread(stack.up)
            if info.database_url is None or info.temporal_address is None:
                raise SystemExit(f"the stack did not start: {info.notes}")
            url = await asyncio.to_thread(databases.create, info.database_url, "bench_ladder")
            await asyncio.to_thread(db.upgrade, url)
            settings = Settings(  # type: ignore[call-arg]  # the rest are development defaults
                tikapi23_api_host=sim.url,
                tikapi23_api_key=SecretStr(KEY),
                tikwm_api_host=sim.url,
                tikwm_api_key=SecretStr(KEY),
                media_download=False,
            )
            index = (await asyncio.to_thread(http.get, "/_sim/truth/tiktok")).json()
            creators = [
                a["username"]
                for a in index["accounts"]
                if a["exists"] and not a["is_private"] and a["username"] != "tt_giant"
            ]
            jobs = [
                {
                    "platform": "tiktok",
                    "scope": "posts",
                    "username": name,
                    "refresh_days": args.refresh_days,
                }
                for name in creators
            ]
            # The corpus: videos published while SM Core watched, seen from their first hours.
            first_at = (await asyncio.to_thread(http.get, "/_sim/clock")).json()["now"]
            client = await Client.connect(info.temporal_address)
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            async with running_worker(settings, database_url=url, client=client):
                with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
                    task = progress.add_task(
                        f"{len(creators)} creators every {args.cadence_hours:g} h", total=rounds
                    )
                    for round_ in range(rounds):
                        if round_:
                            advance = {"advance_hours": args.cadence_hours}
                            answer = await asyncio.to_thread(http.post, "/_sim/clock", json=advance)
                            answer.raise_for_status()
                        await _sync_round(url, client, jobs, round_)
                        progress.advance(task)
            app = create_app(settings, database_url=url, temporal_address=None)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                    response = await api.get(
                        "/api/v1/exports/post-metrics",
                        params={"platform": "tiktok", "since": first_at},
                    )
                    response.raise_for_status()
            (work / "snapshots.csv").write_text(response.text, encoding="utf-8")
    finally:
        stack.down()
        shutil.rmtree(work / "stack", ignore_errors=True)
    rows = list(csv.DictReader((work / "snapshots.csv").open(encoding="utf-8")))
    return {
        "creators": len(creators),
        "sync_rounds": rounds,
        "snapshot_rows": len(rows),
        "videos": len({r["video_id"] for r in rows}),
        "corpus_seconds": round(time.perf_counter() - started, 1),
    }


async def _sync_round(url: str, client: Any, jobs: list[dict[str, Any]], round_: int) -> None:
    from smcore.orchestration.client import start_batch  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415
    from smcore.sync.service import create_batch  # noqa: PLC0415

    engine = db.async_engine(url, pool_size=1)
    try:
        batch = await create_batch(engine, jobs)
    finally:
        await engine.dispose()
    handle = await start_batch(client, batch, db=db.database_name(url), concurrency=16)
    result = await handle.result()
    if result.counts.get("failed"):
        raise SystemExit(f"round {round_}: syncs failed: {result.counts}")


# ------------------------------------------------------------------------------ 2. process
_WORKER: dict[str, Any] = {}


def _init_worker(models_dir: str, result_store: str, frames_root: str) -> None:
    import threading  # noqa: PLC0415

    from socialsim.media import Library  # noqa: PLC0415
    from trendflow.config import load_config  # noqa: PLC0415
    from trendflow.models.registry import ModelStore  # noqa: PLC0415
    from trendflow.pipeline.service import DataProcessor  # noqa: PLC0415

    config = load_config(None)
    config = config.model_copy(
        update={
            "disabled": sorted({*config.disabled, *DISABLED, "core_clip", "core_depth_midas"}),
            "required": [n for n in config.required if n not in DISABLED],
        }
    )
    store = ModelStore(Path(models_dir), config.models, download=False)
    _WORKER.update(
        library=Library(SEED, max_bytes=0),
        processor=DataProcessor(config, store, gpu=threading.Semaphore(1)),
        result_store=Path(result_store),
        frames_root=Path(frames_root),
        config_hash=config.config_hash(),
    )


def _process_one(video_id: str, tmp: str) -> str:
    from socialsim.media import Item  # noqa: PLC0415
    from trendflow.pipeline.contracts import RunInputs  # noqa: PLC0415
    from trendflow.pipeline.service import RunRequest  # noqa: PLC0415

    path = Path(tmp) / f"{video_id}.mp4"
    path.write_bytes(_WORKER["library"].render(Item("tiktok", video_id, "video", *TT_SIZE)))
    try:
        report = _WORKER["processor"].run(
            RunRequest(
                platform_id="tiktok",
                video_id=video_id,
                run_id="bench",
                inputs=RunInputs(video=path),
                result_store=_WORKER["result_store"],
                frames_root=_WORKER["frames_root"],
                kind="video",
            )
        )
    finally:
        path.unlink(missing_ok=True)
        shutil.rmtree(_WORKER["frames_root"] / "tiktok" / video_id, ignore_errors=True)
    return "failed" if report.required_failed else "ok"


def process(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from trendflow.config import load_config  # noqa: PLC0415
    from trendflow.models.registry import ModelStore  # noqa: PLC0415

    videos = sorted({r["video_id"] for r in csv.DictReader((work / "snapshots.csv").open())})
    store_dir = work / "result_store"
    todo = [v for v in videos if not (store_dir / "tiktok" / v / "bench" / MANIFEST).exists()]
    models_dir = work / "models"
    store = ModelStore(models_dir, load_config(None).models, download=False)
    for name in ("yolox_nano", "yunet_n"):
        if not store.installed(name):
            store.install(name, str(SHARED_MODELS))
    for name in ("ppocr_v4_det", "ppocr_mobile_v2_cls", "ppocr_v4_rec"):
        if not store.installed(name):
            store.install(name)
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    init = (str(models_dir), str(store_dir), str(work / "frames"))
    columns = (TextColumn("processing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        ProcessPoolExecutor(
            args.jobs, mp_context=context, initializer=_init_worker, initargs=init
        ) as pool,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("videos", total=len(todo))
        futures = [pool.submit(_process_one, v, str(tmp)) for v in todo]
        for future in as_completed(futures):
            outcomes[future.result()] += 1
            progress.advance(task)
    seconds = time.perf_counter() - started
    return {
        "processed": len(todo),
        "already_processed": len(videos) - len(todo),
        "process_failed": outcomes["failed"],
        "process_seconds": round(seconds, 1),
        "process_videos_per_s": round(len(todo) / seconds, 2) if todo else None,
        "process_disabled": DISABLED,
    }


# -------------------------------------------------------------------------------- 3. learn
def _trendflow(*argv: str) -> None:
    console.print(f"[bold]$ trendflow {' '.join(argv)}")
    subprocess.run([str(TRENDFLOW), *argv], check=True)


def _never_extrapolated(work: Path, tolerance_h: float) -> dict[str, Any]:
    """Every present target has an observation at or after its horizon (within tolerance);
    every ``horizon_not_reached`` target really had none there."""
    import numpy as np  # noqa: PLC0415 - the learn phase only

    from trendflow.learn.contract import HORIZONS_DAYS  # noqa: PLC0415
    from trendflow.store.npz import read_npz  # noqa: PLC0415

    seen: dict[str, list[datetime]] = {}
    published: dict[str, datetime] = {}
    for row in csv.DictReader((work / "snapshots.csv").open(encoding="utf-8")):
        seen.setdefault(row["video_id"], []).append(datetime.fromisoformat(row["observed_at"]))
        published[row["video_id"]] = datetime.fromisoformat(row["published_at"])
    last = max(max(times) for times in seen.values())
    reasons: Counter[str] = Counter()
    violations: list[str] = []
    for path in sorted((work / "targets").glob("tiktok/*/targets.npz")):
        arrays, _ = read_npz(path)
        video = path.parent.name
        for metric in ("views", "likes"):
            for k, horizon in enumerate(HORIZONS_DAYS):
                moment = published[video] + timedelta(days=horizon)
                later = [t for t in seen[video] if t >= moment - timedelta(hours=tolerance_h)]
                present = bool(arrays[f"{metric}_present"][k])
                reason = str(arrays[f"{metric}_empty_reason"][k])
                reasons[f"{metric}.h{horizon}.{reason or 'present'}"] += 1
                if present and (not later or np.isnan(arrays[metric][k])):
                    violations.append(f"{video} {metric} h{horizon}: no observation after")
                if reason == "horizon_not_reached" and moment <= last:
                    violations.append(f"{video} {metric} h{horizon}: the horizon was reached")
    return {"targets": dict(sorted(reasons.items())), "extrapolation_violations": violations}


def learn(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    for folder in ("targets", "dataset", "model"):
        shutil.rmtree(work / folder, ignore_errors=True)
    snapshots = str(work / "snapshots.csv")
    _trendflow(
        "targets", "build", snapshots, "--out", str(work / "targets"),
        "--tolerance-hours", str(args.tolerance_hours),
        "--max-gap-hours", str(args.max_gap_hours),
    )  # fmt: skip
    _trendflow(
        "dataset", "build", snapshots, "--result-store", str(work / "result_store"),
        "--targets", str(work / "targets"), "--out", str(work / "dataset"),
        "--provenance", "simulated",
    )  # fmt: skip
    _trendflow("train", str(work / "dataset"), "--out", str(work / "model"))
    figures = _never_extrapolated(work, args.tolerance_hours)
    model = json.loads((work / "model" / "model.json").read_text(encoding="utf-8"))
    evaluation = json.loads((work / "model" / "evaluation.json").read_text(encoding="utf-8"))
    figures["model_version"] = model.get("model_version")
    figures["evaluations"] = evaluation["evaluations"]
    figures["ladder"] = ladder_ratios(evaluation["metrics"])
    figures["content_ablation"] = content_ablation(work / "dataset", evaluation["metrics"])
    return figures


def content_ablation(dataset: Path, metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LightGBM evaluated again without the content features: what the video's pixels add
    over the early counts and the metadata (MAE ratio < 1: content helps)."""
    from trendflow.learn import evaluate, models  # noqa: PLC0415 - the learn phase only

    console.print("[bold]content ablation: LightGBM without content.* features")
    table, info = models.read_dataset(dataset)
    without = [c for c in table.columns if c.startswith(("meta.", "early."))]
    report = evaluate.evaluate(
        table,
        observation_hours=info.observation_hours,
        features=without,
        embargo_days=info.embargo_days,
    )
    full = {
        (r["evaluation"], r["target"], r["horizon"]): r for r in metrics if r["model"] == "lightgbm"
    }
    out = []
    for row in report.rows():
        key = (row["evaluation"], row["target"], row["horizon"])
        if row["model"] != "lightgbm" or key[2] == "h7" or key not in full:
            continue
        out.append(
            {
                "evaluation": key[0],
                "target": key[1],
                "horizon": key[2],
                "spearman_with": full[key]["spearman"],
                "spearman_without": row["spearman"],
                "mae_with": full[key]["mae_log1p"],
                "mae_without": row["mae_log1p"],
                "mae_ratio_with_to_without": _ratio(full[key]["mae_log1p"], row["mae_log1p"]),
            }
        )
    return out


def ladder_ratios(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LightGBM against Szabo-Huberman (and Pinto) per evaluation, target and horizon."""
    by = {(r["evaluation"], r["target"], r["horizon"], r["model"]): r for r in metrics}
    out = []
    for (evaluation, target, horizon, name), row in sorted(by.items()):
        base = by.get((evaluation, target, horizon, "szabo_huberman"))
        pinto = by.get((evaluation, target, horizon, "pinto"))
        if name != "lightgbm" or base is None or pinto is None or not row["n"]:
            continue
        out.append(
            {
                "evaluation": evaluation,
                "target": target,
                "horizon": horizon,
                "n": row["n"],
                **{f"spearman_{k}": r["spearman"] for k, r in _rungs(row, pinto, base)},
                **{f"mae_{k}": r["mae_log1p"] for k, r in _rungs(row, pinto, base)},
                **{f"mrse_{k}": r["mrse"] for k, r in _rungs(row, pinto, base)},
                "spearman_ratio": _ratio(row["spearman"], base["spearman"]),
                "mae_ratio": _ratio(row["mae_log1p"], base["mae_log1p"]),
            }
        )
    return out


def _rungs(lgbm: Any, pinto: Any, sh: Any) -> list[tuple[str, Any]]:
    return [("lgbm", lgbm), ("pinto", pinto), ("sh", sh)]


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 3) if value is not None and base else None


def missing_rows(figures: dict[str, Any]) -> list[str]:
    """The issue's table cells (both evaluations, views and likes at 14 and 21 days) that the
    run could not fill."""
    have = {(r["evaluation"], r["target"], r["horizon"]) for r in figures.get("ladder", [])}
    return [
        f"{e} {t} {h}"
        for e in ("time_split", "channel_groups")
        for t in ("views", "likes")
        for h in ("h14", "h21")
        if (e, t, h) not in have
    ]


# ---------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", required=True, help="folder for every phase's files")
    parser.add_argument("--phase", choices=("all", "corpus", "process", "learn"), default="all")
    parser.add_argument("--accounts", type=int, default=100, help="TikTok creators")
    # A forward split with a 21-day embargo needs publications spread over more than twice
    # the longest horizon: the newest quarter of the videos old enough for day 21 is tested,
    # and training videos are published 21 days before it.
    parser.add_argument("--days", type=float, default=60.0, help="simulated days synced")
    parser.add_argument("--cadence-hours", type=float, default=24.0, help="hours between syncs")
    parser.add_argument("--refresh-days", type=float, default=23.0, help="posts refreshed")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the DataProcessor")
    parser.add_argument("--tolerance-hours", type=float, default=2.0)
    # Daily syncs: a day and a half between two snapshots is one refresh, late. The embargo
    # grows with it (21 days + the gap), so a tight gap leaves the time split more to train on.
    parser.add_argument("--max-gap-hours", type=float, default=36.0)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    figures_path = work / "figures.json"
    if figures_path.exists():
        figures = json.loads(figures_path.read_text(encoding="utf-8"))
    if args.phase in ("all", "corpus"):
        figures |= asyncio.run(corpus(args, work))
        figures_path.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    if args.phase in ("all", "process"):
        figures |= process(args, work)
        figures_path.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    if args.phase in ("all", "learn"):
        figures |= learn(args, work)
        figures_path.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    table = Table(title="the baseline ladder on a simulated corpus (simulated data)")
    for name in ("evaluation", "target", "h", "n", "Spearman LGBM/Pinto/SH", "MAE LGBM/Pinto/SH"):
        table.add_column(name)
    for row in figures.get("ladder", []):
        table.add_row(
            row["evaluation"],
            row["target"],
            row["horizon"],
            str(row["n"]),
            "/".join(f"{row[f'spearman_{k}'] or 0:.3f}" for k in ("lgbm", "pinto", "sh")),
            "/".join(f"{row[f'mae_{k}'] or 0:.3f}" for k in ("lgbm", "pinto", "sh")),
        )
    console.print(table)
    missing = missing_rows(figures) if args.phase in ("all", "learn") else []
    figures["missing_ladder_rows"] = missing
    print(json.dumps(figures))  # noqa: T201 - the benchmark's last line
    return 1 if figures.get("extrapolation_violations") or missing else 0


if __name__ == "__main__":
    sys.exit(main())
