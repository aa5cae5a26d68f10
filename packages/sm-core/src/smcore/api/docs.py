"""docs/API.md from the OpenAPI document: ``uv run python -m smcore.api.docs > docs/API.md``.

A test renders it again and compares, so the page never drifts from the API.
"""

from __future__ import annotations

import sys
from typing import Any

from devstack import openapi_markdown
from smcore.api.app import create_app
from smcore.settings import Settings

INTRO = """# SM Core HTTP API

Generated from the OpenAPI document (`GET /openapi.json`, interactive at `/docs`) by
`uv run python -m smcore.api.docs > docs/API.md`; a test fails when the two differ.

Start it with `uv run sm-core api [--host H] [--port P]`. Write endpoints need an `X-API-Key`
header (keys: `API_KEYS`, comma-separated); read endpoints are public unless
`API_PUBLIC_READS=false`. Errors are JSON `{"detail": …}`: 401 without a valid key, 404 for an
unknown id, 422 with what is wrong for a bad parameter or body. `GET /metrics` serves Prometheus
text; a worker serves its own with `sm-core worker --metrics-port PORT`. The same process serves
the web dashboard (HTML pages for people, not part of this API) at `/`.
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
