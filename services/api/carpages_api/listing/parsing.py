"""Query-string pairs -> a validated ListingQuery (pure; no I/O).

Rules every parameter follows (the OpenAPI schema in web.listing declares the same):
- names are exact; the design's spellings (`page`, `make`, `model`, `color`, `seen_card_ids`)
  are aliases (lists merge; `page_no` wins over `page`); unknown names are ignored (and
  listed by `ignored_names`, tracking ones aside);
- enumerated values (`order_by`, `fuel_type`, `transmission`, `facets`) and `slug` are
  case-insensitive; the opaque `pin` is not;
- integers are plain decimal digits (no sign, space, decimal point or exponent), `rating_min`
  an unsigned decimal number (`4.5`, `1e-05`); anything else is a 422 naming the parameter;
- `year=Y` is `year_min=Y&year_max=Y`, intersected with any explicit bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from pydantic import ValidationError

from carpages_api.errors import ApiError
from carpages_api.listing.param_names import ALIASES, ignored_header
from carpages_api.listing.query import (
    KNOWN,
    LIST_PARAMS,
    QUERY_LISTS,
    QUERY_SCALARS,
    SCALAR_FILTERS,
    Filters,
    Limits,
    ListingQuery,
)

INTEGER_PARAMS: Final = frozenset({
    "city_id", "make_id", "model_id", "variant_id", "color_id", "owner", "features",
    "price_min", "price_max", "year_min", "year_max", "year", "km_max", "page_size", "page_no",
    "buyer_id", "seen_car_ids"})
_INTEGER: Final = re.compile(r"[0-9]{1,10}")
_NUMBER: Final = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,20})?(?:[eE][-+]?[0-9]{1,3})?")
_LOWERED: Final = frozenset({"slug", "order_by"})
"""Scalars compared case-insensitively (list values are lowered as they are split)."""


def _gather(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    aliased: dict[str, list[str]] = {}
    for raw_name, value in items:
        name = ALIASES.get(raw_name, raw_name)
        if name in KNOWN and value:  # `city_id=` is absent; `city_id= ` is a bad value
            # A scalar's alias (`page`) gives way to its own name (`page_no`) when both come.
            into = aliased if name != raw_name and name in QUERY_SCALARS else out
            into.setdefault(name, []).append(value)
    for name, values in aliased.items():
        if out.setdefault(name, values) != values:
            out.setdefault(_SHADOWED, []).extend(f"{name}={value}" for value in values)
    return out


_SHADOWED = "\0shadowed"
"""Key of `_gather`'s `name=value` pairs given under an alias and overruled by the own name."""


def ignored_names(items: Iterable[tuple[str, str]]) -> str | None:
    """The `X-Ignored-Params` value for these pairs (None: nothing ignored but tracking)."""
    return ignored_header((name for name, _ in items if name), KNOWN)


def _number_errors(given: dict[str, list[str]]) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    for name, values in given.items():
        pattern = _INTEGER if name in INTEGER_PARAMS else _NUMBER if name == "rating_min" else None
        if pattern is None:
            continue
        tokens = (t for v in values for t in v.split(",")) if name in LIST_PARAMS or \
            name in QUERY_LISTS else values
        if not all(pattern.fullmatch(t) for t in tokens):
            kind = "integers" if name in INTEGER_PARAMS else "numbers"
            errors.append({"param": name, "message": f"must be plain decimal {kind} "
                                                     "(digits only, no sign or spaces)"})
    return errors


def _param(loc: tuple[int | str, ...]) -> str:
    names = [str(p) for p in loc if isinstance(p, str) and p != "filters"]
    return names[0] if names else "request"


def parse_query(items: Iterable[tuple[str, str]], limits: Limits) -> ListingQuery:
    """Query-string pairs -> a validated ListingQuery, or a 422 ApiError naming the params."""
    given = _gather(items)
    for pair in given.pop(_SHADOWED, ()):
        # `page=0&page_no=11`: page_no wins, yet page is checked like any parameter (an
        # overruled value that is invalid must not pass unchecked).
        name, _, value = pair.partition("=")
        parse_query([(name, value)], limits)
    errors: list[dict[str, object]] = [
        {"param": name, "message": "given more than once"}
        for name in (*SCALAR_FILTERS, *QUERY_SCALARS, "year") if len(given.get(name, ())) > 1]
    errors += _number_errors(given)
    if errors:
        raise ApiError(422, "invalid request", errors)
    filters = {k: (v if k in LIST_PARAMS else v[0]) for k, v in given.items()
               if k in LIST_PARAMS or k in SCALAR_FILTERS}
    raw: dict[str, Any] = {k: (v if k in QUERY_LISTS else v[0]) for k, v in given.items()
                           if k in QUERY_LISTS or k in QUERY_SCALARS}
    for name in _LOWERED & raw.keys():
        raw[name] = raw[name].lower()
    raw["filters"] = filters
    raw.setdefault("page_size", limits.page_size_default)
    try:
        query = ListingQuery.model_validate(raw, context={"limits": limits})
    except ValidationError as exc:
        raise ApiError(422, "invalid request", _detail(exc)) from None
    if "year" in given:
        query = _with_year(query, given["year"][0])
    _check_paging(query, limits)
    return query


def _detail(exc: ValidationError, param: str | None = None) -> list[dict[str, object]]:
    return [{"param": param or _param(e["loc"]), "message": e["msg"]} for e in exc.errors()]


def _with_year(query: ListingQuery, year: str) -> ListingQuery:
    """`year=Y`: the query's filters intersected with `year_min=Y&year_max=Y`."""
    try:
        exact = Filters.model_validate({"year_min": year, "year_max": year})
    except ValidationError as exc:
        raise ApiError(422, "invalid request", _detail(exc, "year")[:1]) from None
    return query.model_copy(update={"filters": query.filters.intersect(exact)})


def _check_paging(query: ListingQuery, limits: Limits) -> None:
    if query.page_size > limits.page_size_max:
        raise ApiError(422, "invalid request", [
            {"param": "page_size", "message": f"must be at most {limits.page_size_max}"}])
    # page_no's bound is the one the OpenAPI states (the window: page_size is at least 1). A
    # page past the window for a larger page_size is not an error but an empty page, like a page
    # past the last result: a bound that depends on page_size is one no schema can state, so a
    # client generated from the OpenAPI would get errors for values its types allow.
    if query.page_no > limits.page_window:
        raise ApiError(422, "invalid request", [
            {"param": "page_no", "message": f"must be at most {limits.page_window}"}])
