"""Listing facets: equal to SQL GROUP BY counts, disjunctive, monotone, cached."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_shared import keys

from tests.integration.listing_support import (
    SECRET,
    Api,
    ListingOracle,
    Params,
    Vocabulary,
    serving,
    url,
)

ALL = ("city_id", "make_id", "model_id", "variant_id", "color_id", "fuel_type", "transmission",
       "owner", "features", "price", "year")
COMBINATIONS = 40


@pytest.fixture(scope="module")
async def api(db_url: str, listing_valkey: str) -> AsyncIterator[Api]:
    async with serving(ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET)) as running:
        yield running


async def facets_of(api: Api, p: Params, names: tuple[str, ...] = ALL) -> dict[str, Any]:
    body = await api.json(url({**p, "order_by": "newest", "page_size": "1",
                               "facets": ",".join(names)}))
    assert list(body["facets"]) == list(names)
    facets: dict[str, Any] = body["facets"]
    return facets


async def test_random_filters_facets_equal_sql_group_by(
        api: Api, oracle: ListingOracle, vocab: Vocabulary) -> None:
    rnd = random.Random(4242)
    for _ in range(COMBINATIONS):
        p = vocab.random_filters(rnd)
        got = await facets_of(api, p)
        for name in ALL:
            assert got[name] == oracle.facet(p, name), (p, name)


async def test_unfiltered_facets_cover_the_catalogue(api: Api, oracle: ListingOracle) -> None:
    got = await facets_of(api, {})
    (live,), = oracle.rows("SELECT COUNT(*) FROM car WHERE status = 'live'")
    for name in ("city_id", "make_id", "fuel_type", "owner", "price", "year"):
        assert sum(got[name].values()) == live, name
    assert got["features"] == oracle.facet({}, "features")


async def test_facets_are_disjunctive_for_their_own_field(api: Api,
                                                          oracle: ListingOracle) -> None:
    (tata, maruti, mumbai), = oracle.rows(
        "SELECT (SELECT filter FROM slug WHERE value = 'tata'), "
        "(SELECT filter FROM slug WHERE value = 'maruti-suzuki'), "
        "(SELECT filter FROM slug WHERE value = 'mumbai')")
    chosen = await facets_of(api, {"make_id": tata, "city_id": mumbai})
    unchosen = await facets_of(api, {"city_id": mumbai})
    assert chosen["make_id"] == unchosen["make_id"]  # Maruti stays visible beside Tata
    assert chosen["make_id"][maruti] == len(oracle.ids({"make_id": maruti, "city_id": mumbai},
                                                       "newest")) > 0
    assert sum(chosen["fuel_type"].values()) == len(oracle.ids(
        {"make_id": tata, "city_id": mumbai}, "newest"))
    via_slug = await facets_of(api, {"slug": "used-tata-cars-in-mumbai"})
    assert via_slug == chosen


async def test_adding_a_filter_never_raises_a_count(api: Api, vocab: Vocabulary) -> None:
    rnd = random.Random(777)
    for _ in range(15):
        base = vocab.random_filters(rnd)
        extra = {k: v for k, v in vocab.random_filters(rnd).items() if k not in base}
        if not extra:
            continue
        before = await api.json(url({**base, "order_by": "newest", "facets": ",".join(ALL)}))
        after = await api.json(url({**base, **extra, "order_by": "newest",
                                    "facets": ",".join(ALL)}))
        assert after["count"] <= before["count"]
        for name in ALL:
            for value, n in after["facets"][name].items():
                assert n <= before["facets"][name].get(value, 0), (base, extra, name, value)


async def test_facets_are_cached_per_field(api: Api, listing_valkey: str) -> None:
    client = valkey.Valkey.from_url(listing_valkey)
    try:
        first = await api.get(url({"fuel_type": "diesel", "facets": "make_id,year"}))
        found = list(client.scan_iter(match="{cp}:facets:*", count=1000))
        assert found
        assert all(0 < client.ttl(k) <= keys.QUERY_TTL for k in found)
        again = await api.get(url({"fuel_type": "diesel", "facets": "make_id,year"}))
        assert again.json()["facets"] == first.json()["facets"]
        assert set(client.scan_iter(match="{cp}:facets:*", count=1000)) == set(found)
        assert not list(client.scan_iter(match="{cp}:tmp:*", count=1000))
    finally:
        client.close()


async def test_unknown_facet_is_422(api: Api) -> None:
    resp = await api.get("/listing/?facets=make_id,mileage")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["param"] == "facets"
