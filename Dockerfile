# syntax=docker/dockerfile:1
# SM Core (default) or Pocket Agronomist (--build-arg APP=agronom): one image per app, its
# processes picked by START_MODE=api|worker|migrate (agronom also bot) (docker/entrypoint.sh).
#   docker build -t sm-core .
#   docker build --build-arg APP=agronom -t agronom .
#   docker run -e START_MODE=api -e APP_ENV=production -e ... -p 8000:8000 sm-core
# docker-compose.yml runs it with PostgreSQL and Temporal.

# Builder and runtime share the base and so the interpreter: the venv's python links to PYTHON.
# Any base with CPython 3.11 and its venv module will do: the official image (the default), or
# a Debian bookworm made with debootstrap (python3.11 and its venv module, ca-certificates) and
# `podman import`, with PYTHON=/usr/bin/python3.11 (benchmarks/image.py builds that way).
ARG PYTHON_IMAGE=python:3.11-slim
ARG PYTHON=/usr/local/bin/python3.11
# The workspace member the image runs: sm-core or agronom.
ARG APP=sm-core

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ARG PYTHON
ARG APP

# An optional build secret `ca_bundle`: a CA bundle for a network that inspects TLS
# (`--secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt`). pip and uv trust it while
# they download; a secret is never stored in a layer.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=${PYTHON} \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv pinned to the version that wrote uv.lock, in a venv of its own (a Debian base's system
# python refuses pip installs); this stage is thrown away.
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && "${PYTHON}" -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check uv==0.13.9 \
    && ln -s /opt/uv/bin/uv /usr/local/bin/uv

WORKDIR /src

# Dependencies first, in their own layer: rebuilt only when the lock changes. --locked checks the
# lock against the whole workspace, so every member's pyproject.toml is needed (a new member
# fails here, loudly, until it is added).
COPY uv.lock pyproject.toml ./
COPY packages/devstack/pyproject.toml packages/devstack/
COPY packages/socialsim/pyproject.toml packages/socialsim/
COPY packages/sm-core/pyproject.toml packages/sm-core/
COPY packages/trendflow/pyproject.toml packages/trendflow/
COPY packages/agronom/pyproject.toml packages/agronom/
COPY packages/agrosim/pyproject.toml packages/agrosim/
# devstack comes without its `embedded` extra: no PostgreSQL or Temporal binaries in the image.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi \
    && uv sync --locked --no-dev --no-install-workspace --package ${APP}

# Then the app and devstack (the only members it needs), installed as wheels (--no-editable):
# the runtime stage takes the venv alone, not the sources.
COPY packages/devstack/src packages/devstack/src
COPY packages/${APP}/src packages/${APP}/src
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi \
    && uv sync --locked --no-dev --no-editable --package ${APP}

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG APP

RUN groupadd --system --gid 10001 smcore \
    && useradd --system --uid 10001 --gid smcore --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin smcore

# Owned by root, read-only to the app: the process cannot rewrite its own code.
COPY --from=builder /app/.venv /app/.venv
COPY --chmod=0755 docker/entrypoint.sh docker/healthcheck.sh /app/docker/

# APP_ENV=production: every setting must come from the environment (the SECRETS_MANAGER rule),
# so an unconfigured container stops with one line naming the missing keys instead of starting
# the embedded development servers.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    APP_BIN=${APP} \
    PORT=8000

WORKDIR /app
# Numeric, so that a runtime can verify it is not root (Kubernetes runAsNonRoot).
USER 10001:10001
EXPOSE 8000

# api: GET /health (database and Temporal reachable); other modes report healthy while running.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/app/docker/healthcheck.sh"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
