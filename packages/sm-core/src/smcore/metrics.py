"""Prometheus metrics. Each process exposes its own: the API at ``GET /metrics``, a worker on
``sm-core worker --metrics-port``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_LATENCY = Histogram(
    "smcore_http_request_duration_seconds",
    "HTTP API request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PAGES_SYNCED = Counter(
    "smcore_pages_synced_total",
    "Provider pages stored by sync streams (one per page, whatever its rows)",
    ["platform", "stream"],
)
PROVIDER_CALLS = Counter(
    "smcore_provider_calls_total",
    "HTTP requests to third-party providers, by outcome (ok or the error kind)",
    ["provider", "status"],
)
RATE_LIMIT_WAIT = Histogram(
    "smcore_rate_limit_wait_seconds",
    "Waits before a provider request: the shared limiter's pacing, or backoff after a 429",
    ["provider", "reason"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
)
QUOTA_PAUSES = Counter(
    "smcore_quota_pauses_total",
    "Times a provider's quota ran out and every worker paused it",
    ["provider"],
)
MEDIA_DOWNLOADS = Counter(
    "smcore_media_downloads_total",
    "Media files the Transform stage tried to download, by outcome (stored, expired, failed, "
    "pending: to be retried)",
    ["platform", "outcome"],
)
ANALYSIS_REQUESTS = Counter(
    "smcore_analysis_requests_total",
    "Requests to the analysis service, by what they did (submitted, polled, done, failed, "
    "unreachable: the service was down, refused: it rejected the request)",
    ["kind", "outcome"],
)
