"""`GET /listing/`: the filtered, ordered, paginated listing, served from Valkey."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from carpages_shared.payloads import ListingResponse
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from carpages_api.dedicated.overlay import etag, etag_matches
from carpages_api.listing.page_l1 import CachedPage
from carpages_api.listing.param_names import IGNORED_HEADER
from carpages_api.listing.query import FACETS, FUEL_TYPES, ORDERS, PIN_PATTERN, TRANSMISSIONS
from carpages_api.settings import ApiSettings
from carpages_api.web import contract
from carpages_api.web.deps import bearer_scheme, services_of


class DirectRoute(APIRoute):
    """An APIRoute whose handler passes the request straight to the endpoint.

    The listing endpoint declares no parameters or dependencies (listing.query parses the
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
                         "`ETag` and are publicly cacheable; reco and signed-in ones are not. "
                         "`X-Ignored-Params` lists unknown query parameters (tracking ones such "
                         "as `utm_*`, `gclid`, `fbclid` aside)."},
    304: {"description": "Not modified (anonymous `If-None-Match` matched the ETag)"},
    **contract.responses(
        s404="A slug token that stands for no filter (`detail`: `{\"slug\", \"token\"}`)",
        s503="Cache unavailable or not built; see Retry-After"),
}

# Parsed by listing.parsing (not by FastAPI, so unknown params stay ignored and every error has
# one shape); declared here, with the same types and bounds, for /docs and generated clients.
# Bounds that come from the settings are filled in per app (contract.fit_to_settings).
_ids, _int, _MAX = contract.int_list, contract.integer, contract.MAX_U32
PARAMETERS = [
    _ids("city_id", "city ids, comma list = any of", 1, _MAX, 50),
    _ids("make_id", "make ids (any of)", 1, _MAX, 50),
    _ids("make", "alias of `make_id` (the design's spelling)", 1, _MAX, 50),
    _ids("model_id", "model ids (any of)", 1, _MAX, 50),
    _ids("model", "alias of `model_id`", 1, _MAX, 50),
    _ids("variant_id", "variant ids (any of)", 1, _MAX, 50),
    _ids("color_id", "colour ids (any of)", 1, _MAX, 50),
    _ids("color", "alias of `color_id`", 1, _MAX, 50),
    contract.enum_list("fuel_type", "fuel types (any of)", FUEL_TYPES, 50),
    contract.enum_list("transmission", "transmissions (any of)", TRANSMISSIONS, 50),
    _ids("owner", "owner counts (any of)", 1, 99, 50),
    _ids("features", "feature ids: the car has ALL of them", 1, _MAX, 50),
    _int("price_min", "INR, inclusive", 0, _MAX), _int("price_max", "INR, inclusive", 0, _MAX),
    _int("year", "exact model year (= year_min and year_max)", 1900, 2100),
    _int("year_min", "inclusive", 1900, 2100), _int("year_max", "inclusive", 1900, 2100),
    _int("km_max", "inclusive", 0, _MAX),
    contract.number("rating_min", "0-5, inclusive", 0, 5),
    contract.text("slug", "SEO slug, e.g. used-tata-cars-in-mumbai (case-insensitive)",
                  maxLength=200, pattern=r"^([A-Za-z0-9]+(-[A-Za-z0-9]+)*)?$"),
    contract.text("order_by", "reco (default), newest, price_asc, price_desc "
                  "(case-insensitive)", enum=list(ORDERS)),
    _int("page_size", "cards per page", 1, 35, default=20),
    _int("page_no", "1-based page; page_no x page_size stays within the result window",
         1, 1000, default=1),
    _int("page", "alias of `page_no` (the design's spelling)", 1, 1000),
    _ids("seen_car_ids", "anonymous history, moved to the end of reco", 1, _MAX, 200),
    _ids("seen_card_ids", "alias of `seen_car_ids` (the design's spelling)", 1, _MAX, 200),
    _int("buyer_id", "ranking hint only; never unlocks private data", 1, _MAX),
    contract.enum_list("facets", "facet counts to return", FACETS, 50),
    contract.text("pin", "from next/previous links of reco listings (empty = none)",
                  pattern=f"^({PIN_PATTERN[1:-1]})?$"),
]
OPENAPI = {"parameters": PARAMETERS, "security": [{bearer_scheme.scheme_name: []}]}


@router.get("/listing/", response_model=None, responses=RESPONSES, openapi_extra=OPENAPI,
            summary="Filtered, ordered, paginated listing (see docs/listing.md)")
@router.get("/listing", response_model=None, include_in_schema=False)
async def listing(request: Request) -> Response:
    """Filters (explicit and/or `slug`), `order_by`, paging, optional `facets`."""
    # State and caller are read here rather than through Depends: solving dependencies costs a
    # good part of a cached page (and the plain-function `State` would hop to a thread).
    services = services_of(request.app)
    caller = services.verifier.identity(request.headers.get("authorization"))
    raw: bytes = request.scope["query_string"]
    l1 = services.listing_l1 if caller.anonymous else None
    fill = None
    if l1 is not None:
        cached = l1.get(raw, services.ranker)
        services.listing.count("listing_l1", "hit" if cached is not None else "miss")
        if cached is not None:
            return _answer(request, services.settings, cached, anonymous=True)
        fill = l1.begin(services.ranker)
    query, ignored = services.queries.parse(raw, lambda: request.query_params.multi_items())
    page = await services.listing.read(query, caller.buyer_id, services.ranker)
    body = page.body()
    public = not page.personalised and caller.anonymous
    made = CachedPage(body, etag(body) if public else "", page.personalised, ignored)
    if l1 is not None and fill is not None:
        l1.finish(raw, fill, made)
    return _answer(request, services.settings, made, caller.anonymous)


def _answer(request: Request, settings: ApiSettings, page: CachedPage,
            anonymous: bool) -> Response:
    """The response for a page body: private for reco and signed-in pages, else public with a
    strong ETag (and a 304 when If-None-Match matches it)."""
    if page.personalised or not anonymous:
        headers = {"Cache-Control": "private, no-store"}
        if page.ignored is not None:
            headers[IGNORED_HEADER] = page.ignored
        return Response(page.body, media_type="application/json", headers=headers)
    headers = {
        "ETag": page.etag,
        "Cache-Control": f"public, max-age={settings.cache_max_age_s}, "
                         f"stale-while-revalidate={settings.cache_swr_s}",
        "Vary": "Authorization",
    }
    if page.ignored is not None:
        headers[IGNORED_HEADER] = page.ignored
    # Answered whatever the request's own Cache-Control says (browsers' reload sends no-cache).
    if etag_matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)


def documented_route() -> APIRoute:
    """The `/listing/` route (what metrics label a listing request with)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/listing/")
