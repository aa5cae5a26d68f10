"""docs/trendflow-api.md from the OpenAPI document:
``uv run python -m trendflow.service.docs > docs/trendflow-api.md``.

A test renders it again and compares, so the page never drifts from the API.
"""

from __future__ import annotations

import json
import sys
from typing import Any

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


def _type(schema: dict[str, Any]) -> str:  # noqa: PLR0911 - a return per JSON Schema construct
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " or ".join(_type(s) for s in schema[union])
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map to {_type(schema['additionalProperties'])}"
    return str(schema.get("type", "any"))


def _limits(schema: dict[str, Any]) -> str:
    keys = (
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "pattern",
        "default",
    )
    for union in ("anyOf", "oneOf"):
        for option in schema.get(union, []):
            if option.get("type") != "null":
                schema = {**option, **{k: v for k, v in schema.items() if k == "default"}}
    return ", ".join(f"{k} `{schema[k]}`" for k in keys if k in schema)


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"## {method.upper()} `{path}`", "", op.get("summary", ""), ""]
    if op.get("description"):
        lines += [op["description"].strip(), ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | limits | description |"]
        lines += ["|---|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            lines.append(
                f"| `{p['name']}` | {p['in']} | {_type(schema)} | "
                f"{'yes' if p.get('required') else 'no'} | {_limits(schema)} | "
                f"{p.get('description', schema.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        lines += [f"Body (JSON): {_type(body['schema'])}.", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for code, response in op.get("responses", {}).items():
        content = response.get("content", {})
        kinds = [f"{kind}: {_type(c.get('schema', {}))}" for kind, c in content.items()]
        lines.append(f"| {code} | {response.get('description', '')} | {'; '.join(kinds)} |")
    return [*lines, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    if "oneOf" in schema:
        lines += [f"Exactly one of: `{json.dumps(schema['oneOf'])}`", ""]
    props = schema.get("properties", {})
    if props:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | limits | description |", "|---|---|---|---|---|"]
        for field, sub in props.items():
            lines.append(
                f"| `{field}` | {_type(sub)} | {'yes' if field in required else 'no'} | "
                f"{_limits(sub)} | {sub.get('description', '')} |"
            )
        lines.append("")
    return lines


def render(document: dict[str, Any]) -> str:
    lines = [INTRO, f"API version {document['info']['version']}.", ""]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            lines += _operation(method, path, op)
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += _schema(name, schema)
    return "\n".join(line.replace("\n", " ") if line.startswith("|") else line for line in lines)


if __name__ == "__main__":
    sys.stdout.write(render(spec()).rstrip() + "\n")
