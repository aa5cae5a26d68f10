"""The socialsim command line and the subprocess helper built on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from socialsim.testing import SimulatorError, command, serve


def test_console_script_reports_the_installed_version() -> None:
    script = Path(sys.executable).parent / "socialsim"
    assert script.exists(), "uv sync installs the console script"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "socialsim {}".format(version("socialsim"))


def test_serve_prints_one_json_line_then_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socialsim",
            "serve",
            "--port",
            "0",
            "--seed",
            "4",
            "--profiles",
            "5",
            "--channels",
            "1",
            "--api-key",
            "k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert set(ready) == {"url", "pid", "seed"}
        assert ready["pid"] == process.pid and ready["seed"] == 4
        assert ready["url"].startswith("http://127.0.0.1:")
        response = httpx.post(
            f"{ready['url']}/instagram/user/get_info",
            json={"username": "user_0001"},
            headers={"Authorization": "Token k"},
        )
        assert response.json()["response"]["status_code"] == 200
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)
        assert stdout == "", "nothing but the ready line on stdout"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_options_map_to_flags() -> None:
    args = command(seed=3, giant_followers=10, expire_cursors=True, quota=None, rate_limit=False)
    assert args[1:] == [
        "-m",
        "socialsim",
        "serve",
        "--seed",
        "3",
        "--giant-followers",
        "10",
        "--expire-cursors",
        "--port",
        "0",
    ]


def test_serve_stops_the_server_on_exit() -> None:
    with serve(seed=1, profiles=3, channels=1) as sim:
        assert httpx.get(f"{sim.url}/_sim/clock").status_code == 200
        pid = sim.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_cannot_start_is_reported_with_its_stderr() -> None:
    with pytest.raises(SimulatorError) as error, serve(fault_rate=2):
        pass
    assert "exited with code 2" in str(error.value)
    assert "fault-rate" in str(error.value)
