"""``sm-core retention run``: the daily partition maintenance, by hand.

Thin: parse the clock, open the database (the running devstack when none is configured), call
:func:`smcore.store.retention.run`, print what it did.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from devstack import DevstackError
from devstack.settings import endpoints
from smcore.settings import Settings
from smcore.store import db, retention

out = Console()
err = Console(stderr=True)

retention_app = typer.Typer(
    help="Month partitions ahead and raw payloads older than RAW_RETENTION_DAYS dropped.",
    no_args_is_help=True,
)


def _clock(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} needs a time zone (Z or +HH:MM)")
    return moment


@retention_app.command("run")
def retention_run(
    ctx: typer.Context,
    now: Annotated[
        str | None,
        typer.Option(
            help="The clock, ISO 8601 with a zone (a dry run of the future) [default: now]."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Make the coming month partitions, empty the DEFAULT ones, drop expired raw months."""
    from devstack.logs import configure  # noqa: PLC0415

    settings: Settings = ctx.obj
    moment = _clock(now)
    configure(settings.log_level)
    try:
        with endpoints(settings, temporal=False) as ep:
            report = asyncio.run(_run(ep.database_url, moment, settings.raw_retention_days))
    except (DevstackError, psycopg.Error, DBAPIError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(asdict(report), default=datetime.isoformat))
        return
    out.print(
        f"cutoff {report.cutoff.isoformat()} · created {len(report.created)} · "
        f"dropped {len(report.dropped)} · moved from DEFAULT {report.moved_from_default} · "
        f"deleted from DEFAULT {report.deleted_from_default}",
        highlight=False,
    )
    for name in report.dropped:
        out.print(f"  dropped {name}", highlight=False)


async def _run(url: str, now: datetime, raw_retention_days: int) -> retention.RetentionReport:
    engine = db.async_engine(url, pool_size=1)
    try:
        return await retention.run(engine, now=now, raw_retention_days=raw_retention_days)
    finally:
        await engine.dispose()
