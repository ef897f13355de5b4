# syntax=docker/dockerfile:1.7
# carpages recommendations trainer: `python -m carpages_reco train [--every 45m]`. Build from the
# repository root:
#   docker build -f deploy/docker/reco.Dockerfile -t carpages-reco:0.1.0 .
# Carries only carpages-reco and carpages-shared with their locked dependencies (LightFM, SciPy,
# NumPy); no web server and no CDC packages.
#
# Base images are pinned by tag. For reproducible production builds pin the digest too:
#   FROM python:3.11.13-slim-bookworm@sha256:<digest>
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm` prints it).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.13-slim-bookworm AS build
# rectools-lightfm ships only an sdist: its C extension (OpenMP) is compiled here, and the
# compiler stays in this stage. Package versions come from the pinned bookworm base; Debian
# point releases replace exact versions on the mirrors, so pinning them would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
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
    uv sync --frozen --no-dev --no-install-workspace --package carpages-reco
# Then this service's code and the shared package, installed as wheels (not editable), so the
# runtime stage needs nothing but the virtual environment.
COPY shared/pyproject.toml shared/pyproject.toml
COPY shared/carpages_shared shared/carpages_shared
COPY services/reco/pyproject.toml services/reco/pyproject.toml
COPY services/reco/carpages_reco services/reco/carpages_reco
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package carpages-reco

FROM python:3.11.13-slim-bookworm AS runtime
# The compiled LightFM extension links libgomp (OpenMP) at run time; no compiler here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 carpages \
    && useradd --system --uid 10001 --gid carpages --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin carpages
# Root-owned and read-only to the service user: the process cannot alter its own code.
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /app
# The trainer serves nothing; healthy means the package and its compiled extension import.
HEALTHCHECK --interval=60s --timeout=10s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import carpages_reco, lightfm._lightfm_fast_openmp"]
ENTRYPOINT ["python", "-m", "carpages_reco"]
CMD ["train", "--every", "45m"]
