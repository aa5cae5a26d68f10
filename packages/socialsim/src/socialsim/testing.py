"""Run a simulator for tests and benchmarks of other packages.

::

    from socialsim.testing import serve

    with serve(seed=7, giant_followers=100_000, fault_rate=0.05) as sim:
        httpx.get(f"{sim.url}/_sim/truth/instagram")

The simulator runs as a subprocess (``python -m socialsim serve --port 0 …``), so it never
shares an event loop or the GIL with the code under test.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SimulatorError(RuntimeError):
    """The simulator did not start (the message holds the end of its stderr)."""


@dataclass(frozen=True, slots=True)
class RunningSim:
    """A simulator started by :func:`serve`.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:41234`` (every API and ``/_sim`` live there).
        pid: the server's process id.
        seed: the world's seed.
        api_key: the key every API accepts.
    """

    url: str
    pid: int
    seed: int
    api_key: str


def command(**options: object) -> list[str]:
    """The ``python -m socialsim serve`` command line for keyword options.

    ``giant_followers=10`` becomes ``--giant-followers 10``; ``True`` gives a bare flag;
    ``False`` and ``None`` leave the option out.
    """
    args = [sys.executable, "-m", "socialsim", "serve"]
    options.setdefault("port", 0)
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, str(value)]
    return args


def _tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace")
    return text[-limit:]


@contextmanager
def serve(*, startup_timeout_s: float = 30.0, **options: object) -> Iterator[RunningSim]:
    """Start a simulator subprocess for the duration of a ``with`` block.

    Args:
        startup_timeout_s: how long to wait for the server's ready line.
        **options: ``serve`` command options by their Python names (``seed=3``,
            ``fault_rate=0.1``, ``expire_cursors=True`` …).

    Yields:
        The running simulator.

    Raises:
        SimulatorError: it exited or stayed silent before announcing its URL.
    """
    with tempfile.TemporaryDirectory(prefix="socialsim-") as folder:
        stderr_path = Path(folder) / "stderr.log"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command(**options),
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        try:
            ready = _wait_ready(process, stderr_path, startup_timeout_s)
            yield RunningSim(
                url=ready["url"],
                pid=int(ready["pid"]),
                seed=int(ready["seed"]),
                api_key=str(options.get("api_key", "sim-key")),
            )
        finally:
            _stop(process)


def _wait_ready(
    process: subprocess.Popen[bytes], stderr_path: Path, timeout_s: float
) -> dict[str, Any]:
    assert process.stdout is not None  # noqa: S101  # Popen was given stdout=PIPE
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _stop(process)
                raise SimulatorError(
                    f"socialsim did not start within {timeout_s:g} s; stderr:\n"
                    + _tail(stderr_path)
                )
            if selector.select(min(remaining, 0.2)):
                line = process.stdout.readline()
                if line:
                    ready: dict[str, Any] = json.loads(line)
                    return ready
            if process.poll() is not None:
                raise SimulatorError(
                    f"socialsim exited with code {process.returncode}; stderr:\n"
                    + _tail(stderr_path)
                )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
