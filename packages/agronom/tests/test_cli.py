"""The agronom console script is installed and reports the package's version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def test_console_script_reports_the_installed_version() -> None:
    script = Path(sys.executable).parent / "agronom"
    assert script.exists(), "uv sync installs the console script"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agronom {}".format(version("agronom"))
