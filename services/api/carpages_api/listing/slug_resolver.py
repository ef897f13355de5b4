"""SEO slugs -> filters (pure): `used-tata-nexon-cars-in-mumbai` -> make, model and city.

The slug is split on hyphens and matched greedily, longest first, against the slug table
(tokens may themselves contain hyphens: `maruti-suzuki`, `under-5-lakh`). Filler words are
skipped; anything else that matches nothing is an unknown token (404 naming it). Several tokens
of one type mean "any of" (`tata-maruti-suzuki` = either make); several prices keep the lowest.
The caller fetches only the candidate tokens from Valkey (HMGET), never the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from pydantic import ValidationError

from carpages_api.listing.query import Filters

MAX_TOKEN_WORDS: Final = 6
"""Longest slug-table token we look for, in words (the demo's longest, `d-max-v-cross`, is 4)."""
FILLERS: Final = frozenset({"used", "cars", "in", "car", "for", "sale", "second-hand"})
TYPE_PARAMS: Final = {"make": "make_id", "model": "model_id", "city": "city_id",
                      "fuel_type": "fuel_type", "transmission": "transmission",
                      "price": "price_max"}
"""Slug-table type -> filter parameter (a price token is a maximum price in INR)."""


class UnknownToken(ValueError):
    """A slug word that is neither a slug-table token nor a filler word."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def candidates(slug: str) -> list[str]:
    """Every token the greedy match could look up (contiguous runs of up to 6 words)."""
    words = slug.split("-")
    out: dict[str, None] = {}
    for start in range(len(words)):
        for size in range(1, min(MAX_TOKEN_WORDS, len(words) - start) + 1):
            out["-".join(words[start:start + size])] = None
    return [c for c in out if c not in FILLERS]


def _entry(raw: bytes | str | Mapping[str, Any]) -> tuple[str, str] | None:
    try:
        data = raw if isinstance(raw, Mapping) else orjson.loads(raw)
        kind, value = data["type"], str(data["filter"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return (TYPE_PARAMS[kind], value.strip().lower()) if kind in TYPE_PARAMS else None


def tokens(slug: str, table: Mapping[str, bytes | str | Mapping[str, Any]]) -> list[str]:
    """The slug's table tokens in order, greedy longest-first; raise UnknownToken."""
    words = slug.split("-")
    found: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(MAX_TOKEN_WORDS, len(words) - i), 0, -1):
            token = "-".join(words[i:i + size])
            if token in table or token in FILLERS:
                if token in table:
                    found.append(token)
                i += size
                break
        else:
            raise UnknownToken(words[i])
    return found


def resolve(slug: str, table: Mapping[str, bytes | str | Mapping[str, Any]]) -> Filters:
    """The filters a slug stands for, given (at least) its candidate tokens of the slug table."""
    values: dict[str, list[str]] = {}
    for token in tokens(slug, table):
        entry = _entry(table[token])
        if entry is None:
            raise UnknownToken(token)  # a malformed table row must not become a 500
        values.setdefault(entry[0], []).append(entry[1])
    raw: dict[str, Any] = {k: v for k, v in values.items() if k != "price_max"}
    if "price_max" in values:
        try:
            raw["price_max"] = min(int(v) for v in values["price_max"])
        except ValueError:
            raise UnknownToken(slug) from None
    try:
        return Filters.model_validate(raw)
    except ValidationError:
        raise UnknownToken(slug) from None
