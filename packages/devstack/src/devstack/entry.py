"""What every app's command line does at its edges: leave cleanly, print URLs safely."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_and_exit(app: Callable[[], object]) -> None:
    """Run a CLI (a typer app) and leave with ``os._exit``.

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


def redact(url: str) -> str:
    """A URL fit to print: ``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``."""
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, creds = head.split("//", 1)
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"
