"""`GET /listing/`: the filtered, ordered, paginated listing, served from Valkey."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from carpages_shared.payloads import ErrorBody, ListingResponse
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from carpages_api.auth import bearer_scheme, verifier_for
from carpages_api.listing_reader import ListingReader
from carpages_api.overlay import etag, etag_matches
from carpages_api.parsed_queries import ParsedQueries
from carpages_api.state import AppState


class DirectRoute(APIRoute):
    """An APIRoute whose handler passes the request straight to the endpoint.

    The listing endpoint declares no parameters or dependencies (listing_query parses the
    query string, the caller is read from the header), so FastAPI's per-request dependency
    solving would only cost time; the docs still come from the route's declaration.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """`endpoint(request)`, nothing around it."""
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler


router = APIRouter(tags=["listing"], route_class=DirectRoute)

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
                          for name, text in PARAMS.items()],
           "security": [{bearer_scheme.scheme_name: []}]}


@router.get("/listing/", response_model=None, responses=RESPONSES, openapi_extra=OPENAPI,
            summary="Filtered, ordered, paginated listing (see docs/listing.md)")
@router.get("/listing", response_model=None, include_in_schema=False)
async def listing(request: Request) -> Response:
    """Filters (explicit and/or `slug`), `order_by`, paging, optional `facets`."""
    # State and caller are read here rather than through Depends: solving dependencies costs a
    # good part of a cached page (and the plain-function `State` would hop to a thread).
    state: AppState = request.app.state.carpages
    caller = verifier_for(state).identity(request.headers.get("authorization"))
    settings = state.settings
    queries: ParsedQueries = state.extras["listing_queries"]
    query = queries.parse(request.scope["query_string"],
                          lambda: request.query_params.multi_items())
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


def documented_route() -> APIRoute:
    """The `/listing/` route (what metrics label a listing request with)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/listing/")
