#!/bin/sh
# The image's HEALTHCHECK. In api mode: GET /health, healthy only on 200 (the API answers 503,
# naming the part, while PostgreSQL or Temporal is unreachable). Other modes serve no HTTP:
# a worker's liveness shows in Temporal (its pollers and activity heartbeats), and migrate
# runs once, so they report healthy while their process runs.
set -eu

[ "${START_MODE:-}" = api ] || exit 0

exec python -c '
import os, sys, urllib.request

url = "http://127.0.0.1:%s/health" % os.environ.get("PORT", "8000")
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
'
