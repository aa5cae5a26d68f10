"""The published OpenAPI document: generated from the app, written as OpenAPI 3.0.3.

FastAPI writes OpenAPI 3.1; ``openapi-diff`` (the contract's change-management check, run by
``.ci/openapi-diff``) reads 3.0 only. :func:`downgrade` rewrites the few 3.1 forms FastAPI
uses (``anyOf`` with ``{"type": "null"}``, ``const``, ``examples``, numeric
``exclusiveMinimum``/``exclusiveMaximum``) into their 3.0 equivalents. The committed copy is
``packages/agronom/openapi.json``; ``agronom openapi --write`` regenerates it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parents[3] / "openapi.json"


def generate() -> dict[str, Any]:
    """The live document of :func:`agronom.api.app.create_app`, as OpenAPI 3.0.3."""
    from agronom.api.app import create_app  # noqa: PLC0415 - FastAPI is heavy to import
    from agronom.settings import Settings  # noqa: PLC0415

    # The schema depends on code only: no database is opened to build it.
    settings = Settings.model_validate({"app_env": "test"})
    app = create_app(settings, database_url="postgresql://unused/agronom")
    document: dict[str, Any] = downgrade(app.openapi())
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if not isinstance(options, list):
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) == len(options):
        return schema
    out = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
    if len(rest) == 1 and "$ref" not in rest[0]:
        out.update(rest[0])
    elif len(rest) == 1:
        out["allOf"] = rest
    else:
        out["anyOf"] = rest
    out["nullable"] = True
    return out


def downgrade(node: Any) -> Any:
    """An OpenAPI 3.1 document (or part of one) rewritten as OpenAPI 3.0.3."""
    if isinstance(node, list):
        return [downgrade(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = _nullable(node)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "openapi":
            out[key] = "3.0.3"
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = downgrade(value[0])
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "contentMediaType":
            continue
        else:
            out[key] = downgrade(value)
    return out
