"""The analysis API (FastAPI): submit a job, follow it, fetch its artifacts.

Routes parse, call one service function (:mod:`trendflow.service.jobs`), start the job's
workflow, and map errors: 404 for an id that names no job (never "pending"), 409 for an
``Idempotency-Key`` reused with another body, 422 for a body the schema refuses (FastAPI's error
shape), 400 for a body that is not JSON, 403 for an artifact path that leaves the run, 503 when
Temporal cannot take the job (the job is kept; posting it again starts it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from trendflow.service import db, jobs, worker
from trendflow.service.db import LIVE
from trendflow.service.errors import IdempotencyKeyReused, InvalidJob
from trendflow.service.schemas import IDEMPOTENCY_KEY, Health, Job, JobRequest, Problem
from trendflow.settings import Settings

DESCRIPTION = """\
Media and text analysis jobs over the TrendFlow DataProcessor. `POST /v1/jobs` answers at once
(202 and the job, or 200 and the existing job when the same job was posted before); the job runs
on a Temporal worker; `GET /v1/jobs/{id}` follows it through `pending`, `processing`, `done` or
`failed`. A done job's `result` holds a JSON summary and links to its run's `manifest.json` and
NPZ artifacts, which are the source of truth.
"""


@dataclass
class _Deps:
    settings: Settings
    engine: AsyncEngine
    catalog: jobs.Catalog
    client: Client
    queue: str


def _deps(request: Request) -> _Deps:
    deps: _Deps = request.app.state.deps
    return deps


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _unprocessable(loc: list[str], message: str, kind: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": message, "type": kind}]}, status_code=422)


def create_app(
    settings: Settings,
    *,
    database_url: str,
    temporal_address: str | None,
    client: Client | None = None,
) -> FastAPI:
    """The app; its lifespan opens the database engine and the Temporal client."""
    catalog = jobs.Catalog.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.async_engine(database_url, pool_size=5)
        try:
            temporal = client
            if temporal is None:
                if not temporal_address:
                    raise RuntimeError("no Temporal address: set TEMPORAL_ADDRESS")
                temporal = await Client.connect(
                    temporal_address, namespace=settings.temporal_namespace
                )
            app.state.deps = _Deps(
                settings, engine, catalog, temporal, worker.task_queue(database_url)
            )
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="TrendFlow analysis API",
        version=version("trendflow"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )

    @app.get("/health", summary="The service answers.")
    async def health() -> Health:
        return Health(status="ok")

    @app.post(
        "/v1/jobs",
        status_code=202,
        response_model=Job,
        summary="Submit a job (idempotent).",
        description="202 with the new job and `Location: /v1/jobs/{id}`; 200 with the existing "
        "job when one with the same idempotency key (kind, platform, external id, input, config "
        "hash, versions) exists, or when the `Idempotency-Key` header was sent before with the "
        "same body. That header with a different body: 409. A job that failed with a "
        "retryable error does not count: posting it again starts a new job.",
        responses={
            200: {"model": Job, "description": "The job was posted before: that job."},
            202: {
                "description": "A new job.",
                "headers": {
                    "Location": {
                        "description": "The job's URL.",
                        "schema": {"type": "string"},
                    }
                },
            },
            400: {"model": Problem, "description": "The body is not JSON."},
            409: {
                "model": Problem,
                "description": "The Idempotency-Key header was sent before with another body.",
            },
            503: {"model": Problem, "description": "Temporal cannot take the job; retry."},
        },
    )
    async def post_job(
        body: JobRequest,
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                pattern=IDEMPOTENCY_KEY,
                description="The client's key of this request (printable ASCII, 1-255).",
            ),
        ] = None,
    ) -> Any:
        deps = _deps(request)
        try:
            submitted = await jobs.submit(
                deps.engine, deps.catalog, body, header_key=idempotency_key
            )
        except IdempotencyKeyReused as error:
            return _problem(409, str(error))
        except InvalidJob as error:
            return _unprocessable(["body", error.field], str(error), "invalid_job")
        job = submitted.job
        if job.status in LIVE:
            try:
                await worker.start_job(
                    deps.client,
                    job.id,
                    queue=deps.queue,
                    timeout_s=deps.settings.job_timeout_s,
                    max_attempts=deps.settings.job_max_attempts,
                )
            except (RPCError, RuntimeError) as error:
                return _problem(
                    503,
                    f"job {job.id} is recorded but Temporal did not take it ({error}); "
                    "post it again",
                    {"Retry-After": "5"},
                )
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        response.status_code = 202 if submitted.created else 200
        return jobs.job_json(job)

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=Job,
        summary="A job: status, progress per component, error, result.",
        responses={404: {"model": Problem, "description": "No job has this id."}},
    )
    async def get_job(job_id: str, request: Request) -> Any:
        row = await jobs.get(_deps(request).engine, job_id)
        if row is None:
            return _problem(404, f"no job {job_id!r}")
        return jobs.job_json(row)

    @app.get(
        "/v1/jobs/{job_id}/artifacts/{path:path}",
        response_class=FileResponse,
        summary="A file of the job's run: manifest.json or an NPZ artifact it lists.",
        responses={
            200: {
                "description": "The file (NPZ: application/octet-stream).",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            },
            403: {"model": Problem, "description": "The path leaves the run folder: refused."},
            404: {"model": Problem, "description": "No such job, or no such file in its run."},
        },
    )
    async def get_artifact(job_id: str, path: str, request: Request) -> Any:
        row = await jobs.get(_deps(request).engine, job_id)
        if row is None:
            return _problem(404, f"no job {job_id!r}")
        try:
            file = jobs.artifact_file(row, path)
        except jobs.UnsafePath as error:
            return _problem(403, str(error))
        if file is None:
            return _problem(404, f"job {job_id} has no artifact {path!r}")
        media_type = "application/json" if file.suffix == ".json" else "application/octet-stream"
        return FileResponse(file, media_type=media_type, filename=file.name)

    return app
