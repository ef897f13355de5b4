"""Slug tokenising: greedy longest-first matching, fillers, unknown tokens, canonical filters."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
import pytest
from carpages_api.listing.parsing import parse_query
from carpages_api.listing.query import Limits
from carpages_api.listing.slug_resolver import UnknownToken, candidates, resolve, tokens
from hypothesis import given
from hypothesis import strategies as st


def entry(kind: str, value: str) -> bytes:
    return orjson.dumps({"type": kind, "filter": value})


TABLE = {
    "tata": entry("make", "2"), "maruti": entry("make", "9"),
    "maruti-suzuki": entry("make", "3"), "nexon": entry("model", "121"),
    "swift-dzire": entry("model", "140"), "swift": entry("model", "139"),
    "mumbai": entry("city", "1"), "new-delhi": entry("city", "5"),
    "petrol": entry("fuel_type", "petrol"), "automatic": entry("transmission", "automatic"),
    "under-5-lakh": entry("price", "500000"), "4-lakh": entry("price", "400000"),
}


def explicit(qs: str) -> str:
    return parse_query(parse_qsl(qs), Limits()).filters.digest()


@pytest.mark.parametrize(("slug", "canonical"), [
    ("used-tata-nexon-cars-in-mumbai", "city_id=1&make_id=2&model_id=121"),
    ("used-tata-cars-in-mumbai", "city_id=1&make_id=2"),
    ("used-maruti-suzuki-swift-dzire-cars", "make_id=3&model_id=140"),
    ("used-maruti-swift-cars", "make_id=9&model_id=139"),
    ("second-hand-petrol-automatic-cars-for-sale-in-new-delhi",
     "city_id=5&fuel_type=petrol&transmission=automatic"),
    ("used-cars-under-5-lakh", "price_max=500000"),
    ("cars-under-5-lakh-4-lakh", "price_max=400000"),
    ("used-tata-maruti-cars", "make_id=2,9"),
    ("used-cars", ""),
])
def test_resolves_to_canonical_filters(slug: str, canonical: str) -> None:
    assert resolve(slug, TABLE).canonical() == canonical


def test_longest_token_wins() -> None:
    assert tokens("maruti-suzuki-swift-dzire", TABLE) == ["maruti-suzuki", "swift-dzire"]


@pytest.mark.parametrize(("slug", "unknown"), [
    ("used-tata-foo-cars", "foo"), ("used-bmw-cars-in-mumbai", "bmw"),
    ("under-5-lakh-cars-under", "under"), ("second-cars", "second"),
])
def test_unknown_token_is_named(slug: str, unknown: str) -> None:
    with pytest.raises(UnknownToken) as info:
        resolve(slug, TABLE)
    assert info.value.token == unknown


def test_malformed_table_row_is_an_unknown_token_not_a_crash() -> None:
    table = {**TABLE, "mystery": b"not json", "odd": entry("colour", "1"),
             "cheap": entry("price", "free")}
    for slug in ("used-mystery-cars", "odd-cars", "cheap-cars"):
        with pytest.raises(UnknownToken):
            resolve(slug, table)


def test_slug_filters_hash_like_explicit_params() -> None:
    assert resolve("used-tata-nexon-cars-in-mumbai", TABLE).digest() == explicit(
        "model_id=121&city_id=1&make_id=2")
    assert resolve("used-tata-maruti-cars-under-5-lakh", TABLE).digest() == explicit(
        "make_id=9,2&price_max=500000")


def test_candidates_cover_every_token_the_match_can_use() -> None:
    slug = "used-maruti-suzuki-swift-dzire-cars-under-5-lakh"
    subset = {c: TABLE[c] for c in candidates(slug) if c in TABLE}
    assert resolve(slug, subset) == resolve(slug, TABLE)
    assert "used" not in candidates(slug)


words = st.sampled_from([*TABLE, "used", "cars", "in", "for", "sale", "second-hand", "car"])


@given(st.lists(words, min_size=1, max_size=8))
def test_any_slug_of_known_words_resolves_from_its_candidates(parts: list[str]) -> None:
    slug = "-".join(parts)
    subset = {c: TABLE[c] for c in candidates(slug) if c in TABLE}
    assert resolve(slug, subset) == resolve(slug, TABLE)
