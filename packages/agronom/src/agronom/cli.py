"""``agronom``: command line of the agronom package."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

app = typer.Typer(
    help="Pocket Agronomist: Telegram bot backend (not built yet).", add_completion=False
)


def _version(value: bool) -> None:
    if value:
        print(f"agronom {version('agronom')}")
        raise typer.Exit


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None and not show_version:
        print(ctx.get_help())


def main() -> None:
    app()
