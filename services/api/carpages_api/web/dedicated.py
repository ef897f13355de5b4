"""`GET /listing/{car_id}/`: the cached page bytes with the caller's dynamic fields spliced in."""

from __future__ import annotations

from typing import Any

from carpages_shared.payloads import DedicatedPageResponse
from fastapi import APIRouter, Request
from starlette.responses import Response

from carpages_api.listing.param_names import IGNORED_HEADER
from carpages_api.web import contract
from carpages_api.web.deps import bearer_scheme, services_of
from carpages_api.web.id_params import page_query, parse_id
from carpages_api.web.listing import DirectRoute

router = APIRouter(tags=["dedicated page"], route_class=DirectRoute)

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DedicatedPageResponse,
          "description": "The car's page with the caller's dynamic fields at top level. "
                         "`X-Cache: hit|miss`; anonymous responses carry a strong `ETag`; "
                         "`X-Ignored-Params` lists unknown query parameters (tracking ones "
                         "such as `utm_*`, `gclid`, `fbclid` aside)."},
    304: {"description": "Not modified (anonymous `If-None-Match` matched the ETag)"},
    **contract.responses(s404="No live car with this id (`detail`: `{\"car_id\": N}`)",
                         s503="Cache or database unavailable; see Retry-After"),
}
SEEN = "anonymous visitors' viewed car ids (`1,2,3`), for `is_seen`"
OPENAPI = {"parameters": [
    contract.integer("car_id", "positive integer id of the car (plain digits)", 1,
                     2_147_483_647, where="path", examples=[14006824]),
    contract.int_list("seen_car_ids", SEEN, 1, 2_147_483_647, 200),
    contract.int_list("seen_card_ids", "alias of `seen_car_ids` (the design's spelling)", 1,
                      2_147_483_647, 200),
], "security": [{bearer_scheme.scheme_name: []}]}


@router.get("/listing/{car_id}/", response_model=None, responses=RESPONSES,
            summary="One car's dedicated page with per-buyer fields", openapi_extra=OPENAPI)
@router.get("/listing/{car_id}", response_model=None, include_in_schema=False)
async def dedicated_page(request: Request) -> Response:
    """The cached page plus is_seen, test_drive_booked, offer_amount, interested_people and,
    for a buyer whose subscription is current, seller_mobile_no and inspection_report."""
    # Parameters are parsed here (web.id_params), not by FastAPI: every bad shape gets the same
    # 422, and the lane (dedicated_lane) parses exactly alike. (Most L1 hits never get here.)
    services = services_of(request.app)
    service = services.pages
    caller = services.verifier.identity(request.headers.get("authorization"))
    car = parse_id(request.path_params["car_id"], "car_id", service.max_car_id)
    seen, ignored = page_query(request.scope["query_string"], service.max_car_id,
                               service.max_seen_ids)
    response = await service.answer(car, caller.buyer_id, seen,
                                    request.headers.get("if-none-match"))
    if ignored is not None:
        response.raw_headers.append((IGNORED_HEADER.encode(), ignored.encode()))
    return response
