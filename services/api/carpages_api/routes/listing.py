"""`GET /listing/`: the filtered, ordered, paginated listing, served from Valkey."""

from __future__ import annotations

from typing import Any

from carpages_shared.payloads import ErrorBody, ListingResponse
from fastapi import APIRouter, Request
from starlette.responses import Response

from carpages_api.auth import Caller
from carpages_api.deps import State
from carpages_api.listing_query import parse_query
from carpages_api.listing_reader import ListingReader
from carpages_api.listing_setup import limits
from carpages_api.overlay import etag, etag_matches

router = APIRouter(tags=["listing"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ListingResponse,
          "description": "A page of listing cards. Anonymous non-reco responses carry a strong "
                         "`ETag` and are publicly cacheable; reco and signed-in ones are not."},
    304: {"description": "Not modified (anonymous `If-None-Match` matched the ETag)"},
    401: {"model": ErrorBody, "description": "Malformed, expired or wrongly signed token"},
    404: {"model": ErrorBody, "description": "A slug token that stands for no filter"},
    422: {"model": ErrorBody, "description": "Invalid parameter (named in `detail`)"},
    503: {"model": ErrorBody, "description": "Cache unavailable or not built; see Retry-After"},
}

# Parsed by listing_query (not by FastAPI, so unknown params stay ignored and every error has one
# shape); listed here so /docs shows them.
PARAMS = {
    "city_id": "city ids, comma list = any of", "make_id": "make ids (any of)",
    "model_id": "model ids (any of)", "variant_id": "variant ids (any of)",
    "color_id": "colour ids (any of)", "fuel_type": "petrol,diesel,cng,electric,hybrid,lpg",
    "transmission": "manual,automatic", "owner": "owner counts (any of)",
    "features": "feature ids: the car has ALL of them", "price_min": "INR, inclusive",
    "price_max": "INR, inclusive", "year_min": "inclusive", "year_max": "inclusive",
    "km_max": "inclusive", "rating_min": "0-5", "slug": "SEO slug, e.g. used-tata-cars-in-mumbai",
    "order_by": "reco (default), newest, price_asc, price_desc",
    "page_size": "cards per page (default 20, max 35)", "page_no": "1-based page",
    "seen_car_ids": "anonymous history, moved to the end of reco (alias seen_card_ids)",
    "buyer_id": "ranking hint only; never unlocks private data",
    "facets": "city_id,make_id,model_id,variant_id,color_id,fuel_type,transmission,owner,"
              "features,price,year", "pin": "from next/previous links of reco listings",
}
OPENAPI = {"parameters": [{"name": name, "in": "query", "required": False,
                           "schema": {"type": "string"}, "description": text}
                          for name, text in PARAMS.items()]}


@router.get("/listing/", response_model=None, responses=RESPONSES, openapi_extra=OPENAPI,
            summary="Filtered, ordered, paginated listing (see docs/listing.md)")
@router.get("/listing", response_model=None, include_in_schema=False)
async def listing(request: Request, state: State, caller: Caller) -> Response:
    """Filters (explicit and/or `slug`), `order_by`, paging, optional `facets`."""
    settings = state.settings
    query = parse_query(request.query_params.multi_items(), limits(settings))
    reader: ListingReader = state.extras["listing_reader"]
    page = await reader.read(query, caller.buyer_id, state.extras["ranker"])
    body = page.body()
    if page.personalised or not caller.anonymous:
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": "private, no-store"})
    tag = etag(body)
    headers = {
        "ETag": tag,
        "Cache-Control": f"public, max-age={settings.cache_max_age_s}, "
                         f"stale-while-revalidate={settings.cache_swr_s}",
        "Vary": "Authorization",
    }
    # Answered whatever the request's own Cache-Control says (browsers' reload sends no-cache).
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
