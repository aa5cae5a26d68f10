"""Process and port bookkeeping shared by the two servers.

A server is "ours" only when the pid devstack recorded is alive, was created at the recorded
time, and its command line names our data directory: pids are reused by the OS, so a pid alone
never justifies a signal.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

# psutil reports create_time with 10 ms resolution on Linux; allow for rounding.
_CREATE_TIME_SLACK_S = 0.05


@dataclass(frozen=True)
class ProcessRecord:
    """Identity of a process devstack started: its pid and when the OS created it."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())


def find_process(record: ProcessRecord | None, marker: str) -> psutil.Process | None:
    """Return the live process behind ``record`` if it is still the one we started.

    Args:
        record: what was recorded when the server started (None: nothing recorded).
        marker: a string the server's command line must contain (its data path).
    """
    if record is None:
        return None
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > _CREATE_TIME_SLACK_S:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if not any(marker in arg for arg in proc.cmdline()):
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return proc


def pid_alive(pid: int) -> bool:
    """True when some process (ours or not) has this pid."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_process(proc: psutil.Process, *, timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL: only ever called on a process ``find_process`` vouched for."""
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now. Bound as PostgreSQL and Temporal bind
    (``SO_REUSEADDR``): the connections a server just stopped closed itself linger in TIME_WAIT
    on its port for a minute, which keeps out a plain bind but not a server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """A port nobody listens on: ``preferred`` when it is free (stable addresses across
    restarts), else one the OS picks. Never a fixed default that may be taken."""
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())
