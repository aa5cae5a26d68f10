"""``devstack``: start, inspect and stop the embedded PostgreSQL + Temporal stack."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from devstack.errors import DevstackError
from devstack.stack import Stack, StackInfo

app = typer.Typer(
    help="Embedded PostgreSQL 18 and Temporal dev server for local runs and tests.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the servers keep their data [default: $DEVSTACK_DATA_DIR or "
        ".devstack/ at the workspace root].",
        file_okay=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="End with one JSON object on the last line.")]


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )


def _table(info: StackInfo) -> Table:
    table = Table(title=f"devstack · {info.data_dir}", show_lines=False)
    table.add_column("service")
    table.add_column("state")
    table.add_column("pid", justify="right")
    table.add_column("address")
    for name, svc in (("postgres", info.postgres), ("temporal", info.temporal)):
        state = (
            "[green]started[/]"
            if svc.started_now
            else ("[cyan]running[/]" if svc.running else "[dim]stopped[/]")
        )
        address = svc.address or ""
        if svc.ui_url:
            address += f"  (UI {svc.ui_url})"
        table.add_row(name, state, str(svc.pid or ""), address)
    return table


def _fail(exc: DevstackError) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}")
    return typer.Exit(1)


@app.command()
def up(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Start PostgreSQL and Temporal (or reuse the running ones) and print how to reach them."""
    _setup_logging()
    started = time.monotonic()
    try:
        with err.status("starting PostgreSQL and Temporal…"):
            info = Stack(data_dir).up()
    except DevstackError as exc:
        raise _fail(exc) from exc
    for note in info.notes:
        err.print(f"[dim]· {note}[/]")
    if as_json:
        print(json.dumps(info.to_json()))
        return
    out.print(_table(info))
    out.print(f"DATABASE_URL={info.database_url}")
    out.print(f"TEMPORAL_ADDRESS={info.temporal_address}")
    out.print(f"[dim]ready in {time.monotonic() - started:.1f}s · stop with `devstack down`[/]")


@app.command()
def status(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Show whether the servers of a data directory run, and where."""
    _setup_logging()
    info = Stack(data_dir).status()
    if as_json:
        print(json.dumps(info.to_json()))
        return
    out.print(_table(info))


@app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop the servers `up` started in this data directory (and nothing else)."""
    _setup_logging()
    try:
        stopped = Stack(data_dir).down()
    except DevstackError as exc:
        raise _fail(exc) from exc
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


def main() -> None:
    app()
