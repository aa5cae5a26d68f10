"""The container's entrypoint and healthcheck scripts, run for real; the Dockerfile and compose.

The scripts run as subprocesses with ``SM_CORE_BIN`` pointing at a stub executable: a shell
script standing in for ``sm-core`` that records its pid, arguments and environment. No Docker
engine runs here, so the Dockerfile and docker-compose.yml are checked as text against what the
scripts and the settings accept.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from devstack.errors import SettingsError
from smcore.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.sh"
EX_USAGE = 64
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - in a container the API must listen beyond loopback
APP_SERVICES = ("migrate", "api", "worker")

STUB = """#!/bin/sh
# Stands in for sm-core: records one call (pid, DB_HOST, arguments) to $STUB_LOG.
{
    echo "call $$ ${DB_HOST-}"
    for arg in "$@"; do echo "arg $arg"; done
} >> "$STUB_LOG"
if [ "${1-}" = migrate ] && [ -n "${STUB_MIGRATE_EXIT-}" ]; then exit "$STUB_MIGRATE_EXIT"; fi
if [ -n "${STUB_WAIT-}" ]; then
    trap 'echo "got TERM" >> "$STUB_LOG"; exit 0' TERM
    echo ready >> "$STUB_LOG"
    while :; do sleep 0.05; done
fi
"""


@dataclass
class Call:
    pid: int
    db_host: str
    argv: list[str] = field(default_factory=list)


@dataclass
class Stub:
    path: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A bare environment for the entrypoint: only what the test gives it."""
        base = {"PATH": "/usr/bin:/bin", "SM_CORE_BIN": str(self.path), "STUB_LOG": str(self.log)}
        return base | extra

    def calls(self) -> list[Call]:
        calls: list[Call] = []
        if not self.log.exists():
            return calls
        for line in self.log.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "call":
                pid, _, db_host = rest.partition(" ")
                calls.append(Call(int(pid), db_host))
            elif kind == "arg":
                calls[-1].argv.append(rest)
        return calls


@pytest.fixture
def stub(tmp_path: Path) -> Stub:
    path = tmp_path / "sm-core"
    path.write_text(STUB)
    path.chmod(0o755)
    return Stub(path, tmp_path / "calls.log")


def entrypoint(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the entrypoint to its end; return the result and the pid it ran as."""
    proc = subprocess.Popen(
        [str(ENTRYPOINT), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize(
    ("env", "args", "argv"),
    [
        ({"START_MODE": "api"}, (), ["api", "--host", ANY_ADDRESS, "--port", "8000"]),
        (
            {"START_MODE": "api", "PORT": "9100"},
            (),
            ["api", "--host", ANY_ADDRESS, "--port", "9100"],
        ),
        ({"START_MODE": "worker"}, (), ["worker"]),
        ({"START_MODE": "migrate"}, (), ["migrate"]),
        (
            {"START_MODE": "bot", "APP_BIN": "agronom"},
            (),
            ["bot", "--host", ANY_ADDRESS, "--port", "8081"],
        ),
        (
            {"START_MODE": "worker"},
            ("--concurrency", "4", "two words"),
            ["worker", "--concurrency", "4", "two words"],
        ),
        (
            {"START_MODE": "api"},
            ("--port", "7000"),
            ["api", "--host", ANY_ADDRESS, "--port", "8000", "--port", "7000"],
        ),
    ],
)
def test_each_mode_execs_its_command_with_the_arguments_given(
    stub: Stub, env: dict[str, str], args: tuple[str, ...], argv: list[str]
) -> None:
    """One call of sm-core, in place of the shell (same pid), arguments passed on intact."""
    result, pid = entrypoint(stub.env(DB_HOST="db.internal", **env), *args)
    assert result.returncode == 0, result.stderr
    [call] = stub.calls()
    assert call.argv == argv
    assert call.pid == pid, "not exec'd: signals would stop at the shell"
    assert call.db_host == "db.internal", "the environment must reach the app"


def test_the_exit_status_is_the_apps(stub: Stub) -> None:
    result, _ = entrypoint(stub.env(START_MODE="migrate", STUB_MIGRATE_EXIT="5"))
    assert result.returncode == 5


@pytest.mark.parametrize("mode", ["api", "worker"])
def test_migrate_on_start_migrates_first_then_execs_the_mode(stub: Stub, mode: str) -> None:
    result, pid = entrypoint(stub.env(START_MODE=mode, MIGRATE_ON_START="1"))
    assert result.returncode == 0, result.stderr
    migrate, app = stub.calls()
    assert migrate.argv == ["migrate"]
    assert migrate.pid != pid, "the migration runs as a child and returns"
    assert app.argv[0] == mode
    assert app.pid == pid


def test_a_failed_migration_on_start_stops_the_container(stub: Stub) -> None:
    result, _ = entrypoint(stub.env(START_MODE="api", MIGRATE_ON_START="1", STUB_MIGRATE_EXIT="3"))
    assert result.returncode == 3
    assert [c.argv[0] for c in stub.calls()] == ["migrate"], "api must not start unmigrated"


def test_migrate_on_start_in_migrate_mode_migrates_once(stub: Stub) -> None:
    result, _ = entrypoint(stub.env(START_MODE="migrate", MIGRATE_ON_START="1"))
    assert result.returncode == 0, result.stderr
    assert [c.argv for c in stub.calls()] == [["migrate"]]


@pytest.mark.parametrize("value", ["0", ""])
def test_migrate_on_start_off_runs_no_migration(stub: Stub, value: str) -> None:
    result, _ = entrypoint(stub.env(START_MODE="worker", MIGRATE_ON_START=value))
    assert result.returncode == 0, result.stderr
    assert [c.argv for c in stub.calls()] == [["worker"]]


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"START_MODE": "sidekiq"},
            "unknown START_MODE 'sidekiq': expected api, worker or migrate",
        ),
        ({"START_MODE": "API"}, "unknown START_MODE 'API'"),
        ({"START_MODE": "bot"}, "START_MODE=bot is agronom's"),
        ({}, "START_MODE is not set: set it to api, worker or migrate"),
        ({"APP_BIN": "agronom"}, "START_MODE is not set: set it to api, worker, bot or migrate"),
        (
            {"START_MODE": "cron", "APP_BIN": "agronom"},
            "unknown START_MODE 'cron': expected api, worker, bot or migrate",
        ),
        ({"START_MODE": ""}, "START_MODE is not set"),
        ({"START_MODE": "api", "MIGRATE_ON_START": "maybe"}, "MIGRATE_ON_START must be 1 or 0"),
    ],
)
def test_a_bad_mode_exits_64_with_the_reason_and_runs_nothing(
    stub: Stub, env: dict[str, str], message: str
) -> None:
    result, _ = entrypoint(stub.env(**env))
    assert result.returncode == EX_USAGE
    assert message in result.stderr
    assert result.stdout == ""
    assert stub.calls() == []


# ---------------------------------------------------------------- signals


def test_sigterm_to_the_container_reaches_the_app(stub: Stub) -> None:
    """docker stop signals the container's first process; exec makes that process the app."""
    proc = subprocess.Popen(
        [str(ENTRYPOINT)],
        env=stub.env(START_MODE="worker", STUB_WAIT="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not (stub.log.exists() and "ready" in stub.log.read_text()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the stub never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, "the app's own TERM handler decides the exit"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert "got TERM" in stub.log.read_text()


# ---------------------------------------------------------------- healthcheck


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = json.dumps({"ok": self.status == 200}).encode()
        self.send_response(self.status if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def healthcheck(**env: str) -> subprocess.CompletedProcess[str]:
    # The image puts the venv's python on PATH; here it is this interpreter's.
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    return subprocess.run(
        [str(HEALTHCHECK)],
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_in_api_mode_asks_health(
    health_server: tuple[ThreadingHTTPServer, type[_Health]], status: int, healthy: bool
) -> None:
    server, handler = health_server
    handler.status = status
    result = healthcheck(START_MODE="api", PORT=str(server.server_address[1]))
    assert (result.returncode == 0) is healthy, result.stderr


def test_healthcheck_in_api_mode_fails_when_nothing_listens(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, _ = health_server
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    result = healthcheck(START_MODE="api", PORT=str(port))
    assert result.returncode != 0
    assert "unhealthy" in result.stderr


@pytest.mark.parametrize("mode", ["worker", "migrate"])
def test_healthcheck_outside_api_mode_needs_no_http(mode: str) -> None:
    assert healthcheck(START_MODE=mode, PORT="1").returncode == 0


# ---------------------------------------------------------------- Dockerfile


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions((ROOT / "Dockerfile").read_text())
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    assert len(starts) >= 2, "a multi-stage build: the builder's tools stay out of the image"
    return instructions[starts[-1] :]


def _copied_into(stage: list[tuple[str, str]], target: str) -> set[str]:
    """Repository paths the stage copies from the build context into the folder ``target``."""
    sources: set[str] = set()
    for word, args in stage:
        parts = [p for p in args.split() if not p.startswith("--")]
        if word == "COPY" and "--from" not in args and parts[-1].rstrip("/") == target:
            sources.update(parts[:-1])
    return sources


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [args for word, args in _final_stage() if word == "USER"]
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric, so runtimes can verify non-root"
    assert int(uid) != 0
    assert not gid or int(gid) != 0


def test_the_final_stage_installs_nothing() -> None:
    """The runtime stage gets the built venv; compilers and installers stay in the builder."""
    runs = " ".join(args for word, args in _final_stage() if word == "RUN")
    assert not re.search(r"\b(apt-get|apk|pip|uv)\b", runs), runs


@pytest.mark.parametrize("instruction", ["ENTRYPOINT", "HEALTHCHECK"])
def test_the_scripts_the_image_runs_are_copied_from_the_repository(instruction: str) -> None:
    stage = _final_stage()
    [args] = [args for word, args in stage if word == instruction]
    command = json.loads(args[args.index("[") :])
    in_image = Path(command[0])
    repo_file = ROOT / "docker" / in_image.name
    assert repo_file.is_file()
    assert repo_file.stat().st_mode & 0o111, f"{repo_file.name} must be executable"
    assert f"docker/{in_image.name}" in _copied_into(stage, str(in_image.parent))


def test_the_builder_sees_every_workspace_member() -> None:
    """uv sync --locked checks the lock against every member: a missing one breaks the build."""
    text = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (packages/[\w-]+/pyproject\.toml) ", text, re.MULTILINE))
    members = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("packages/*/pyproject.toml")}
    assert copied == members
    assert "uv sync --locked --no-dev" in text


# ---------------------------------------------------------------- docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict[str, dict[str, dict[str, object]]]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _app_env(service: dict[str, object]) -> dict[str, str]:
    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping"
    # ${VAR:?message} and ${VAR:-default} are compose's: stand in a value for each.
    return {k: re.sub(r"\$\{[^}]+\}", "from-env", str(v)) for k, v in env.items()}


def test_compose_has_the_stack(compose: dict[str, dict[str, dict[str, object]]]) -> None:
    services = compose["services"]
    ours = {name for name in services if not name.startswith("agronom-")}  # agronom tests its own
    assert ours == {"postgres", "temporal", *APP_SERVICES}
    for name in ("postgres", "temporal"):
        assert "healthcheck" in services[name], f"{name} needs a healthcheck to be waited on"
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict)
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["temporal"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_starts_the_mode_it_names(
    compose: dict[str, dict[str, dict[str, object]]], stub: Stub, name: str
) -> None:
    """The entrypoint, given the service's environment, runs that service's process."""
    service = compose["services"][name]
    env = _app_env(service)
    assert env["START_MODE"] == name
    result, _ = entrypoint(stub.env(**env))
    assert result.returncode == 0, result.stderr
    [call] = stub.calls()
    assert call.argv[0] == name
    if name == "api":
        ports = service["ports"]
        assert isinstance(ports, list)
        published = [str(p).rsplit(":", 1)[-1] for p in ports]
        assert call.argv[call.argv.index("--port") + 1] in published


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_passes_the_production_settings_rule(
    compose: dict[str, dict[str, dict[str, object]]], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Every key production requires is set, and no key is one the app does not read."""
    env = _app_env(compose["services"][name])
    known = Settings.keys()
    assert set(env) - {"START_MODE", "PORT"} <= known
    assert env["APP_ENV"] == "production"
    for key in known:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.load()
    assert settings.configured_database_url() is not None, "never the embedded server"
    assert settings.temporal_address
    # The rule bites: without one required key the same environment is refused.
    monkeypatch.delenv("API_KEYS")
    with pytest.raises(SettingsError, match="API_KEYS"):
        Settings.load()
