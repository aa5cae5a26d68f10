"""``agronom``: Pocket Agronomist's command line (migrate, api, worker, bot, demo, openapi)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from devstack import DevstackError
from devstack.entry import redact, run_and_exit
from devstack.errors import SettingsError
from devstack.settings import AppEnv, endpoints

app = typer.Typer(
    help="Pocket Agronomist: the backend of a Telegram bot that diagnoses plant photos.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"agronom {version('agronom')}")
        raise typer.Exit


@app.callback()
def _load(
    ctx: typer.Context,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Load the settings once, before any command: production refuses missing keys here."""
    from agronom.settings import Settings  # noqa: PLC0415

    # Each process requires only its own keys in production (Settings.PROCESSES).
    process = ctx.invoked_subcommand if ctx.invoked_subcommand in Settings.PROCESSES else None
    try:
        ctx.obj = Settings.load(process=process)
    except SettingsError as exc:
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _settings(ctx: typer.Context) -> Any:
    return ctx.obj


@app.command()
def config(
    ctx: typer.Context,
    show_secrets: Annotated[bool, typer.Option(help="Print secret values too.")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    settings = _settings(ctx)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if show_secrets and hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        out.print(f"{type(settings).key(name)}={'' if value is None else value}", highlight=False)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the migrations (on the embedded server when no database is configured)."""
    import psycopg  # noqa: PLC0415

    from agronom.store import db  # noqa: PLC0415

    try:
        with endpoints(_settings(ctx), temporal=False, keep=True) as ep:
            db.upgrade(ep.database_url)
    except (DevstackError, psycopg.Error) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"migrated {redact(ep.database_url)}")


@app.command()
def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (migrates first; embedded PostgreSQL when none is configured)."""
    import uvicorn  # noqa: PLC0415

    from agronom.api.app import create_app  # noqa: PLC0415
    from agronom.store import db  # noqa: PLC0415
    from devstack.logs import configure  # noqa: PLC0415

    settings = _settings(ctx)
    configure(settings.log_level)
    with endpoints(settings, temporal=False, keep=True) as ep:
        db.upgrade(ep.database_url)
        uvicorn.run(
            create_app(
                settings, database_url=ep.database_url, temporal_address=settings.temporal_address
            ),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
        )


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run the scheduled jobs: creates/updates the Temporal Schedules and serves their work."""
    from devstack.logs import configure  # noqa: PLC0415

    settings = _settings(ctx)
    configure(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt), endpoints(settings, keep=True) as ep:
        asyncio.run(_worker(settings, ep.database_url, ep.temporal_address))


async def _worker(settings: Any, database_url: str, temporal_address: str) -> None:
    from temporalio.client import Client  # noqa: PLC0415

    from agronom.jobs import TASK_QUEUE, schedules  # noqa: PLC0415
    from agronom.jobs.worker import running_worker  # noqa: PLC0415
    from agronom.store import db  # noqa: PLC0415
    from agronom.store import objects as storage  # noqa: PLC0415

    db.upgrade(database_url)
    client = await Client.connect(temporal_address, namespace=settings.temporal_namespace)
    ids = await schedules.ensure(client, task_queue=TASK_QUEUE, zone=settings.quota_timezone)
    store = await storage.from_settings(settings)
    err.print(f"schedules: {', '.join(ids)}")
    async with running_worker(settings, database_url=database_url, client=client, store=store):
        err.print(f"worker on task queue {TASK_QUEUE}; Ctrl-C stops it")
        await asyncio.Event().wait()


@app.command()
def bot(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Webhook mode: interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Webhook mode: port to listen on.")] = 8081,
) -> None:
    """Run the Telegram bot (aiogram 3): long polling, or a webhook when TELEGRAM_WEBHOOK_URL
    is set (served at that URL's path on HOST:PORT; TELEGRAM_WEBHOOK_SECRET is checked).

    The bot talks to the API at API_BASE_URL (start it with `agronom api`). Ctrl-C stops it.
    """
    from aiogram.exceptions import TelegramAPIError  # noqa: PLC0415

    from agronom.bot import runner  # noqa: PLC0415
    from devstack.logs import configure  # noqa: PLC0415

    settings = _settings(ctx)
    configure(settings.log_level)
    if settings.app_env is AppEnv.PRODUCTION and not settings.telegram_webhook_url:
        err.print(
            "[red]error:[/] production runs the bot on a webhook: set TELEGRAM_WEBHOOK_URL "
            "(and TELEGRAM_WEBHOOK_SECRET); long polling is for development"
        )
        raise typer.Exit(2)
    mode = "webhook" if settings.telegram_webhook_url else "long polling"
    err.print(f"telegram bot: {mode}; API at {settings.api_base_url}; Ctrl-C stops it")
    try:
        asyncio.run(runner.run(settings, host=host, port=port))
    except (TelegramAPIError, OSError) as exc:  # a wrong token, no Bot API, a port taken
        err.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def openapi(
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the committed packages/agronom/openapi.json.")
    ] = False,
    output: Annotated[Path | None, typer.Option(help="Write the document to this file.")] = None,
) -> None:
    """Print (or write) the API's OpenAPI document, as OpenAPI 3.0.3 for openapi-diff."""
    from agronom.api import openapi as spec  # noqa: PLC0415

    text = spec.render(spec.generate())
    if write:
        spec.COMMITTED.write_text(text)
        err.print(f"wrote {spec.COMMITTED.name}")
    if output is not None:
        output.write_text(text)
    if not write and output is None:
        sys.stdout.write(text)


@app.command()
def demo(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="End with the summary as JSON.")] = False,
) -> None:
    """A scripted round trip on the embedded stack: user, photos, diagnosis, quota, payment,
    PRO, the jobs, DSR. Prints what happened; exit 1 when a step did not do what it should."""
    import json  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    try:
        from agronom.demo import run_demo  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        err.print(
            f"[red]error:[/] the demo needs agronom's doubles ({exc.name}): install agronom[demo]"
        )
        raise typer.Exit(1) from None
    from devstack.logs import configure  # noqa: PLC0415

    settings = _settings(ctx)
    configure("WARNING")
    try:
        with endpoints(settings, keep=True) as ep:
            summary = asyncio.run(run_demo(settings, ep.database_url, ep.temporal_address, out))
    except (DevstackError, psycopg.Error, RuntimeError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, default=str))
    if not summary["ok"]:
        raise typer.Exit(1)


def main() -> None:
    run_and_exit(app)
