"""Validation of car ids taken from the path or the query string (pure; errors are 422 JSON).

Ids are parsed by hand rather than by FastAPI's int coercion so that every bad shape — letters,
signs, spaces, zero, absurdly long digit strings — gets the same error body naming the
parameter, and no huge number is ever converted or sent on to Valkey or MySQL. Only plain
decimal digits are an id (`%201` is not car 1), as the OpenAPI `integer` declares.
"""

from __future__ import annotations

from starlette.datastructures import QueryParams

from carpages_api.errors import ApiError
from carpages_api.listing.param_names import ALIASES, ignored_header

PAGE_PARAMS = frozenset({"seen_car_ids"})
"""The dedicated page's query parameters (and `seen_card_ids`, the design's alias)."""

MAX_ID_DIGITS = 10
"""Enough for any 32-bit id; longer strings are rejected before int() sees them."""


def invalid(param: str, message: str) -> ApiError:
    """A 422 in the same shape as FastAPI's validation errors (see errors.install)."""
    return ApiError(422, "invalid request", [{"param": param, "message": message}])


def parse_id(raw: str, param: str, max_id: int) -> int:
    """A positive decimal id no larger than `max_id`."""
    text = raw
    if not text.isascii() or not text.isdigit():
        raise invalid(param, "must be a positive integer")
    if len(text.lstrip("0")) > MAX_ID_DIGITS:
        raise invalid(param, f"must be at most {max_id}")
    value = int(text)
    if value < 1:
        raise invalid(param, "must be a positive integer")
    if value > max_id:
        raise invalid(param, f"must be at most {max_id}")
    return value


def parse_id_list(raw: str | None, param: str, max_id: int, max_count: int) -> tuple[int, ...]:
    """A comma-separated list of ids (`1,2,3`); empty or absent means none."""
    if not raw:
        return ()
    # Bound the work before splitting: each id needs at least one digit and one comma.
    if len(raw) > max_count * (MAX_ID_DIGITS + 2):
        raise invalid(param, f"at most {max_count} ids")
    parts = raw.split(",")
    if len(parts) > max_count:
        raise invalid(param, f"at most {max_count} ids")
    try:
        return tuple(parse_id(part, param, max_id) for part in parts)
    except ApiError:
        raise invalid(param, "must be comma-separated positive integers") from None


def page_query(raw: bytes, max_id: int, max_count: int) -> tuple[tuple[int, ...], str | None]:
    """The dedicated page's query string -> (seen car ids, `X-Ignored-Params` value or None).
    `seen_car_ids` and `seen_card_ids`, comma lists or repeated, are merged (each list at most
    `max_count` ids)."""
    if not raw:
        return (), None
    items = QueryParams(raw).multi_items()
    seen = [value for name, value in items
            if ALIASES.get(name, name) == "seen_car_ids" and value]
    ignored = ignored_header((name for name, _ in items if name), PAGE_PARAMS)
    # Each parameter is bounded apiece, as the schema declares them.
    ids = tuple(i for value in seen for i in parse_id_list(value, "seen_car_ids", max_id,
                                                          max_count))
    return ids, ignored
