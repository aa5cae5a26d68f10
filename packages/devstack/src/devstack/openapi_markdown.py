"""An OpenAPI document as a Markdown page: every operation (parameters, body, responses) and
every schema (fields, types, limits), for the apps' ``docs/*.md`` API references. Each app gives
its own introduction and renders its own document; a test of each compares the page with it."""

from __future__ import annotations

import json
from typing import Any


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


def render(document: dict[str, Any], intro: str) -> str:
    """The page: ``intro``, the API version, the operations, then the schemas."""
    lines = [intro, f"API version {document['info']['version']}.", ""]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            lines += _operation(method, path, op)
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += _schema(name, schema)
    return "\n".join(line.replace("\n", " ") if line.startswith("|") else line for line in lines)
