"""Validation of car ids taken from the path or the query string (pure; errors are 422 JSON).

Ids are parsed by hand rather than by FastAPI's int coercion so that every bad shape — letters,
signs, zero, absurdly long digit strings — gets the same error body naming the parameter, and no
huge number is ever converted or sent on to Valkey or MySQL.
"""

from __future__ import annotations

from carpages_api.errors import ApiError

MAX_ID_DIGITS = 10
"""Enough for any 32-bit id; longer strings are rejected before int() sees them."""


def invalid(param: str, message: str) -> ApiError:
    """A 422 in the same shape as FastAPI's validation errors (see errors.install)."""
    return ApiError(422, "invalid request", [{"param": param, "message": message}])


def parse_id(raw: str, param: str, max_id: int) -> int:
    """A positive decimal id no larger than `max_id`."""
    text = raw.strip()
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
    if raw is None or not raw.strip():
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
