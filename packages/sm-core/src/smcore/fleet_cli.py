"""``sm-core fleet …`` (the monitored accounts and their dispatcher) and ``sm-core schedule …``
(the same fleet, one account at a time).

Thin: parse, call ``smcore.fleet``, print. The dispatcher itself runs inside ``sm-core worker``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.settings import Endpoints
from smcore.fleet.status import State
from smcore.jobs_cli import AsJson, RefreshDays, Scope, _with_stack, err, out
from smcore.settings import Settings
from smcore.sync.models import Platform as PlatformName
from smcore.sync.models import Scope as ScopeName

T = TypeVar("T")

fleet_app = typer.Typer(
    help="The monitored accounts: import, status, plan, remove.", no_args_is_help=True
)
schedule_app = typer.Typer(
    help="One account of the fleet at a time (a view on `sm-core fleet`).", no_args_is_help=True
)

Format = Annotated[
    str | None, typer.Option("--format", help="csv or jsonl [default: from the first line]")
]


async def _engine_do(ep: Endpoints, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """``work`` on an engine over the endpoints' database, disposed of afterwards."""
    from smcore.store import db  # noqa: PLC0415

    engine = db.async_engine(ep.database_url, pool_size=2)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


@fleet_app.command("import")
def fleet_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines; - for standard input.")],
    fmt: Format = None,
    as_json: AsJson = False,
) -> None:
    """Add or update accounts from a file (idempotent). Bad rows are reported by line and
    skipped; the rest are imported. Columns: platform, username and/or ext_id, cadence
    (30m, 6h, 1d, weekly…), scope, refresh_days."""
    from smcore.fleet import accounts  # noqa: PLC0415

    settings: Settings = ctx.obj
    if fmt not in (None, "csv", "jsonl"):
        raise typer.BadParameter("--format is csv or jsonl")
    if str(file) != "-" and not file.is_file():
        raise typer.BadParameter(f"{file} is not a file")

    async def run(ep: Endpoints) -> accounts.ImportReport:
        with sys.stdin if str(file) == "-" else file.open(encoding="utf-8", newline="") as f:
            try:
                rows = list(accounts.read(f, fmt=fmt))
            except accounts.FleetError as exc:
                raise typer.BadParameter(str(exc)) from None
        return await _engine_do(ep, lambda engine: accounts.import_rows(engine, rows))

    report = _with_stack(settings, run)
    for bad in report.bad[:50]:
        err.print(f"[yellow]line {bad.line}:[/] {bad.reason}")
    if len(report.bad) > 50:
        err.print(f"… {len(report.bad) - 50} more bad rows (use --json)")
    if as_json:
        print(
            json.dumps(
                {
                    "rows": report.rows,
                    "added": report.added,
                    "updated": report.updated,
                    "duplicates": report.duplicates,
                    "bad": [{"line": b.line, "reason": b.reason} for b in report.bad],
                }
            )
        )
        return
    out.print(
        f"{report.rows} rows: {report.added} added, {report.updated} updated, "
        f"{len(report.bad)} bad" + (f", {report.duplicates} repeated" if report.duplicates else "")
    )


@fleet_app.command("status")
def fleet_status(
    ctx: typer.Context,
    accounts_: Annotated[
        bool, typer.Option("--accounts", help="List accounts with their last result.")
    ] = False,
    state: Annotated[State | None, typer.Option(help="Only accounts in this state.")] = None,
    platform: Annotated[PlatformName | None, typer.Option(help="Only this platform.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Accounts listed at most.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Accounts by state (due, running, overdue, failing…) and lag against cadence."""
    from smcore.fleet import status as fleet_status_  # noqa: PLC0415

    settings: Settings = ctx.obj
    listing = accounts_ or state is not None

    async def run(ep: Endpoints) -> tuple[Any, list[dict[str, Any]]]:
        async def work(engine: AsyncEngine) -> tuple[Any, list[dict[str, Any]]]:
            report = await fleet_status_.status(engine)
            rows = (
                await fleet_status_.accounts(engine, state=state, platform=platform, limit=limit)
                if listing
                else []
            )
            return report, rows

        return await _engine_do(ep, work)

    report, rows = _with_stack(settings, run)
    if as_json:
        payload = report.to_json()
        if listing:
            payload["accounts"] = rows
        print(json.dumps(payload, default=str))
        return
    table = Table("state", "accounts", *report.by_platform)
    for s in State:
        table.add_row(
            s.value,
            str(report.by_state.get(s, 0)),
            *(str(p.get(s, 0)) for p in report.by_platform.values()),
        )
    out.print(table)
    lag = report.lag
    out.print(
        f"lag of idle accounts: p50 {lag.p50_s:.0f} s, p90 {lag.p90_s:.0f} s, "
        f"p99 {lag.p99_s:.0f} s, max {lag.max_s:.0f} s "
        f"(p99 {lag.p99_of_cadence:.1%} of cadence)"
    )
    if rows:
        listed = Table("id", "platform", "account", "state", "every", "lag s", "fails", "last")
        for r in rows:
            last = r["last_status"] or "never"
            if r["last_error"]:
                last += f": {r['last_error'][:60]}"
            listed.add_row(
                str(r["id"]),
                r["platform"],
                r["username"] or r["ext_id"],
                r["state"],
                f"{r['cadence_s']} s",
                f"{r['lag_s']:.0f}",
                str(r["failures"]),
                last,
            )
        out.print(listed)


@fleet_app.command("plan")
def fleet_plan(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Provider calls a day the fleet needs, against rates and quotas; exit 1 when a
    cadence cannot be met."""
    from smcore.fleet import plan  # noqa: PLC0415

    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> plan.FleetPlan:
        return await _engine_do(ep, lambda engine: plan.plan(settings, engine))

    result = _with_stack(settings, run)
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        out.print(
            f"{result.accounts} accounts ({result.unknown_accounts} never synced: costed as the "
            f"median account): {result.calls_per_day:,.0f} calls/day "
            f"({result.calls_per_s:.2f}/s)"
        )
        for load in result.providers:
            streams = ", ".join(f"{k} {v:,.0f}" for k, v in load.by_stream.items())
            out.print(
                f"[bold]{load.provider}[/] ({load.platform}, {load.accounts} accounts): "
                f"{load.calls_per_day:,.0f} calls/day — {streams}"
            )
            colour = "green" if load.load is None or load.load <= 1 else "red"
            out.print(f"  [{colour}]{load.verdict}[/]")
    if not result.feasible:
        raise typer.Exit(1)


@fleet_app.command("remove")
def fleet_remove(
    ctx: typer.Context,
    platform: Annotated[PlatformName, typer.Argument(help="The platform.")],
    refs: Annotated[list[str], typer.Argument(help="Usernames or external ids.")],
) -> None:
    """Stop monitoring accounts (their stored data and history stay)."""
    from smcore.fleet import accounts  # noqa: PLC0415

    settings: Settings = ctx.obj

    async def run(ep: Endpoints) -> int:
        return await _engine_do(ep, lambda engine: accounts.remove(engine, platform, refs))

    removed = _with_stack(settings, run)
    out.print(f"removed {removed} of {len(refs)}")
    if removed < len(refs):
        raise typer.Exit(1)


# ---------------------------------------------------------------- schedule: one account


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    platform: Annotated[PlatformName, typer.Argument(help="The platform.")],
    target: Annotated[
        str, typer.Argument(help="Instagram username or user id; YouTube channel id")
    ],
    every: Annotated[str, typer.Option(help="Cadence: 30m, 6h, 1d, weekly")] = "1d",
    scope: Scope = ScopeName.ALL,
    refresh_days: RefreshDays = None,
) -> None:
    """Monitor one account on a cadence (a row of the fleet)."""
    from smcore.fleet import accounts  # noqa: PLC0415

    settings: Settings = ctx.obj
    key = "ext_id" if platform is PlatformName.YOUTUBE or target.isdigit() else "username"
    try:
        account = accounts.account(
            {
                "platform": platform,
                key: target,
                "cadence": every,
                "scope": scope,
                "refresh_days": refresh_days,
            }
        )
    except accounts.FleetError as exc:
        raise typer.BadParameter(str(exc)) from None

    async def run(ep: Endpoints) -> tuple[int, int]:
        return await _engine_do(ep, lambda engine: accounts.add(engine, [account]))

    added, _ = _with_stack(settings, run)
    verb = "added" if added else "updated"
    out.print(f"{verb} {platform} {target}: every {every} (runs while a worker runs)")


@schedule_app.command("list")
def schedule_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The fleet's accounts with their cadence and state (`fleet status --accounts`)."""
    ctx.invoke(fleet_status, ctx=ctx, accounts_=True, limit=10_000, as_json=as_json)


@schedule_app.command("remove")
def schedule_remove(
    ctx: typer.Context,
    platform: Annotated[PlatformName, typer.Argument(help="The platform.")],
    target: Annotated[
        str, typer.Argument(help="Instagram username or user id; YouTube channel id")
    ],
) -> None:
    """Stop monitoring one account."""
    ctx.invoke(fleet_remove, ctx=ctx, platform=platform, refs=[target])
