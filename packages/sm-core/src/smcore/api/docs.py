"""docs/API.md from the OpenAPI document: ``uv run python -m smcore.api.docs > docs/API.md``.

A test renders it again and compares, so the page never drifts from the API.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from smcore.api.app import create_app
from smcore.settings import Settings

INTRO = """# SM Core HTTP API

Generated from the OpenAPI document (`GET /openapi.json`, interactive at `/docs`) by
`uv run python -m smcore.api.docs > docs/API.md`; a test fails when the two differ.

Start it with `uv run sm-core api [--host H] [--port P]`. Write endpoints need an `X-API-Key`
header (keys: `API_KEYS`, comma-separated); read endpoints are public unless
`API_PUBLIC_READS=false`. Errors are JSON `{"detail": …}`: 401 without a valid key, 404 for an
unknown id, 422 with what is wrong for a bad parameter or body. `GET /metrics` serves Prometheus
text; a worker serves its own with `sm-core worker --metrics-port PORT`.
"""


def spec() -> dict[str, Any]:
    settings = Settings.load(app_env="development")
    app = create_app(settings, database_url="postgresql://unused/unused", temporal_address=None)
    document: dict[str, Any] = app.openapi()
    return document


def _type(schema: dict[str, Any]) -> str:
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
    return str(schema.get("type", "any"))


def _limits(schema: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "maxLength", "pattern", "default")
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
        kind = next(iter(content), "")
        shape = _type(content[kind].get("schema", {})) if kind else ""
        lines.append(f"| {code} | {response.get('description', '')} | {shape} |")
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
