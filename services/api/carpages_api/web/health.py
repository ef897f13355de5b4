"""Liveness, readiness and metrics endpoints for Kubernetes probes and Prometheus."""

from __future__ import annotations

import asyncio

from carpages_shared import keys
from fastapi import APIRouter
from starlette.responses import Response

from carpages_api.errors import json_error
from carpages_api.web.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> Response:
    """Alive; deliberately checks nothing else so a Valkey outage never restarts pods."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz", summary="Readiness: Valkey reachable and a cache generation present")
async def readyz(services: ServicesDep) -> Response:
    """Ready when a reader (a replica, else the primary) answers and the listing has a build."""
    try:
        build = await asyncio.wait_for(
            services.readers.run(lambda reader: reader.hget(keys.meta(), "build")),
            services.settings.valkey_timeout_s * 3)
    except (OSError, TimeoutError, ConnectionError) as exc:
        return json_error(503, "valkey unreachable", type(exc).__name__)
    except Exception as exc:  # valkey's own error classes do not all derive from OSError
        return json_error(503, "valkey unreachable", type(exc).__name__)
    if build is None:
        return json_error(503, "no cache generation yet")
    return Response(b'{"status":"ready","build":' + build + b"}", media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text exposition."""
    return Response(services.metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")
