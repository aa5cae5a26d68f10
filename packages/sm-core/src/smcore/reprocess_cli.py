"""``sm-core reprocess``: rebuild normalized rows from the raw layer with today's parsers.

Thin: parse the options, open the database (the running devstack when none is configured),
call :func:`smcore.transform.reprocess.reprocess` with a progress bar, print a summary table
(or ``--json``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from devstack import DevstackError
from devstack.settings import endpoints
from smcore.settings import Settings
from smcore.sync.models import Platform

if TYPE_CHECKING:
    from smcore.transform import reprocess as rp

out = Console()
err = Console(stderr=True)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def reprocess_command(
    ctx: typer.Context,
    platform: Annotated[
        Platform | None, typer.Option(help="Only this platform's payloads.", show_default=False)
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="Only the payloads of this profile's syncs (its username or id)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only payloads fetched from then on (ISO 8601 date or time; UTC)."),
    ] = None,
    parser_older_than: Annotated[
        int | None,
        typer.Option(
            "--parser-older-than",
            min=0,
            metavar="VERSION",
            help="Rebuild rows of an older parser version than this "
            "(default: each platform's current version).",
        ),
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all", help="Rebuild rows whatever their parser version.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (last line).")] = (
        False
    ),
) -> None:
    """Rebuild profiles, posts (with media) and comments from the raw payloads, oldest first.

    A row is rebuilt from the payload it was stored from, when its parser version is older than
    today's (bump a platform's PARSER_VERSION with a parser fix); records that did not parse
    before are inserted, items that still do not are quarantined. No metric snapshot or follow
    event is written; a second run changes nothing. Payloads no parser reads are reported.
    """
    # Imported here: the parsers and the store take a while to import, and `sm-core` starts
    # for every command.
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from devstack.logs import configure  # noqa: PLC0415
    from smcore.store import db  # noqa: PLC0415
    from smcore.transform import reprocess as rp  # noqa: PLC0415

    if all_versions and parser_older_than is not None:
        raise typer.BadParameter("--all and --parser-older-than exclude each other")
    settings: Settings = ctx.obj
    options = rp.Options(
        platform=platform.value if platform is not None else None,
        profile=profile,
        since=_since(since),
        older_than=parser_older_than,
        all_versions=all_versions,
        dry_run=dry_run,
    )
    configure(settings.log_level)
    try:
        with endpoints(settings, temporal=False) as ep:
            db.upgrade(ep.database_url)
            report = asyncio.run(_run(ep.database_url, options))
    except rp.ReprocessError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except (DevstackError, psycopg.Error, DBAPIError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    _print(report)
    if as_json:
        print(json.dumps(report.to_json()))


async def _run(url: str, options: rp.Options) -> rp.Report:
    from smcore.store import db  # noqa: PLC0415
    from smcore.transform import reprocess as rp  # noqa: PLC0415

    engine = db.async_engine(url, pool_size=1)
    columns = (
        TextColumn("reprocess"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("payloads · {task.fields[changed]} rows changed"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("reprocess", total=None, changed=0)

            def progress(report: rp.Report) -> None:
                bar.update(
                    task, total=report.total, completed=report.payloads, changed=report.changed
                )

            return await rp.reprocess(engine, options, progress=progress)
    finally:
        await engine.dispose()


def _print(report: rp.Report) -> None:
    table = Table(title="reprocess (dry run: nothing written)" if report.dry_run else "reprocess")
    table.add_column("")
    table.add_column("inserted", justify="right")
    table.add_column("updated", justify="right")
    for name, done in report.tables.items():
        table.add_row(name, str(done.inserted), str(done.updated))
    out.print(table)
    lines: list[tuple[str, Any]] = [
        ("payloads read", f"{report.payloads} of {report.total}"),
        ("read again and written", report.parsed),
        ("records", report.records),
        ("newly quarantined", report.quarantined),
        ("not rebuilt (history)", sum(report.not_rebuilt.values())),
        ("no parser (unmapped)", sum(report.unmapped.values())),
        ("did not parse", sum(report.failed.values())),
        ("subject not stored", sum(report.no_subject.values())),
        ("seconds", f"{report.elapsed_s:.1f}"),
    ]
    for label, value in lines:
        out.print(f"{label:>24}  {value}", highlight=False)
    for title, counts in (
        ("unmapped", report.unmapped),
        ("did not parse", report.failed),
        ("subject not stored", report.no_subject),
    ):
        for what, n in counts.most_common(10):
            out.print(f"  [yellow]{title}:[/] {what} (x{n})", highlight=False)
