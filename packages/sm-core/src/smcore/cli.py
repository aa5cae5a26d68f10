"""``sm-core``: SM Core's command line."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.panel import Panel

from devstack import DevstackError
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
def demo(ctx: typer.Context) -> None:
    """Run the main job against socialsim (today: bring up the stack and check it)."""
    settings: Settings = ctx.obj
    try:
        with err.status("connecting to PostgreSQL and Temporal…"), endpoints(settings) as ep:
            with psycopg.connect(ep.database_url) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            version = row[0] if row else "?"
            out.print(
                f"PostgreSQL {version} at {_redact(ep.database_url)}"
                f"{' (embedded)' if ep.embedded_postgres else ''}"
            )
            asyncio.run(_check_temporal(ep.temporal_address, ep.temporal_namespace))
            out.print(
                f"Temporal at {ep.temporal_address}"
                f"{' (embedded dev server)' if ep.embedded_temporal else ''}"
            )
    except (DevstackError, psycopg.Error, RuntimeError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(
        Panel(
            "The stack is up, but the sync engine is not built yet: `socialsim`, the provider "
            "clients and the Temporal sync workflows land in the next issues. See README.md, "
            "'Not built yet'.",
            title="sm-core demo",
        )
    )


async def _check_temporal(address: str, namespace: str) -> None:
    # Imported here: temporalio takes ~0.7 s to import, and most commands never need it.
    from temporalio.client import Client  # noqa: PLC0415

    client = await Client.connect(address, namespace=namespace)
    if not await client.service_client.check_health():
        raise RuntimeError(f"Temporal at {address} is not serving")


def _redact(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, creds = head.split("//", 1)
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"


def main() -> None:
    """Run the CLI and leave with ``os._exit``.

    temporalio's core can crash while the interpreter finalizes after a short-lived client was
    used (temporalio/sdk-python#300): the work is done by then, so flush and exit directly.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
