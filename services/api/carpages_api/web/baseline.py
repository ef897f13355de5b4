"""`/_baseline/*`: the benchmark's DB-direct twins of the two pages (mounted only on request)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from carpages_api.errors import ApiError
from carpages_api.store import mysql_direct
from carpages_api.web.deps import ServicesDep
from carpages_api.web.id_params import parse_id

router = APIRouter(tags=["benchmark"], include_in_schema=False)


@router.get("/_baseline/listing/{car_id}/")
async def baseline_page(car_id: str, services: ServicesDep) -> Response:
    """The dedicated page assembled from MySQL on every request."""
    pool = services.mysql_pool
    assert pool is not None  # the router is mounted only with bench_baseline, which makes it
    body = await mysql_direct.page(pool, parse_id(car_id, "car_id", services.settings.max_car_id))
    if body is None:
        raise ApiError(404, "car not found")
    return Response(body, media_type="application/json")


@router.get("/_baseline/listing/")
async def baseline_listing(services: ServicesDep, city_id: int = Query(ge=1),
                           page_no: int = Query(1, ge=1, le=1000),
                           page_size: int = Query(20, ge=1, le=35)) -> Response:
    """A city listing (price order) assembled from MySQL on every request."""
    pool = services.mysql_pool
    assert pool is not None  # the router is mounted only with bench_baseline, which makes it
    return Response(await mysql_direct.listing(pool, city_id, page_size, page_no),
                    media_type="application/json")
