"""Completion webhooks: the job JSON POSTed to the job's ``webhook_url``, signed.

``X-TrendFlow-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes under
``TRENDFLOW_WEBHOOK_SECRET``; a receiver recomputes it over the raw body and compares in constant
time (:func:`verify`). ``X-TrendFlow-Job`` names the job. A delivery that fails is retried a few
times by the workflow; its outcome never changes the job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

SIGNATURE_HEADER = "X-TrendFlow-Signature"


class WebhookError(Exception):
    """The receiver did not take the delivery (a status other than 2xx, or no answer)."""


def body(job: dict[str, Any]) -> bytes:
    return json.dumps(job, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(payload: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(payload: bytes, signature: str, secret: str) -> bool:
    """Whether ``signature`` (the header's value) signs ``payload``."""
    return hmac.compare_digest(sign(payload, secret), signature)


async def deliver(http: httpx.AsyncClient, url: str, job: dict[str, Any], secret: str) -> None:
    """POST the job JSON once; raise :class:`WebhookError` unless the receiver answers 2xx."""
    payload = body(job)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(payload, secret),
        "X-TrendFlow-Job": str(job["id"]),
    }
    try:
        response = await http.post(url, content=payload, headers=headers)
    except httpx.HTTPError as error:
        raise WebhookError(f"{type(error).__name__}: {error}") from error
    if not response.is_success:
        raise WebhookError(f"{url} answered {response.status_code}")
