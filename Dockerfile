# syntax=docker/dockerfile:1
#
# One image for every service of campaign-queue. The service is chosen by the
# command, e.g. `python -m services.sender`; the default command runs the api.
# The same image applies the database schema and exits:
# `python -m shared.database migrate` (compose's `migrate` service, the
# Kubernetes initContainers), so schema and code always come from one build;
# its Alembic files live under shared/database/ and are copied with shared/.
#
#   docker build -t campaign-queue:dev .
#
# Both stages use the same base image on purpose: the venv built in the first
# stage links to /usr/local/bin/python3.11 and must find it at the same path in
# the second.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------
# builder: a venv with the runtime dependencies, at the versions of requirements.lock.
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# No PYTHONDONTWRITEBYTECODE here: pip should byte-compile what it installs,
# because the runtime stage cannot (read-only root filesystem).
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
# requirements.lock pins the runtime tree only; the dev tools live in requirements-dev.lock.
COPY requirements.lock ./
RUN pip install --requirement requirements.lock && pip check

# --------------------------------------------------------------------------
# runtime: the venv, the sources, a non-root user. No build tools, no pip cache.
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="campaign-queue" \
      org.opencontainers.image.description="Kafka-based WhatsApp campaign queue (api, dispatcher, sender, metrics)"

# HOME=/tmp: the user has no home directory and the root filesystem is
# read-only in compose and Kubernetes; anything a library caches under $HOME
# lands on the writable /tmp mount instead of failing.
# PYTHONPATH=/app: `python -m services.x` finds the packages even if a
# platform overrides the working directory.
# The *_HOST variables: inside a container a service must listen on every
# interface to be reachable; the settings model defaults to 127.0.0.1, which
# is right on a laptop and wrong here. Compose and Kubernetes set them again.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    API_HOST=0.0.0.0 \
    HEALTH_HOST=0.0.0.0 \
    SANDBOX_HOST=0.0.0.0

# Fixed uid/gid 10001 so Kubernetes can check runAsNonRoot/runAsUser against a
# number and volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Only what the services need at runtime; see .dockerignore for the rest.
# Files stay owned by root: the app user can read, not modify, its own code.
COPY pyproject.toml ./
COPY shared/ ./shared/
COPY services/ ./services/
COPY campaignctl/ ./campaignctl/

# Byte-compile at build time: PYTHONDONTWRITEBYTECODE and the read-only root
# filesystem stop Python from caching .pyc files at runtime, so without this
# every start would recompile the sources.
# /var/lib/campaign-queue is the only directory the app writes to (the faust
# data dir of the dispatcher, DISPATCHER_DATA_DIR in compose/k8s). It is created
# here, owned by the app user, so a fresh Docker named volume mounted on it
# inherits that ownership.
# campaignctl, the command-line tool, for `docker compose exec api campaignctl ...`:
# a launcher on PATH, as the package's console script would be.
RUN python -m compileall -q /app/shared /app/services /app/campaignctl \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/campaign-queue \
 && printf '#!/bin/sh\nexec python -m campaignctl "$@"\n' > /opt/venv/bin/campaignctl \
 && chmod 0755 /opt/venv/bin/campaignctl

USER 10001:10001

# api 8000; health ports of dispatcher 8101, sender 8102, metrics 8103;
# twilio sandbox (dev only) 8090. Documentation only: nothing is published.
EXPOSE 8000 8101 8102 8103 8090

# No HEALTHCHECK here: the port depends on the service the container runs, so
# compose and Kubernetes define the check per service.
# The services drain in-flight work on SIGTERM (the default stop signal).
CMD ["python", "-m", "services.api"]
