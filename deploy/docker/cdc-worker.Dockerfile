# syntax=docker/dockerfile:1.7
# carpages CDC worker: `cdc_worker publish | apply | rebuild | reconcile | check`. Build from the
# repository root:
#   docker build -f deploy/docker/cdc-worker.Dockerfile -t carpages-cdc-worker:0.1.0 .
# Carries only carpages-cdc-worker and carpages-shared with their locked dependencies: no web
# server and no trainer packages.
#
# Base images are pinned by tag. For reproducible production builds pin the digest too:
#   FROM python:3.11.13-slim-bookworm@sha256:<digest>
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm` prints it).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.13-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, in a layer that only changes with the lock. `--frozen` installs exactly
# what uv.lock pins without re-resolving, so the lock and the workspace root are all it needs.
COPY uv.lock pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package carpages-cdc-worker
# Then this service's code and the shared package, installed as wheels (not editable), so the
# runtime stage needs nothing but the virtual environment.
COPY shared/pyproject.toml shared/pyproject.toml
COPY shared/carpages_shared shared/carpages_shared
COPY services/cdc_worker/pyproject.toml services/cdc_worker/pyproject.toml
COPY services/cdc_worker/carpages_cdc services/cdc_worker/carpages_cdc
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package carpages-cdc-worker

FROM python:3.11.13-slim-bookworm AS runtime
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 carpages \
    && useradd --system --uid 10001 --gid carpages --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin carpages
# Root-owned and read-only to the service user: the process cannot alter its own code.
COPY --from=build /app/.venv /app/.venv
# WORKER_ROLE only picks which heartbeat the HEALTHCHECK reads (publish or apply); the role the
# process runs is its command. Kubernetes ignores HEALTHCHECK and uses the manifests' probes.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WORKER_ROLE=apply
USER 10001:10001
WORKDIR /app
# Prometheus metrics when CDC_METRICS_PORT=9100 is set.
EXPOSE 9100
# `check` exits non-zero when this process's heartbeat for the role is missing or stale.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "exec cdc_worker check --role \"$WORKER_ROLE\""]
ENTRYPOINT ["cdc_worker"]
CMD ["apply"]
