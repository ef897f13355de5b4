"""Listing request parameters: parse, validate and canonicalise (pure; no I/O).

Two frozen pydantic models: `Filters` (the car-related filters; the only input of the query hash,
so the same filters in any order, with duplicated or reordered values, hash alike) and
`ListingQuery` (filters plus order, paging, viewer hints, facets and pin). Unknown parameters
are dropped before validation (listing.parsing), so they never reach the hash or the links.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import quote, urlencode

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from carpages_api.listing.instance_memo import InstanceMemo

MAX_U32: Final = 4_294_967_295
HASH_SCHEME: Final = "v1"
"""Bump when the meaning of a filter changes, so old cached results are never reused."""

Order = Literal["reco", "newest", "price_asc", "price_desc"]
FuelType = Literal["petrol", "diesel", "cng", "electric", "hybrid", "lpg"]
Transmission = Literal["manual", "automatic"]
FacetName = Literal["city_id", "make_id", "model_id", "variant_id", "color_id", "fuel_type",
                    "transmission", "owner", "features", "price", "year"]
Id = Annotated[int, Field(ge=1, le=MAX_U32)]
ORDERS: Final = get_args(Order)
FUEL_TYPES: Final = get_args(FuelType)
TRANSMISSIONS: Final = get_args(Transmission)
FACETS: Final = get_args(FacetName)

SET_PARAMS: Final = ("city_id", "make_id", "model_id", "variant_id", "color_id", "fuel_type",
                     "transmission", "owner")
"""Multi-valued "any of" filters; each names the set index field of the same name."""
LIST_PARAMS: Final = (*SET_PARAMS, "features")
SCALAR_FILTERS: Final = ("price_min", "price_max", "year_min", "year_max", "km_max",
                         "rating_min")
RANGES: Final = (("price", "price_min", "price_max"), ("year", "year_min", "year_max"),
                 ("km", None, "km_max"), ("rating", "rating_min", None))
"""(numeric index field, lower-bound param, upper-bound param); bounds are inclusive."""
QUERY_LISTS: Final = ("seen_car_ids", "facets")
QUERY_SCALARS: Final = ("slug", "order_by", "page_size", "page_no", "buyer_id", "pin")
KNOWN: Final = frozenset((*LIST_PARAMS, *SCALAR_FILTERS, *QUERY_LISTS, *QUERY_SCALARS, "year"))
"""Every parameter name the listing reads (`year` = `year_min` and `year_max` at once)."""
PIN_PATTERN: Final = r"^[A-Za-z0-9_:\-.]{1,64}\.[0-9a-f]{16}$"
LINK_SAFE: Final = ",:"
"""Left unescaped in links (values are comma lists; pins carry the model version's colons)."""
_MEMO = InstanceMemo(8192)
"""The digest and the links of parsed queries (requests repeat the same few queries)."""


@dataclass(frozen=True)
class Limits:
    """The settings that bound a request (taken from ApiSettings at the entrypoint)."""

    page_size_default: int = 20
    page_size_max: int = 35
    page_window: int = 1000
    max_filter_values: int = 50
    max_seen_ids: int = 200

    def max_pages(self, page_size: int) -> int:
        """Pages of this size that fit in the window (a page never reaches past it)."""
        return max(1, self.page_window // page_size)


def _split(value: Any, info: ValidationInfo, bound_key: str) -> Any:
    """`"3,4"` (or a list of such strings) -> `["3", "4"]`, each string bounded by the context's
    limit (as the schema bounds each parameter: `make` and `make_id` are bounded apiece)."""
    if value is None or isinstance(value, tuple):
        return value
    parts = [value] if isinstance(value, str) else list(value)
    lists = [str(p).lower().split(",") for p in parts]
    # Every item as the schema states it: `1,,2`, `petrol,` and `petrol, diesel` are not lists
    # of values (the dedicated page's `seen_car_ids` follows the same rule).
    if any(not t or t != t.strip() for x in lists for t in x):
        raise ValueError("must be comma-separated values, none empty or padded with spaces")
    limits = info.context.get("limits") if isinstance(info.context, dict) else None
    if isinstance(limits, Limits) and any(len(x) > getattr(limits, bound_key) for x in lists):
        raise ValueError(f"at most {getattr(limits, bound_key)} values")
    return [t for x in lists for t in x]


def _sorted_unique(value: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(sorted(set(value)))


class Filters(BaseModel):
    """Car filters. A list field None = not filtered; an empty tuple = matches nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    city_id: tuple[Id, ...] | None = None
    make_id: tuple[Id, ...] | None = None
    model_id: tuple[Id, ...] | None = None
    variant_id: tuple[Id, ...] | None = None
    color_id: tuple[Id, ...] | None = None
    fuel_type: tuple[FuelType, ...] | None = None
    transmission: tuple[Transmission, ...] | None = None
    owner: tuple[Annotated[int, Field(ge=1, le=99)], ...] | None = None
    features: tuple[Id, ...] | None = Field(default=None, description="the car has ALL of them")
    price_min: Annotated[int, Field(ge=0, le=MAX_U32)] | None = None
    price_max: Annotated[int, Field(ge=0, le=MAX_U32)] | None = None
    year_min: Annotated[int, Field(ge=1900, le=2100)] | None = None
    year_max: Annotated[int, Field(ge=1900, le=2100)] | None = None
    km_max: Annotated[int, Field(ge=0, le=MAX_U32)] | None = None
    rating_min: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)] | None = None

    @field_validator(*LIST_PARAMS, mode="before")
    @classmethod
    def _split_list(cls, value: Any, info: ValidationInfo) -> Any:
        tokens = _split(value, info, "max_filter_values")
        # An explicit empty parameter (`city_id=`) means "not filtered", as HTML forms send it.
        return None if tokens == [] and not isinstance(value, tuple) else tokens

    @field_validator(*LIST_PARAMS, mode="after")
    @classmethod
    def _canonical_list(cls, value: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        return _sorted_unique(value)

    def canonical(self) -> str:
        """`city_id=1&color_id=3,4&price_max=500000`: fixed field order, sorted values."""
        parts = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            text = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
            parts.append(f"{name}={text}")
        return "&".join(parts)

    def digest(self, salt: str = "") -> str:
        """Short stable hash of the canonical form (the query hash in cache keys)."""
        if not salt:
            return _MEMO.get(self, "digest", lambda: self._digest(""))
        return self._digest(salt)

    def _digest(self, salt: str) -> str:
        text = f"{HASH_SCHEME}|{salt}|{self.canonical()}".encode()
        return hashlib.blake2b(text, digest_size=10).hexdigest()

    def matches_nothing(self) -> bool:
        """True when an intersected list left no value (e.g. slug make vs. explicit make)."""
        return any(getattr(self, name) == () for name in LIST_PARAMS)

    def set_filters(self) -> list[tuple[str, tuple[str, ...]]]:
        """(set index field, values) for the "any of" filters present."""
        return [(name, tuple(str(v) for v in getattr(self, name)))
                for name in SET_PARAMS if getattr(self, name)]

    def ranges(self) -> list[tuple[str, float | None, float | None]]:
        """(numeric index field, inclusive min, inclusive max) for the ranges present."""
        out = []
        for field, lo_name, hi_name in RANGES:
            lo = getattr(self, lo_name) if lo_name else None
            hi = getattr(self, hi_name) if hi_name else None
            if lo is not None or hi is not None:
                out.append((field, lo, hi))
        return out

    def without(self, facet: str) -> Filters:
        """These filters minus the ones a facet field counts across (disjunctive facets)."""
        drop = {"price": ("price_min", "price_max"), "year": ("year_min", "year_max")}
        names = drop.get(facet, (facet,) if facet in SET_PARAMS else ())
        return self.model_copy(update=dict.fromkeys(names))

    def intersect(self, other: Filters) -> Filters:
        """Both sets of filters at once (a slug combined with explicit parameters)."""
        update: dict[str, Any] = {}
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is None or theirs is None:
                update[name] = theirs if mine is None else mine
            elif name in LIST_PARAMS:
                update[name] = tuple(sorted(set(mine) & set(theirs)))
            else:
                update[name] = max(mine, theirs) if name.endswith("_min") else min(mine, theirs)
        return self.model_copy(update=update)


class ListingQuery(BaseModel):
    """A validated listing request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    filters: Filters = Filters()
    slug: Annotated[str, Field(max_length=200, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")] | None = None
    order_by: Order = "reco"
    page_size: Annotated[int, Field(ge=1)] = Limits.page_size_default
    page_no: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    seen_car_ids: tuple[Id, ...] = ()
    buyer_id: Id | None = None
    facets: tuple[FacetName, ...] = ()
    pin: Annotated[str, Field(pattern=PIN_PATTERN)] | None = None

    @field_validator("seen_car_ids", mode="before")
    @classmethod
    def _split_seen(cls, value: Any, info: ValidationInfo) -> Any:
        return _split(value, info, "max_seen_ids")

    @field_validator("facets", mode="before")
    @classmethod
    def _split_facets(cls, value: Any, info: ValidationInfo) -> Any:
        tokens = _split(value, info, "max_filter_values")
        return None if tokens is None else list(dict.fromkeys(tokens))

    @field_validator("seen_car_ids", mode="after")
    @classmethod
    def _canonical_seen(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(value)))

    def link(self, page_no: int, pin: str | None) -> str:
        """Relative URL of another page of this listing: every recognised param, canonical."""
        made: dict[tuple[int, str | None], str] = _MEMO.get(self, "links", dict)
        found = made.get((page_no, pin))
        if found is None:
            head, tail = _MEMO.get(self, "link", self._link_parts)
            pinned = f"&pin={quote(pin, safe=LINK_SAFE)}" if pin else ""
            if len(made) >= 64:  # pins come and go
                made.clear()
            found = made[page_no, pin] = f"{head}&page_no={page_no}{tail}{pinned}"
        return found

    def _link_parts(self) -> tuple[str, str]:
        """The link's URL-encoded params before `page_no` (with the path) and after it (before
        `pin`): everything but those two is fixed per query."""
        params: list[tuple[str, str]] = []
        for name, value in self.filters:
            if value is not None:
                params.append((name, ",".join(map(str, value)) if isinstance(value, tuple)
                               else str(value)))
        if self.slug:
            params.append(("slug", self.slug))
        params += [("order_by", self.order_by), ("page_size", str(self.page_size))]
        after: list[tuple[str, str]] = []
        if self.facets:
            after.append(("facets", ",".join(self.facets)))
        if self.seen_car_ids:
            after.append(("seen_car_ids", ",".join(map(str, self.seen_car_ids))))
        if self.buyer_id is not None:
            after.append(("buyer_id", str(self.buyer_id)))
        tail = "&" + urlencode(after, safe=LINK_SAFE, quote_via=quote) if after else ""
        return "/listing/?" + urlencode(params, safe=LINK_SAFE, quote_via=quote), tail

