"""The command-line edges every app shares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack.entry import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cr%40t@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://postgres@127.0.0.1:5432/x", "postgresql://postgres@127.0.0.1:5432/x"),
        ("postgresql://db/x", "postgresql://db/x"),
    ],
)
def test_redact_hides_only_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("body", "code"), [("pass", 0), ("raise SystemExit(3)", 3), ("raise SystemExit('bad')", 1)]
)
def test_run_and_exit_keeps_the_exit_code(body: str, code: int) -> None:
    script = f"from devstack.entry import run_and_exit\ndef app():\n    {body}\nrun_and_exit(app)\n"
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == code
