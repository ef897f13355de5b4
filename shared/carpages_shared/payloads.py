"""Payload models: what the builder writes to Valkey and the API returns. No I/O here.

The builder serialises these once per change; the API splices the cached bytes without parsing
them, so these models are the contract between the two (and the OpenAPI schema for clients).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

PAGE_SCHEMA_VERSION: Final = 1
CARD_SCHEMA_VERSION: Final = 1
OVERLAY_SCHEMA_VERSION: Final = 1

OWNER_LABELS = {1: "1st", 2: "2nd", 3: "3rd"}


def owner_label(owner_count: int) -> str:
    """Seed 002 shows owners as "1st"; 4 and more read "4th+"."""
    return OWNER_LABELS.get(owner_count, "4th+")


def car_link(car_id: int) -> str:
    """Site-relative link to a car's dedicated page (seed 002's card `link`)."""
    return f"/user-cars/{car_id}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Named(_Frozen):
    id: int
    name: str


class ModelRef(Named):
    body_type: str


class ColorRef(Named):
    hex: str


class Image(_Frozen):
    position: int
    url: str
    tag: str


class FeatureRef(Named):
    category: str


class InspectionSummary(_Frozen):
    """Public part of the inspection; the full report is paid-only (`inspection_report`)."""

    score: float
    summary: str
    inspected_at: str


class DedicatedPage(_Frozen):
    """Public dedicated-page payload of one live car (`dp:{car_id}`)."""

    schema_version: Literal[1] = PAGE_SCHEMA_VERSION
    id: int
    link: str
    status: Literal["live"] = "live"
    price: int = Field(description="asking price, INR")
    year: int
    km_driven: int
    fuel_type: str
    transmission: str
    owner_count: int
    owner: str
    rating: float
    registration_state: str
    make: Named
    model: ModelRef
    variant: Named
    color: ColorRef
    city: Named
    locality: Named
    seller_kind: str
    images: list[Image]
    features: list[FeatureRef]
    inspection: InspectionSummary | None
    date_created: str
    date_updated: str


class ListingCard(_Frozen):
    """One car in a listing (seed 002's response item), cached in the card hash."""

    schema_version: Literal[1] = CARD_SCHEMA_VERSION
    id: int
    images: list[str] = Field(description="first four image URLs, in order")
    price: int
    make_name: str
    model_name: str
    variant_name: str
    link: str
    city_name: str
    owner: str
    year: int
    km_driven: int
    fuel_type: str
    transmission: str


class BuyerOverlay(_Frozen):
    """Per-request dynamic fields spliced into the dedicated page (seed 001's dynamic entities)."""

    overlay_version: Literal[1] = OVERLAY_SCHEMA_VERSION
    is_seen: bool
    test_drive_booked: bool
    offer_amount: int | None
    interested_people: int
    seller_mobile_no: str | None = Field(None, description="paid buyers only")
    inspection_report: dict[str, object] | None = Field(None, description="paid buyers only")


class DedicatedPageResponse(DedicatedPage, BuyerOverlay):
    """What `GET /listing/{car_id}/` returns: the cached page with the overlay spliced in."""


class ListingResponse(_Frozen):
    """What `GET /listing/` returns (seed 002's shape plus page_count, pin and facets)."""

    count: int
    page_count: int
    next: str | None
    previous: str | None
    results: list[ListingCard]
    facets: dict[str, dict[str, int]] | None = None


class SourcePosition(_Frozen):
    """Where in the binlog a change came from."""

    file: str
    pos: int = Field(description="end offset of the rows event in `file`")
    gtid: str | None = None
    server_id: int
    ts_ms: int
    xid: int | None = None
    row: int = Field(0, description="index of the row within its transaction")
    txn: str | None = Field(None, description="transaction id: GTID, else `file:pos` of BEGIN")


class RowChanged(_Frozen):
    """Change event published to topic `{database}.{table}` (seed 001: op, before, after)."""

    schema_version: Literal[1] = 1
    op: Literal["insert", "update", "delete"]
    database: str
    table: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    source: SourcePosition


class InvalidParam(BaseModel):
    """One rejected parameter of a 422 (extra keys may follow; clients must ignore them)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    param: str = Field(description="the parameter's name, or `request`")
    message: str


class ErrorBody(_Frozen):
    """Every 4xx/5xx JSON body. `detail` is a list of InvalidParam for a 422, an object naming
    what was not found for a 404 (`{"car_id": 7}`, `{"slug": ..., "token": ...}`), a short
    string (401, 503, 500) or null."""

    error: str
    detail: str | list[InvalidParam] | dict[str, str | int] | None = None
