"""`GET /listing/{car_id}/`: the cached page bytes with the caller's dynamic fields spliced in."""

from __future__ import annotations

import time
from typing import Annotated, Any

from carpages_shared.payloads import DedicatedPageResponse, ErrorBody
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from carpages_api.auth import Caller
from carpages_api.deps import State
from carpages_api.errors import ApiError
from carpages_api.id_params import parse_id, parse_id_list
from carpages_api.metrics import Metrics
from carpages_api.overlay import etag, etag_matches, splice
from carpages_api.page_fill import filler_for
from carpages_api.page_reader import PageRead, read_page
from carpages_api.state import AppState

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


class _NotFound(Exception):
    """No live car: `outcome` says how the cache answered (negative, or miss then no car)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


async def _lookup(state: AppState, reader: Any, car: int,
                  buyer_id: int | None) -> tuple[PageRead, str]:
    """The page read and how the cache answered (hit / miss); raise _NotFound."""
    read = await read_page(reader, car, buyer_id)
    if read.page is None and not read.known_missing and reader is not state.valkey:
        # Not on this replica (yet): a page written a moment ago, or a replica still syncing,
        # is on the primary, and MySQL need not be asked.
        read = await read_page(state.valkey, car, buyer_id)
    if read.page is not None:
        return read, "hit"
    outcome = "negative" if read.known_missing else "miss"
    if read.known_missing or not await filler_for(state).ensure(car):
        raise _NotFound(outcome)
    # Re-read from the primary, where the fill was written (a replica may lag).
    read = await read_page(state.valkey, car, buyer_id)
    if read.page is None:
        raise _NotFound(outcome)
    return read, outcome


@router.get("/listing/{car_id}/", response_model=None, responses=RESPONSES,
            summary="One car's dedicated page with per-buyer fields")
@router.get("/listing/{car_id}", response_model=None, include_in_schema=False)
async def dedicated_page(car_id: CarIdPath, request: Request, state: State, caller: Caller,
                         seen_car_ids: SeenIds = None) -> Response:
    """The cached page plus is_seen, test_drive_booked, offer_amount, interested_people and,
    for a buyer whose subscription is current, seller_mobile_no and inspection_report."""
    settings = state.settings
    car = parse_id(car_id, "car_id", settings.max_car_id)
    seen = parse_id_list(seen_car_ids, "seen_car_ids", settings.max_car_id,
                         settings.max_seen_ids)
    metrics: Metrics = state.extras["metrics"]
    try:
        read, outcome = await state.readers.run(
            lambda reader: _lookup(state, reader, car, caller.buyer_id))
    except _NotFound as missing:
        metrics.cache.labels("dedicated", missing.outcome).inc()
        raise ApiError(404, "car not found", {"car_id": car}) from None
    metrics.cache.labels("dedicated", outcome).inc()
    assert read.page is not None  # _lookup returns found pages only
    body = splice(read.page, read.overlay(seen, time.time()).to_json())
    headers = {"X-Cache": "hit" if outcome == "hit" else "miss"}
    if not caller.anonymous:
        headers["Cache-Control"] = "private, no-store"
        return Response(body, media_type="application/json", headers=headers)
    tag = etag(body)
    headers |= {
        "ETag": tag,
        "Cache-Control": f"public, max-age={settings.cache_max_age_s}, "
                         f"stale-while-revalidate={settings.cache_swr_s}",
        "Vary": "Authorization",
    }
    # Answered whatever the request's own Cache-Control says (Node's fetch sends no-cache).
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
