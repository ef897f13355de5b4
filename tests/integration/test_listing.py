"""`GET /listing/` end to end on the demo catalogue: SQL oracle, paging, slugs, errors, caching.

The module builds the cache once into a Valkey of its own (so its cached results survive from
test to test) from the read-only `seeded_db`; tests that change Valkey put it back.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pymysql
import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_cdc.cache.builder import CacheBuilder, current_build
from carpages_local import stack
from carpages_shared import keys
from carpages_shared.dsn import mysql_params
from carpages_shared.payloads import ListingResponse

from tests.conftest import mysql_url
from tests.integration.listing_support import (
    SECRET,
    Api,
    ListingOracle,
    Params,
    Vocabulary,
    full_build,
    ids_of,
    serving,
    token,
    url,
)

ORACLE_COMBINATIONS = 210
WIDE = 2000
"""Page size (and window) of the `wide` app: one page holds any result of the demo catalogue."""


@pytest.fixture(scope="module")
async def api(db_url: str, listing_valkey: str) -> AsyncIterator[Api]:
    async with serving(ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET)) as running:
        yield running


@pytest.fixture(scope="module")
async def wide(db_url: str, listing_valkey: str) -> AsyncIterator[Api]:
    settings = ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET, page_size_max=WIDE,
                           page_window=WIDE)
    async with serving(settings) as running:
        yield running


async def everything(api: Api, params: Params, **kw: Any) -> dict[str, Any]:
    return await api.json(url({**params, "page_size": str(WIDE)}), **kw)


async def walk(api: Api, first: str, **kw: Any) -> list[dict[str, Any]]:
    """Follow `next` links from `first` to the end; return every page."""
    pages = [await api.json(first, **kw)]
    while pages[-1]["next"]:
        pages.append(await api.json(pages[-1]["next"], **kw))
    return pages


# ----------------------------------------------------------------------------- SQL oracle
async def test_random_filters_match_sql_for_every_order(
        wide: Api, oracle: ListingOracle, vocab: Vocabulary) -> None:
    rnd = random.Random(20240616)
    empty = 0
    for _ in range(ORACLE_COMBINATIONS):
        p = vocab.random_filters(rnd)
        for order in ("newest", "price_asc", "price_desc"):
            body = await everything(wide, {**p, "order_by": order})
            expected = oracle.ids(p, order)
            assert body["count"] == len(expected), (p, order)
            assert ids_of(body) == expected, (p, order)
        body = await everything(wide, p)  # reco, anonymous: the generic popularity order
        assert ids_of(body) == oracle.popular(p), p
        assert body["count"] == len(expected)
        empty += not expected
    assert empty < ORACLE_COMBINATIONS // 2  # the draw exercises real results, not only empties


async def test_unfiltered_orders_match_sql_with_price_ties_broken_by_id(
        wide: Api, oracle: ListingOracle) -> None:
    for order in ("newest", "price_asc", "price_desc"):
        body = await everything(wide, {"order_by": order})
        assert ids_of(body) == oracle.ids({}, order)
    prices = [r[0] for r in oracle.rows("SELECT price FROM car WHERE status = 'live'")]
    assert len(set(prices)) < len(prices)  # ties exist, so the tie-break was really tested


# ----------------------------------------------------------------------------- paging
@pytest.mark.parametrize("order", ["newest", "price_asc", "price_desc", "reco"])
async def test_pages_concatenate_to_the_full_list(api: Api, wide: Api, oracle: ListingOracle,
                                                  order: str) -> None:
    (city, n), = oracle.rows("SELECT l.city_id, COUNT(*) AS n FROM car c JOIN locality l "
                             "ON l.id = c.locality_id WHERE c.status = 'live' "
                             "GROUP BY l.city_id HAVING n BETWEEN 100 AND 900 "
                             "ORDER BY n DESC LIMIT 1")
    p = {"city_id": str(city), "order_by": order}
    pages = await walk(api, url({**p, "page_size": "17"}))
    seen = [i for page in pages for i in ids_of(page)]
    assert len(seen) == len(set(seen)) == n
    assert seen == ids_of(await everything(wide, p))
    assert len(pages) == pages[0]["page_count"] == -(-n // 17)
    assert pages[0]["previous"] is None
    assert all(page["count"] == n for page in pages)
    back = await api.json(pages[2]["previous"])
    assert ids_of(back) == ids_of(pages[1])


async def test_deep_paging_is_capped_by_the_window(api: Api, oracle: ListingOracle) -> None:
    first = await api.json(url({"order_by": "price_asc", "page_size": "35"}))
    assert first["count"] == len(oracle.ids({}, "price_asc")) > 1000
    assert first["page_count"] == 1000 // 35
    last = await api.json(url({"order_by": "price_asc", "page_size": "35", "page_no": "28"}))
    assert last["next"] is None
    assert ids_of(last) == oracle.ids({}, "price_asc")[27 * 35:28 * 35]
    for order in ("price_asc", "newest", "reco"):  # past the window: empty, in every order
        over = await api.json(url({"order_by": order, "page_size": "35", "page_no": "29"}))
        assert (over["results"], over["next"], over["page_count"]) == ([], None, 1000 // 35)
        assert over["count"] == first["count"]
    far = await api.json(url({"order_by": "price_asc", "page_no": "1000"}))
    assert far["results"] == []
    assert (await api.get(url({"page_no": "1001"}))).status_code == 422  # the declared maximum


async def test_a_page_past_the_end_is_empty_not_an_error(api: Api) -> None:
    body = await api.json(url({"make_id": "1", "order_by": "newest", "page_no": "40"}))
    assert body["results"] == []
    assert body["next"] is None


async def test_links_keep_every_param_and_drop_tracking(api: Api) -> None:
    body = await api.json(url({"city_id": "1,2", "fuel_type": "petrol", "order_by": "newest",
                               "page_size": "5", "facets": "make_id", "utm_source": "ads",
                               "gclid": "x"}))
    query = parse_qs(urlsplit(body["next"]).query)
    assert {k: v[0] for k, v in query.items()} == {
        "city_id": "1,2", "fuel_type": "petrol", "order_by": "newest", "page_size": "5",
        "page_no": "2", "facets": "make_id"}


# ----------------------------------------------------------------------------- slugs
async def test_seed_example_urls(api: Api, wide: Api, oracle: ListingOracle) -> None:
    (tata, nexon, mumbai), = oracle.rows(
        "SELECT (SELECT filter FROM slug WHERE value = 'tata'), "
        "(SELECT filter FROM slug WHERE value = 'nexon'), "
        "(SELECT filter FROM slug WHERE value = 'mumbai')")
    plain = await api.json("/listing/?city_id=1&model_id=123&owner=1")
    assert plain["count"] == len(oracle.ids({"city_id": "1", "model_id": "123", "owner": "1"},
                                            "newest"))
    nexons = await everything(wide, {"slug": "used-tata-nexon-cars-in-mumbai"})
    explicit = {"make_id": tata, "model_id": nexon, "city_id": mumbai}
    assert nexons["count"] == len(oracle.ids(explicit, "newest")) > 0
    assert ids_of(nexons) == ids_of(await everything(wide, explicit))
    assert {(c["make_name"], c["model_name"], c["city_name"]) for c in nexons["results"]} == {
        ("Tata", "Nexon", "Mumbai")}
    with_buyer = await api.get("/listing/?slug=used-tata-nexon-cars-in-mumbai&buyer_id=123")
    assert with_buyer.status_code == 200
    assert with_buyer.headers["cache-control"] == "private, no-store"
    tatas = oracle.popular({"make_id": tata, "city_id": mumbai})
    seen = tatas[:3]
    body = await everything(wide, {"slug": "used-tata-cars-in-mumbai",
                                   "seen_card_ids": ",".join(map(str, seen))})
    assert body["count"] == len(tatas)
    assert ids_of(body) == tatas[3:] + seen  # seen cars move to the end, count unchanged
    default = await api.get("/listing/?slug=used-tata-cars-in-mumbai&seen_card_ids=10,11,12")
    assert default.status_code == 200


async def test_slug_combines_with_explicit_params(wide: Api, oracle: ListingOracle) -> None:
    (tata, nexon, mumbai, maruti), = oracle.rows(
        "SELECT (SELECT filter FROM slug WHERE value = 'tata'), "
        "(SELECT filter FROM slug WHERE value = 'nexon'), "
        "(SELECT filter FROM slug WHERE value = 'mumbai'), "
        "(SELECT filter FROM slug WHERE value = 'maruti-suzuki')")
    both = await everything(wide, {"slug": "used-tata-cars-in-mumbai", "model_id": nexon,
                                   "order_by": "price_asc"})
    assert ids_of(both) == oracle.ids({"make_id": tata, "model_id": nexon, "city_id": mumbai},
                                      "price_asc")
    clash = await everything(wide, {"slug": "used-tata-cars", "make_id": maruti})
    assert clash["count"] == 0
    cheap = await everything(wide, {"slug": "used-maruti-suzuki-cars-under-5-lakh",
                                    "price_max": "400000", "order_by": "price_desc"})
    assert ids_of(cheap) == oracle.ids({"make_id": maruti, "price_max": "400000"}, "price_desc")


async def test_unknown_slug_token_is_a_404_naming_it(api: Api) -> None:
    resp = await api.get("/listing/?slug=used-tata-flyingcar-cars-in-mumbai")
    assert resp.status_code == 404
    assert resp.json() == {"error": "unknown slug token",
                           "detail": {"slug": "used-tata-flyingcar-cars-in-mumbai",
                                      "token": "flyingcar"}}


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("query", [
    "city_id=abc", "make_id=1,x", "price_min=-1", "price_max=cheap", "year_min=99",
    "rating_min=9", "owner=zero", "fuel_type=steam", "transmission=cvt", "features=0",
    "page_size=36", "page_size=0", "page_no=0",
    "order_by=random", "facets=colour", "facets=make_id,sunroof", "buyer_id=abc",
    "make_id=" + ",".join(map(str, range(1, 52))),
    "seen_car_ids=" + ",".join(map(str, range(1, 202))),
    "seen_card_ids=" + ",".join(map(str, range(1, 202))),
    "slug=Used_Tata", "pin=%00", "order_by=newest&order_by=reco",
])
async def test_bad_params_are_422_json(api: Api, query: str) -> None:
    resp = await api.get(f"/listing/?{query}")
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "invalid request"
    assert body["detail"]
    assert all(set(d) == {"param", "message"} for d in body["detail"])


async def test_bad_token_is_401(api: Api) -> None:
    resp = await api.get("/listing/?order_by=newest",
                         headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid token"


async def test_both_paths_answer_and_dedicated_page_is_not_shadowed(api: Api) -> None:
    a = await api.get("/listing/?order_by=newest&page_size=3")
    b = await api.get("/listing?order_by=newest&page_size=3")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    car = a.json()["results"][0]["id"]
    page = await api.get(f"/listing/{car}/")
    assert "count" not in page.json()


# ----------------------------------------------------------------------------- caching
async def test_anonymous_ordered_responses_are_public_with_etag(api: Api) -> None:
    resp = await api.get("/listing/?city_id=1&order_by=newest&facets=make_id,price")
    parsed = ListingResponse.model_validate_json(resp.content)  # the documented schema
    assert parsed.results
    assert parsed.facets is not None
    assert resp.headers["cache-control"].startswith("public, max-age=")
    assert "stale-while-revalidate=" in resp.headers["cache-control"]
    tag = resp.headers["etag"]
    again = await api.get("/listing/?city_id=1&order_by=newest&facets=make_id,price",
                          headers={"If-None-Match": tag, "Cache-Control": "no-cache"})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(("query", "headers"), [
    ("city_id=1", {}),  # reco
    ("city_id=1&order_by=newest", {"Authorization": f"Bearer {token(5)}"}),
    ("city_id=1&seen_car_ids=1,2", {}),
])
async def test_personal_or_reco_responses_are_private(api: Api, query: str,
                                                      headers: dict[str, str]) -> None:
    resp = await api.get(f"/listing/?{query}", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "private, no-store"
    assert "etag" not in resp.headers


async def test_tracking_params_share_cache_key_and_body(api: Api, vk: valkey.Valkey) -> None:
    plain = await api.get("/listing/?color_id=3,4&city_id=2&order_by=price_desc")
    before = set(vk.scan_iter(match="{cp}:q:*", count=1000))
    noisy = await api.get("/listing/?utm_source=google&city_id=2&gclid=Cj0&order_by=price_desc"
                          "&color_id=4,3,3&fbclid=IwA&utm_campaign=diwali")
    assert set(vk.scan_iter(match="{cp}:q:*", count=1000)) == before
    assert noisy.content == plain.content
    assert noisy.headers["etag"] == plain.headers["etag"]


async def test_query_results_are_cached_with_a_ttl(api: Api, vk: valkey.Valkey) -> None:
    await api.json("/listing/?make_id=3&order_by=price_asc")
    found = list(vk.scan_iter(match="{cp}:q:*:price:*", count=1000))
    assert found
    assert all(0 < vk.ttl(k) <= keys.QUERY_TTL for k in found)
    assert not list(vk.scan_iter(match="{cp}:tmp:*", count=1000))  # scratch keys deleted


# ----------------------------------------------------------------------------- consistency
async def test_a_card_that_vanished_is_skipped(api: Api, vk: valkey.Valkey) -> None:
    first = await api.json("/listing/?order_by=newest&page_size=5")
    gone = ids_of(first)[2]
    build = int(vk.hget(keys.meta(), "build"))
    saved = vk.hget(keys.cards(build), str(gone))
    vk.hdel(keys.cards(build), str(gone))
    try:
        again = await api.json("/listing/?order_by=newest&page_size=5")
    finally:
        vk.hset(keys.cards(build), str(gone), saved)
    assert ids_of(again) == [i for i in ids_of(first) if i != gone]
    assert again["count"] == first["count"]


async def test_a_new_version_is_read_without_pubsub(api: Api, vk: valkey.Valkey) -> None:
    before = await api.json("/listing/?order_by=price_asc&page_size=3")
    vk.hincrby(keys.meta(), "version", 1)  # no PUBLISH: only the in-pipeline check sees it
    after = await api.json("/listing/?order_by=price_asc&page_size=3")
    assert after == before
    assert api.services.listing.generation.current == current_build(vk)
    version = current_build(vk)
    assert version is not None
    # The result was recomposed under the new version's key.
    assert list(vk.scan_iter(match=f"{{cp}}:q:{version[0]}.{version[1]}:price:*", count=1000))


async def test_pubsub_refreshes_the_generation(api: Api, vk: valkey.Valkey) -> None:
    generation = api.services.listing.generation
    vk.hincrby(keys.meta(), "version", 1)
    vk.publish(keys.invalidations(), vk.hget(keys.meta(), "build"))
    expected = current_build(vk)
    for _ in range(200):  # the listener runs on the app's loop; give it turns
        if generation.current == expected:
            break
        await asyncio.sleep(0.02)
    assert generation.current == expected


# ----------------------------------------------------------------------------- invalidation
async def test_index_changes_invalidate_cached_results_at_once(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_url: str) -> None:
    db = mysql_url(stack_env, mutable_seeded_db)
    full_build(db, valkey_url)
    params = mysql_params(db)
    client = valkey.Valkey.from_url(valkey_url)
    conn = pymysql.connect(**params, autocommit=True)
    try:
        async with serving(ApiSettings(valkey_url=valkey_url, jwt_secret=SECRET)) as app:
            first = await app.json("/listing/?order_by=price_asc&page_size=5")
            cheapest, second = ids_of(first)[:2]
            with conn.cursor() as cur:
                cur.execute("UPDATE car SET status = 'sold' WHERE id = %s", (cheapest,))
                cur.execute("UPDATE car SET price = 999999999 WHERE id = %s", (second,))
            CacheBuilder(lambda: pymysql.connect(**params), client).build_cars(
                [cheapest, second])
            after = await app.json("/listing/?order_by=price_asc&page_size=5")
            assert after["count"] == first["count"] - 1
            assert cheapest not in ids_of(after)
            assert second not in ids_of(after)
            assert ids_of(after)[:3] == ids_of(first)[2:5]
            top = await app.json("/listing/?order_by=price_desc&page_size=1")
            assert ids_of(top) == [second]
    finally:
        conn.close()
        client.close()


async def test_no_build_yet_is_503_json(valkey_url: str) -> None:
    async with serving(ApiSettings(valkey_url=valkey_url, jwt_secret=SECRET)) as app:
        resp = await app.get("/listing/?order_by=newest")
    assert resp.status_code == 503
    assert resp.json()["error"] == "no listing build yet"
    assert resp.headers["retry-after"]


async def test_openapi_lists_the_listing_params(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    names = {p["name"] for p in spec["paths"]["/listing/"]["get"]["parameters"]}
    assert {"city_id", "slug", "order_by", "page_size", "facets", "seen_car_ids"} <= names
