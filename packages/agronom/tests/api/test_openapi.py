"""The committed OpenAPI contract is the live one (regenerate: uv run agronom openapi --write)."""

from __future__ import annotations

import json

from agronom.api import openapi


def test_the_committed_openapi_json_equals_the_generated_one() -> None:
    committed = json.loads(openapi.COMMITTED.read_text())
    assert committed == openapi.generate(), (
        "packages/agronom/openapi.json is stale: run `uv run agronom openapi --write` "
        "(a breaking change also needs a minor version bump: .ci/openapi-diff checks it)"
    )
    assert openapi.COMMITTED.read_text() == openapi.render(committed), "written by render()"


def test_the_contract_is_openapi_3_0_with_the_contract_endpoints_and_error_codes() -> None:
    document = openapi.generate()
    assert document["openapi"] == "3.0.3"
    assert {
        "/v1/ai/diagnose",
        "/v1/limits",
        "/v1/payments/sbp/webhook",
        "/v1/payments/sbp/autopay/webhook",
        "/v1/payments/sbp/autopay/cancel",
        "/v1/partner/orders",
        "/v1/dsr/delete_user",
    } <= set(document["paths"])
    codes = document["components"]["schemas"]["ErrorCode"]["enum"]
    assert codes == ["NO_LEAF", "LIMIT_EXCEEDED", "GPT_TIMEOUT", "BAD_REQUEST", "UNAUTHORIZED"]
    text = json.dumps(document)
    assert '"type": "null"' not in text and '"const"' not in text, "no OpenAPI 3.1 forms"
