"""``sm-core``: SM Core's command line."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console

from devstack import DevstackError
from devstack.entry import redact, run_and_exit
from devstack.errors import SettingsError
from devstack.settings import endpoints
from smcore.settings import Settings

app = typer.Typer(
    help="SM Core: social-monitoring ETL (Instagram, YouTube, TikTok) and its search API.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


@app.callback()
def _load(ctx: typer.Context) -> None:
    """Load the settings once, before any command: production refuses missing keys here."""
    try:
        ctx.obj = Settings.load()
    except SettingsError as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def config(
    ctx: typer.Context,
    show_secrets: Annotated[bool, typer.Option(help="Print secret values too.")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    settings: Settings = ctx.obj
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if show_secrets and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        out.print(f"{Settings.key(name)}={'' if value is None else value}", highlight=False)


@app.command()
def demo(
    ctx: typer.Context,
    profiles: Annotated[int, typer.Option(help="Instagram profiles in the simulated world.")] = 20,
    channels: Annotated[int, typer.Option(help="YouTube channels in the simulated world.")] = 3,
    tiktok_accounts: Annotated[
        int, typer.Option(help="TikTok accounts in the simulated world (and one giant).")
    ] = 3,
    seed: Annotated[int, typer.Option(help="The simulated world's seed.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="End with the summary as JSON.")] = False,
    serve: Annotated[
        bool,
        typer.Option(
            help="Then serve the dashboard and the API over the demo's data (the worker and "
            "socialsim stay up) until Ctrl-C; prints the dashboard's URL."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="The dashboard's port with --serve.")] = 8000,
    analysis: Annotated[
        bool,
        typer.Option(
            help="Run TrendFlow's analysis service beside socialsim and check the enrichments "
            "of a sample of media and the captions (--no-analysis: downloads only)."
        ),
    ] = True,
) -> None:
    """The main job: sync a simulated world through the real stack and check it against its truth.

    Starts the embedded stack (left running with the data: `devstack down` stops it),
    socialsim and a worker; syncs every Instagram profile, YouTube channel and TikTok account
    with a live display; checks every stream; prints a summary. Exit code 1 when anything
    differs from the truth.
    """
    from devstack.logs import configure  # noqa: PLC0415
    from smcore.demo import run_demo  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415

    settings: Settings = ctx.obj
    configure("WARNING")
    try:
        with endpoints(settings, keep=True) as ep:
            db.upgrade(ep.database_url)
            summary = asyncio.run(
                run_demo(
                    settings,
                    ep.database_url,
                    ep.temporal_address,
                    ep.temporal_namespace,
                    seed=seed,
                    profiles=profiles,
                    channels=channels,
                    tiktok_accounts=tiktok_accounts,
                    console=err,
                    serve=serve,
                    port=port,
                    analysis=analysis,
                )
            )
    except (DevstackError, psycopg.Error, RuntimeError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(
        f"{summary['profiles']} profiles {summary['statuses']} · "
        f"{summary['followers']} followers · "
        f"{summary['posts']} posts · {summary['comments']} comments · {summary['calls']} calls "
        f"({summary['failures']} failed) · {summary['elapsed_s']}s · "
        + (
            "[green]matches the truth[/]"
            if summary["verified"]
            else "[red]differs from the truth[/]"
        )
    )
    for problem in summary["problems"]:
        out.print(f"  [red]{problem}[/]")
    if as_json:
        print(json.dumps(summary))
    if not summary["verified"]:
        raise typer.Exit(1)


async def _check_temporal(address: str, namespace: str) -> None:
    # Imported here: temporalio takes ~0.7 s to import, and most commands never need it.
    from temporalio.client import Client  # noqa: PLC0415

    client = await Client.connect(address, namespace=namespace)
    if not await client.service_client.check_health():
        raise RuntimeError(f"Temporal at {address} is not serving")


from smcore import export_cli, fleet_cli, jobs_cli, reprocess_cli, retention_cli  # noqa: E402 - after `app`, whose callback it shares

app.command("worker")(jobs_cli.worker_command)
app.command("api")(jobs_cli.api_command)
app.add_typer(jobs_cli.sync_app, name="sync")
app.add_typer(fleet_cli.fleet_app, name="fleet")
app.add_typer(fleet_cli.schedule_app, name="schedule")
app.add_typer(retention_cli.retention_app, name="retention")
app.command("reprocess")(reprocess_cli.reprocess_command)
app.command("export")(export_cli.export_command)

providers_app = typer.Typer(
    help="Call the third-party API providers by hand.", no_args_is_help=True
)
app.add_typer(providers_app, name="providers")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the migrations (on the embedded server when no database is configured)."""
    from smcore.store import db  # noqa: PLC0415

    settings: Settings = ctx.obj
    try:
        with endpoints(settings, temporal=False) as ep:
            db.upgrade(ep.database_url)
    except (DevstackError, psycopg.Error) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"migrated {redact(ep.database_url)}")


@providers_app.command("call")
def providers_call(
    ctx: typer.Context,
    platform: Annotated[str, typer.Argument(help="instagram, youtube or tiktok")],
    method: Annotated[str, typer.Argument(help="e.g. user_info, followers, uploads, videos")],
    username: Annotated[
        str | None, typer.Option(help="Instagram / TikTok username, YouTube handle")
    ] = None,
    user_id: Annotated[str | None, typer.Option(help="Instagram / TikTok user id")] = None,
    post_id: Annotated[str | None, typer.Option(help="Instagram media / TikTok video id")] = None,
    comment_id: Annotated[
        str | None, typer.Option(help="A comment (YouTube: its thread) whose replies to list")
    ] = None,
    highlight_id: Annotated[str | None, typer.Option(help="Instagram highlight id")] = None,
    channel_id: Annotated[str | None, typer.Option(help="YouTube channel id")] = None,
    playlist_id: Annotated[str | None, typer.Option(help="YouTube playlist id")] = None,
    video_id: Annotated[
        list[str] | None, typer.Option(help="YouTube video id (repeatable for videos)")
    ] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow pagination to the end.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Include each item's raw payload.")] = False,
) -> None:
    """Call one provider method; exit 1 when it failed (the JSON still says why)."""
    from smcore.providers import calls  # noqa: PLC0415
    from smcore.providers.errors import ProviderConfigError  # noqa: PLC0415

    settings: Settings = ctx.obj
    if platform not in calls.METHODS:
        known = ", ".join(calls.METHODS)
        err.print(f"[red]error:[/] unknown platform {platform!r}: {known}")
        raise typer.Exit(2)
    target = calls.Target(
        username=username,
        user_id=user_id,
        post_id=post_id,
        channel_id=channel_id,
        playlist_id=playlist_id,
        video_ids=tuple(video_id or ()),
        comment_id=comment_id,
        highlight_id=highlight_id,
    )
    try:
        page, pages = asyncio.run(_call(settings, platform, method, target, all_pages))
    except (calls.UsageError, ProviderConfigError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except (DevstackError, psycopg.Error) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    payload = page.to_json(raw=raw)
    payload["pages"] = pages
    if as_json:
        print(json.dumps(payload, ensure_ascii=False))
    else:
        _print_page(payload)
    if not page.success:
        raise typer.Exit(1)


async def _call(
    settings: Settings, platform: Any, method: str, target: Any, all_pages: bool
) -> tuple[Any, int]:
    from devstack.logs import configure  # noqa: PLC0415
    from smcore.providers import Providers, calls, rate_limits  # noqa: PLC0415
    from smcore.providers.ratelimit import PostgresRateLimiter  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415

    configure(settings.log_level)
    limits = rate_limits(settings)
    if not limits:
        async with Providers.from_settings(settings) as providers:
            return await calls.call(providers, platform, method, target, all_pages=all_pages)
    # Shared limits live in PostgreSQL: a database is needed (embedded when none is set).
    with endpoints(settings, temporal=False) as ep:
        db.upgrade(ep.database_url)
        engine = db.async_engine(ep.database_url, pool_size=2)
        try:
            limiter = PostgresRateLimiter(engine, limits)
            async with Providers.from_settings(settings, limiter=limiter) as providers:
                return await calls.call(providers, platform, method, target, all_pages=all_pages)
        finally:
            await engine.dispose()


def _print_page(payload: dict[str, Any]) -> None:
    state = "[green]ok[/]" if payload["success"] else "[red]failed[/]"
    out.print(
        f"{state} · provider {payload['api_provider']} · {len(payload['items'])} items · "
        f"{payload['pages']} page(s) · has_more={payload['has_more']}"
    )
    if payload["error"]:
        error = payload["error"]
        out.print(f"[red]{error['kind']}[/]: {error['message']}")
    for item in payload["items"][:20]:
        label = item.get("username") or item.get("title") or item.get("text") or item.get("code")
        out.print(f"  {item['ext_id']}  {label or ''}")
    if len(payload["items"]) > 20:
        out.print(f"  … {len(payload['items']) - 20} more (use --json)")


def main() -> None:
    run_and_exit(app)
