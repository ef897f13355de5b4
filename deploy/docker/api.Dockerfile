# syntax=docker/dockerfile:1.7
# carpages API: FastAPI on uvicorn (uvloop + httptools). Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t carpages-api:0.1.0 .
# Carries only carpages-api and carpages-shared with their locked dependencies: no trainer
# (SciPy, LightFM) and no CDC (Kafka, binlog) packages.
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
    uv sync --frozen --no-dev --no-install-workspace --package carpages-api
# Then this service's code and the shared package, installed as wheels (not editable), so the
# runtime stage needs nothing but the virtual environment.
COPY shared/pyproject.toml shared/pyproject.toml
COPY shared/carpages_shared shared/carpages_shared
COPY services/api/pyproject.toml services/api/pyproject.toml
COPY services/api/carpages_api services/api/carpages_api
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package carpages-api

FROM python:3.11.13-slim-bookworm AS runtime
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 carpages \
    && useradd --system --uid 10001 --gid carpages --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin carpages
# Root-owned and read-only to the service user: the process cannot alter its own code.
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /app
EXPOSE 8000
# Liveness only (the process answers); readiness (/readyz) is the orchestrator's business.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["python", "-m", "carpages_api"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
