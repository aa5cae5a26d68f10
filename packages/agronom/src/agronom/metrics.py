"""Prometheus metrics of Pocket Agronomist: one place that names them all.

Each process exposes its own registry: the API at ``GET /metrics``. Counters and histograms
count what this process did; the gauges of stored state (payments by status, the oldest open
DSR request) are read from the database when Prometheus scrapes, so every API process reports
the same truth.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "agronom_http_request_duration_seconds",
    "HTTP API request latency, by route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DIAGNOSES = Counter(
    "agronom_diagnoses_total",
    "Diagnose requests by outcome: ok, or the error code they were refused with",
    ["outcome"],
)
MODEL_LATENCY = Histogram(
    "agronom_model_call_duration_seconds",
    "Calls to the vision model, by outcome (ok, timeout, refused, error)",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0),
)
REFUSALS = Counter(
    "agronom_refusals_total",
    "Requests refused before any work, by reason (rate limit, refused-photo cap, …)",
    ["reason"],
)
PAYMENTS = Gauge(
    "agronom_payments",
    "Stored payments by provider and status (read from the database at scrape time)",
    ["provider", "status"],
)
DSR_OLDEST_OPEN_SECONDS = Gauge(
    "agronom_dsr_oldest_open_request_age_seconds",
    "Age of the oldest unfinished DSR deletion request; 0 when none is open (contract: 30 days)",
)
