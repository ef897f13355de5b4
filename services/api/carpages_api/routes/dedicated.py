"""`GET /listing/{car_id}/`: the cached page bytes with the caller's dynamic fields spliced in."""

from __future__ import annotations

from typing import Annotated, Any

from carpages_shared.payloads import DedicatedPageResponse, ErrorBody
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from carpages_api.auth import bearer_scheme
from carpages_api.id_params import parse_id, parse_id_list
from carpages_api.page_service import service_of

router = APIRouter(tags=["dedicated page"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DedicatedPageResponse,
          "description": "The car's page with the caller's dynamic fields at top level. "
                         "`X-Cache: hit|miss`; anonymous responses carry a strong `ETag`."},
    304: {"description": "Not modified (anonymous `If-None-Match` matched the ETag)"},
    401: {"model": ErrorBody, "description": "Malformed, expired or wrongly signed token"},
    404: {"model": ErrorBody, "description": "No live car with this id"},
    422: {"model": ErrorBody, "description": "Invalid `car_id` or `seen_car_ids`"},
    503: {"model": ErrorBody, "description": "Cache or database unavailable; see Retry-After"},
}

CarIdPath = Annotated[str, Path(description="positive integer id of the car",
                                examples=["14006824"])]
SeenIds = Annotated[str | None, Query(
    description="anonymous visitors' viewed car ids, comma-separated (`1,2,3`), for `is_seen`")]


@router.get("/listing/{car_id}/", response_model=None, responses=RESPONSES,
            summary="One car's dedicated page with per-buyer fields",
            openapi_extra={"security": [{bearer_scheme.scheme_name: []}]})
@router.get("/listing/{car_id}", response_model=None, include_in_schema=False)
async def dedicated_page(car_id: CarIdPath, request: Request,
                         seen_car_ids: SeenIds = None) -> Response:
    """The cached page plus is_seen, test_drive_booked, offer_amount, interested_people and,
    for a buyer whose subscription is current, seller_mobile_no and inspection_report."""
    # The caller is read here rather than through Depends: solving dependencies costs as much
    # as an L1 hit. (Most L1 hits never get here: see fast_lane.)
    service = service_of(request.app.state.carpages)
    caller = service.verifier.identity(request.headers.get("authorization"))
    car = parse_id(car_id, "car_id", service.max_car_id)
    seen = parse_id_list(seen_car_ids, "seen_car_ids", service.max_car_id, service.max_seen_ids)
    return await service.answer(car, caller.buyer_id, seen, request.headers.get("if-none-match"))
