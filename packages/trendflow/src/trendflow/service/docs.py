"""docs/trendflow-api.md from the OpenAPI document:
``uv run python -m trendflow.service.docs > docs/trendflow-api.md``.

A test renders it again and compares, so the page never drifts from the API.
"""

from __future__ import annotations

import sys
from typing import Any

from devstack import openapi_markdown
from trendflow.service.app import create_app
from trendflow.settings import Settings

INTRO = """# TrendFlow analysis API

Generated from the OpenAPI document (`GET /openapi.json`, interactive at `/docs`) by
`uv run python -m trendflow.service.docs > docs/trendflow-api.md`; a test fails when the two
differ.

Start it with `uv run trendflow serve [--host H] [--port P] [--no-worker]` (default
`127.0.0.1:8010`; with no `DATABASE_URL`/`DB_HOST` and no `TEMPORAL_ADDRESS` it starts the
embedded PostgreSQL and Temporal, and it runs a worker in the same process unless
`--no-worker`); more workers: `uv run trendflow worker`. Errors are JSON `{"detail": …}`: 404
for an id that names no job, 409 for an `Idempotency-Key` header reused with another body, 400
for a body that is not JSON, 403 for an artifact path that leaves the run, 503 when Temporal
cannot take a job; a 422 (a body or header the schema refuses) has FastAPI's shape,
`{"detail": [{"loc", "msg", "type"}]}`.

A job's error codes: `media_unavailable` (the media's server refused it with a 4xx, or the
object store lacks the key; not retryable), `media_expired` (403 "expired" or 410: the link
expired before the download; not retryable), `media_unreachable` (connection failure, timeout,
5xx, 429; retryable), `bad_media` (not a decodable image or video; not retryable), `timeout` (an
attempt ran past `TRENDFLOW_JOB_TIMEOUT_S`; retryable), `internal` (anything else; retryable).
Retryable errors are retried by the worker first (`TRENDFLOW_JOB_MAX_ATTEMPTS`, backoff from
2 s); `retryable: true` on a failed job means posting it again later may succeed, and doing so
starts a new job.

Completion webhook (optional `webhook_url`): the job JSON, POSTed with
`X-TrendFlow-Signature: sha256=<hex HMAC-SHA256 of the raw body under TRENDFLOW_WEBHOOK_SECRET>`
and `X-TrendFlow-Job: <id>`, retried 4 times; its failure never changes the job.
"""


def spec() -> dict[str, Any]:
    settings = Settings.load(app_env="development")
    app = create_app(settings, database_url="postgresql://unused/unused", temporal_address=None)
    document: dict[str, Any] = app.openapi()
    return document


def render(document: dict[str, Any]) -> str:
    return openapi_markdown.render(document, INTRO)


if __name__ == "__main__":
    sys.stdout.write(render(spec()).rstrip() + "\n")
