"""``sm-core worker``, ``sm-core sync …``, ``sm-core api``: the sync engine's commands.

Thin: parse, bring up what is not configured (the running devstack, started if needed and
left running), call one function, print.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from devstack import DevstackError
from devstack.settings import Endpoints, endpoints
from smcore.settings import Settings
from smcore.sync.errors import JobError
from smcore.sync.models import DEFAULT_REFRESH_DAYS
from smcore.sync.models import Platform as PlatformName
from smcore.sync.models import Scope as ScopeName

out = Console()
err = Console(stderr=True)

sync_app = typer.Typer(help="Start, follow and resume syncs.", no_args_is_help=True)

Scope = Annotated[ScopeName, typer.Option(help="What to sync (a platform may lack some).")]
RefreshDays = Annotated[
    float | None,
    typer.Option(
        min=0.001,
        help=f"Refresh the posts of this many days (default {DEFAULT_REFRESH_DAYS}).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object (last line).")]
Wait = Annotated[bool, typer.Option("--wait", help="Run a worker here and wait for the end.")]


def _with_stack(settings: Settings, run: Callable[[Endpoints], Coroutine[Any, Any, Any]]) -> Any:
    from smcore.store import db  # noqa: PLC0415

    try:
        with endpoints(settings, keep=True) as ep:
            db.upgrade(ep.database_url)
            return asyncio.run(run(ep))
    except DevstackError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except (ValueError, JobError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


async def _client(ep: Endpoints) -> Any:
    from temporalio.client import Client  # noqa: PLC0415

    return await Client.connect(ep.temporal_address, namespace=ep.temporal_namespace)


def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[
        int,
        typer.Option(
            help="Activities and syncs at once (profiles in parallel); the worker keeps up to "
            "two database connections per sync open, plus a few."
        ),
    ] = 16,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on this port (0.0.0.0); off by default."),
    ] = None,
    dispatch: Annotated[
        bool,
        typer.Option(help="Make sure the fleet's dispatcher runs (one per database, any worker)."),
    ] = True,
) -> None:
    """Run a worker: it executes every sync until Ctrl-C (SIGTERM, SIGINT).

    On a stop signal it takes no new work and lets the pages in flight finish (up to the
    grace period); a stream cut short resumes from the ledger on another worker.
    """
    from devstack.logs import configure  # noqa: PLC0415
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415

    settings: Settings = ctx.obj
    configure(settings.log_level)
    if metrics_port is not None:
        from prometheus_client import start_http_server  # noqa: PLC0415

        start_http_server(metrics_port)
        err.print(f"metrics on http://0.0.0.0:{metrics_port}/metrics")

    async def run(ep: Endpoints) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        client = await _client(ep)
        async with running_worker(
            settings,
            database_url=ep.database_url,
            client=client,
            max_concurrent_activities=concurrency,
            dispatch=dispatch,
        ):
            err.print(f"worker ready on {ep.temporal_address} (task queue sm-core)")
            await stop.wait()

    _with_stack(settings, run)


async def _start(
    settings: Settings, ep: Endpoints, platform: Any, scope: Any, wait: bool, **target: Any
) -> dict[str, Any]:
    from smcore.orchestration import client as orchestration  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415
    from smcore.sync.models import SyncInput  # noqa: PLC0415
    from smcore.sync.service import create_job  # noqa: PLC0415

    engine = db.async_engine(ep.database_url, pool_size=1)
    try:
        job_id = await create_job(engine, platform=platform, scope=scope, **target)
    finally:
        await engine.dispose()
    client = await _client(ep)
    request = SyncInput(job_id, db.database_name(ep.database_url))
    handle = await orchestration.start_sync(client, request)
    return await _follow(settings, ep, client, job_id, handle, wait)


async def _follow(
    settings: Settings, ep: Endpoints, client: Any, job_id: int, handle: Any, wait: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {"job_call_id": job_id, "workflow_id": handle.id}
    if not wait:
        result["status"] = "running"
        return result
    from devstack.logs import configure  # noqa: PLC0415
    from smcore.orchestration.worker import running_worker  # noqa: PLC0415

    configure(settings.log_level)
    async with running_worker(settings, database_url=ep.database_url, client=client):
        done = await handle.result()
    result.update(status=done.status, summary=done.summary)
    return result


def _print_started(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, default=str))
        return
    out.print(f"job_call_id={result['job_call_id']} status={result['status']}")
    if result["status"] == "running":
        out.print(
            f"[dim]follow it: sm-core sync status {result['job_call_id']} "
            "(a worker must run: sm-core worker)[/]"
        )
    elif "summary" in result:
        out.print(json.dumps(result["summary"], indent=2, default=str))


def _exit_for(result: dict[str, Any]) -> None:
    if result["status"] in ("failed", "partial"):
        raise typer.Exit(1)


@sync_app.command("instagram")
def sync_instagram(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option(help="Instagram username")] = None,
    user_id: Annotated[str | None, typer.Option(help="Instagram user id")] = None,
    scope: Scope = ScopeName.ALL,
    until_id: Annotated[
        str | None, typer.Option(help="Only posts older than this stored post")
    ] = None,
    refresh_days: RefreshDays = None,
    full: Annotated[
        bool, typer.Option(help="Refresh every post and walk the whole history")
    ] = False,
    wait: Wait = False,
    as_json: AsJson = False,
) -> None:
    """Sync an Instagram profile: profile, followers/followings, posts, reels, stories,
    highlights, comments with replies, likers."""
    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> dict[str, Any]:
        return await _start(
            settings,
            ep,
            PlatformName.INSTAGRAM,
            scope,
            wait,
            username=username,
            ext_id=user_id,
            until_id=until_id,
            full=full,
            refresh_days=refresh_days,
        )

    result = _with_stack(settings, run)
    _print_started(result, as_json)
    _exit_for(result)


@sync_app.command("youtube")
def sync_youtube(
    ctx: typer.Context,
    channel_id: Annotated[str | None, typer.Option(help="YouTube channel id (UC…)")] = None,
    handle: Annotated[str | None, typer.Option(help="YouTube handle (@name)")] = None,
    scope: Scope = ScopeName.ALL,
    refresh_days: RefreshDays = None,
    full: Annotated[
        bool, typer.Option(help="Refresh every video and walk the whole history")
    ] = False,
    wait: Wait = False,
    as_json: AsJson = False,
) -> None:
    """Sync a YouTube channel: channel, uploads with statistics, comment threads, replies."""
    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> dict[str, Any]:
        return await _start(
            settings,
            ep,
            PlatformName.YOUTUBE,
            scope,
            wait,
            username=handle,
            ext_id=channel_id,
            full=full,
            refresh_days=refresh_days,
        )

    result = _with_stack(settings, run)
    _print_started(result, as_json)
    _exit_for(result)


@sync_app.command("tiktok")
def sync_tiktok(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option(help="TikTok username (uniqueId)")] = None,
    user_id: Annotated[str | None, typer.Option(help="TikTok user id")] = None,
    scope: Scope = ScopeName.ALL,
    refresh_days: RefreshDays = None,
    full: Annotated[
        bool, typer.Option(help="Refresh every video and walk the whole history")
    ] = False,
    wait: Wait = False,
    as_json: AsJson = False,
) -> None:
    """Sync a TikTok account: profile, followers/followings (~5,000 listed at most), videos
    with their counts, comments and replies."""
    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> dict[str, Any]:
        return await _start(
            settings,
            ep,
            PlatformName.TIKTOK,
            scope,
            wait,
            username=username,
            ext_id=user_id,
            full=full,
            refresh_days=refresh_days,
        )

    result = _with_stack(settings, run)
    _print_started(result, as_json)
    _exit_for(result)


@sync_app.command("status")
def sync_status(ctx: typer.Context, job_call_id: int, as_json: AsJson = False) -> None:
    """A JobCall and its ServiceCalls, per stream: pages, items, failures, where it stands."""
    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> dict[str, Any] | None:
        from smcore.sync.status import job_status  # noqa: PLC0415

        return await job_status(ep.database_url, job_call_id)

    status = _with_stack(settings, run)
    if status is None:
        err.print(f"[red]error:[/] no JobCall {job_call_id}")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(status, default=str))
        return
    out.print(
        f"JobCall {status['job_call_id']} · {status['platform']} · [bold]{status['status']}[/] "
        f"· {status['service_calls']} service calls"
    )
    table = Table("stream", "pages", "items", "failed", "skipped", "subjects")
    for name, entry in status["streams"].items():
        table.add_row(
            name,
            str(entry["pages"]),
            str(entry["items"]),
            str(entry["failed"]),
            str(entry["skipped"]),
            str(entry["subjects"]),
        )
    out.print(table)
    if status["error"]:
        out.print(f"[yellow]{status['error']}[/]")
    if transform := status.get("transform"):
        media = ", ".join(f"{n} {s}" for s, n in sorted(transform["media"].items())) or "none"
        analyses = ", ".join(f"{n} {s}" for s, n in sorted(transform["analyses"].items())) or "none"
        out.print(f"media: {media} · analyses: {analyses}")
        if transform["last_error"]:
            out.print(f"[yellow]analysis: {transform['last_error']}[/]")


@sync_app.command("resume")
def sync_resume(
    ctx: typer.Context, job_call_id: int, wait: Wait = False, as_json: AsJson = False
) -> None:
    """Continue a JobCall from its ledger (after a crash, a lost workflow history, anything)."""
    from smcore.orchestration import client as orchestration  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415
    from smcore.sync.models import SyncInput  # noqa: PLC0415

    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> dict[str, Any] | None:
        from smcore.sync.status import job_status  # noqa: PLC0415

        status = await job_status(ep.database_url, job_call_id)
        if status is None:
            return None
        client = await _client(ep)
        request = SyncInput(job_call_id, db.database_name(ep.database_url))
        handle = await orchestration.start_sync(client, request)
        return await _follow(settings, ep, client, job_call_id, handle, wait)

    result = _with_stack(settings, run)
    if result is None:
        err.print(f"[red]error:[/] no JobCall {job_call_id}")
        raise typer.Exit(1)
    _print_started(result, as_json)
    _exit_for(result)


def api_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn  # noqa: PLC0415

    from smcore.api.app import create_app  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415

    settings: Settings = ctx.obj
    try:
        with endpoints(settings, keep=True) as ep:
            db.upgrade(ep.database_url)
            app = create_app(
                settings, database_url=ep.database_url, temporal_address=ep.temporal_address
            )
            err.print(f"SM Core API on http://{host}:{port} (OpenAPI: /openapi.json)")
            uvicorn.run(app, host=host, port=port, log_level="warning")
    except DevstackError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
