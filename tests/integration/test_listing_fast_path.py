"""The listing's warm path: batched reads, shared content pins, kept orders, the lane.

The module builds the cache once into a Valkey of its own from the read-only `seeded_db`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import valkey
import valkey.asyncio
from asgi_lifespan import LifespanManager
from carpages_api.app import create_app
from carpages_api.bootstrap import Services
from carpages_api.listing.cache import PIN_REFRESH_S
from carpages_api.reco.ranking import PopularityRanker, Viewer
from carpages_api.settings import ApiSettings
from carpages_api.store.batches import Batches
from carpages_local import servers, stack
from carpages_shared import keys
from valkey.exceptions import ResponseError

from tests.conftest import mysql_url
from tests.integration.listing_support import (
    SECRET,
    Api,
    KeyedRanker,
    full_build,
    ids_of,
    serving,
    token,
)

PIN = re.compile(rb"pin=[A-Za-z0-9_:\-.%]+")


@pytest.fixture(scope="module")
async def api(db_url: str, listing_valkey: str) -> AsyncIterator[Api]:
    # The L1 off: these tests are about what a request that reaches Valkey does (repeated
    # anonymous pages replayed from memory are test_listing_l1's).
    async with serving(ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET,
                                   l1_cache=False)) as running:
        yield running


@pytest.fixture
def ranked(api: Api) -> Iterator[Services]:
    yield api.services
    api.services.ranker = PopularityRanker()


def pin_of(link: str | None) -> str:
    assert link is not None
    return parse_qs(urlsplit(link).query)["pin"][0]


# ----------------------------------------------------------------------------- batches
async def test_batches_answer_like_the_pipeline(listing_valkey: str, db_url: str) -> None:
    client = valkey.asyncio.Valkey.from_url(listing_valkey, socket_timeout=2)
    batches = Batches()
    build = (await client.hmget(keys.meta(), ["build"]))[0]

    def queue(pipe: Any) -> None:
        pipe.hmget(keys.meta(), ("build", "version"))
        pipe.hmget(keys.cards(int(build)), [b"1", b"2", b"999999999"])
        pipe.zrange(keys.live_cars(int(build)), 0, 4, withscores=True)
        pipe.smembers(keys.set_values(int(build), "fuel_type"))
        pipe.exists(keys.meta(), "no-such-key")
        pipe.pttl(keys.meta())

    try:
        for _ in range(2):  # the second run sends the remembered bytes
            mine, theirs = client.pipeline(transaction=False), client.pipeline(transaction=False)
            queue(mine)
            queue(theirs)
            assert await batches.run(client, mine) == await theirs.execute()
        await client.set("fast-path:text", "x")
        failing = client.pipeline(transaction=False)
        failing.incr("fast-path:text")
        failing.get("fast-path:text")
        with pytest.raises(ResponseError):
            await batches.run(client, failing)
        assert await client.get("fast-path:text") == b"x"  # the pool still answers in step
    finally:
        await client.delete("fast-path:text")
        await client.aclose()


# ----------------------------------------------------------------------------- pins
async def test_anonymous_viewers_share_one_pin_written_once(api: Api,
                                                            vk: valkey.Valkey) -> None:
    first = await api.json("/listing/?city_id=2&page_size=10")
    pin = pin_of(first["next"])
    found = [k for k in vk.scan_iter(match="{cp}:pin:popularity:*", count=1000)
             if vk.getrange(k, 4, 4 * 11 - 1) == b"".join(
                 int(i).to_bytes(4, "little") for i in ids_of(first))]
    assert len(found) == 1
    vk.expire(found[0], 100)
    second = await api.json("/listing/?city_id=2&page_size=10")
    assert pin_of(second["next"]) == pin
    assert second == first
    assert vk.ttl(found[0]) <= 100  # not rewritten within PIN_REFRESH_S
    assert PIN_REFRESH_S < keys.PIN_TTL
    following = await api.json(first["next"])
    assert following["count"] == first["count"]
    assert not set(ids_of(following)) & set(ids_of(first))


async def test_a_buyer_gets_a_pin_of_their_own(api: Api) -> None:
    anonymous = await api.json("/listing/?city_id=2&page_size=10")
    auth = {"Authorization": f"Bearer {token(77)}"}
    mine = await api.json("/listing/?city_id=2&page_size=10", headers=auth)
    assert pin_of(mine["next"]) is not None
    pages = [mine]
    for _ in range(3):
        pages.append(await api.json(pages[-1]["next"], headers=auth))
    shown = [i for p in pages for i in ids_of(p)]
    assert len(shown) == len(set(shown))
    # A pin names an order and its key is bound to the viewer: the anonymous link shows the
    # buyer their own page 2 (the same pin when both orders are equal, a new one otherwise).
    other = await api.json(anonymous["next"], headers=auth)
    assert ids_of(other) == ids_of(pages[1])


async def test_kept_orders_follow_the_rankers_order_key(api: Api,
                                                        ranked: Services) -> None:
    ranker = KeyedRanker()
    ranked.ranker = ranker
    first = await api.json("/listing/?city_id=3&page_size=5")
    again = await api.json("/listing/?city_id=3&page_size=5")
    assert ids_of(again) == ids_of(first)
    assert ids_of(first) == sorted(ids_of(first), reverse=True)
    assert ranker.calls == 1  # the second request reused the order
    ranker.reverse = False  # a new order_key: a kept order must not be served
    flipped = await api.json("/listing/?city_id=3&page_size=5")
    assert ids_of(flipped) == sorted(ids_of(flipped))
    assert ranker.calls == 2


# ----------------------------------------------------------------------------- the lane
def normalised(body: bytes) -> bytes:
    return PIN.sub(b"pin=*", body)


@asynccontextmanager
async def routed_only(settings: ApiSettings) -> AsyncIterator[Api]:
    """An app built without the lanes: every request goes through FastAPI's routing. Its
    transport hands back the 500 Starlette sends before re-raising, as a server would."""
    app = create_app(settings, lanes=False)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://api.test") as client:
        yield Api(client, app)


def same_answer(ours: httpx.Response, route: httpx.Response, path: str) -> None:
    assert ours.status_code == route.status_code, path
    assert normalised(ours.content) == normalised(route.content), path
    # X-Request-ID is made afresh per request (and missing on the route's 500: Starlette's
    # ServerErrorMiddleware answers outside RequestIdMiddleware), so it is left out here.
    assert {k: v for k, v in ours.headers.items() if k != "x-request-id"} == {
        k: v for k, v in route.headers.items() if k != "x-request-id"}, path


LANE_REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/listing/?city_id=1&page_no=2", {}),
    ("/listing?city_id=1&order_by=price_asc", {}),
    ("/listing/?order_by=newest&facets=make_id,price", {}),
    ("/listing/?slug=used-cars-in-nowhere", {}),  # 404
    ("/listing/?page_no=0", {}),  # 422
    ("/listing/?order_by=sideways", {}),  # 422
    ("/listing/?order_by=newest", {"Authorization": "Bearer not-a-jwt"}),  # 401
    ("/listing/?city_id=1", {"Authorization": f"Bearer {token(5)}"}),
    # Issue 13's rules: one case rule, the design's spellings, strict numbers, ignored names.
    ("/listing/?order_by=PRICE_DESC&fuel_type=Petrol&page=2&make=1,2&utm_source=ad", {}),
    ("/listing/?slug=USED-CARS&year=2019&seen_card_ids=1,2&cty_id=3", {}),
    ("/listing/?city_id=%201", {}),  # 422
]


async def test_the_lane_answers_exactly_like_the_route(db_url: str, listing_valkey: str,
                                                       api: Api) -> None:
    """`api` has the lane (as deployed); the reference app has no lane at all."""
    settings = ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET)
    async with routed_only(settings) as routed:
        for path, headers in LANE_REQUESTS:
            for _ in range(2):  # cold, then warm
                same_answer(await api.get(path, headers=headers),
                            await routed.get(path, headers=headers), path)
    # The lane labels what it answers with the route it stands in for.
    assert b'route="/listing/"' in api.services.metrics.render()


class BrokenRanker:
    """A ranker with a bug: every reco listing it must order raises (no order_key, so no
    kept order hides it)."""

    version = "broken"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        raise RuntimeError("bug in the ranker")


def unhandled(api: Api) -> float:
    value = api.services.metrics.registry.get_sample_value("carpages_unhandled_errors_total")
    return float(value or 0)


async def test_a_bug_is_a_counted_json_500_in_the_lane_and_the_route(
        db_url: str, listing_valkey: str, api: Api, ranked: Services) -> None:
    settings = ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET)
    path = "/listing/?city_id=4&page_size=3"
    async with routed_only(settings) as routed:
        routed.services.ranker = BrokenRanker()
        ranked.ranker = BrokenRanker()
        before = unhandled(api), unhandled(routed)
        ours, route = await api.get(path), await routed.get(path)
        assert (unhandled(api), unhandled(routed)) == (before[0] + 1, before[1] + 1)
    same_answer(ours, route, path)
    assert ours.status_code == 500
    # The route's 500 is sent outside every user middleware; it still carries the id.
    assert ours.headers["x-request-id"]
    assert route.headers["x-request-id"]
    assert ours.json() == {"error": "internal error", "detail": "RuntimeError"}


async def test_a_valkey_outage_is_one_503_in_the_lane_and_the_route(
        tmp_path: Path, stack_env: stack.StackEnv, tiny_db: str) -> None:
    server = servers.start_valkey(tmp_path / "valkey", port=servers.free_port())
    try:
        url = f"valkey://127.0.0.1:{server.port}/0"
        full_build(mysql_url(stack_env, tiny_db), url)
        settings = ApiSettings(valkey_url=url, jwt_secret=SECRET, reco_enabled=False)
        path = "/listing/?order_by=newest&city_id=1"
        async with serving(settings) as laned, routed_only(settings) as routed:
            for app in (laned, routed):
                assert (await app.get(path + "&page_size=7")).status_code == 200
            # Below, a page neither process served yet: one the listing L1 holds is answered
            # from memory until a tracking heartbeat goes unanswered (API_L1_HEARTBEAT_S), as
            # the dedicated page's L1 does.
            os.kill(server.pid, signal.SIGSTOP)  # frozen: every read times out
            try:
                frozen = [await asyncio.wait_for(app.get(path), 10) for app in (laned, routed)]
            finally:
                os.kill(server.pid, signal.SIGCONT)
            server.stop()  # down: connection refused
            down = [await asyncio.wait_for(app.get(path), 10) for app in (laned, routed)]
            # Each 503 was counted once, by the lane and by the route alike.
            for app in (laned, routed):
                counted = [app.services.metrics.registry.get_sample_value(
                    "carpages_valkey_errors_total", {"where": "request", "error": kind})
                    for kind in ("TimeoutError", "ConnectionError")]
                assert counted == [1.0, 1.0], counted
    finally:
        server.stop()
    for ours, route in (frozen, down):
        same_answer(ours, route, path)
        assert ours.status_code == 503
        assert ours.headers["retry-after"] == str(settings.retry_after_s)
        assert ours.json()["error"] == "cache unavailable"
    assert frozen[0].json()["detail"] == "TimeoutError"


# ----------------------------------------------------------------------------- slugs
def slug_lookups(api: Api, outcome: str) -> float:
    value = api.services.metrics.registry.get_sample_value(
        "carpages_cache_lookups_total", {"kind": "listing_slug", "outcome": outcome})
    return float(value or 0)


async def test_a_slug_is_resolved_once_per_slug_map(api: Api, listing_valkey: str) -> None:
    """The memo is keyed by the slug map's token in meta; a new map (contents and token in one
    MULTI, as the builder writes it) is used by the very next request."""
    client = valkey.asyncio.Valkey.from_url(listing_valkey, socket_timeout=2)
    path = "/listing/?slug=used-tata-cars-in-mumbai&order_by=newest"
    first = await api.json(path)
    hits, misses = slug_lookups(api, "hit"), slug_lookups(api, "miss")
    assert await api.json(path) == first
    assert (slug_lookups(api, "hit"), slug_lookups(api, "miss")) == (hits + 1, misses)
    tata, maruti = await client.hmget(keys.slugs(), ["tata", "maruti-suzuki"])
    assert tata is not None
    assert maruti is not None
    marutis = await api.json("/listing/?slug=used-maruti-suzuki-cars-in-mumbai&order_by=newest")
    assert marutis["count"] != first["count"]

    async def replace_map(entry: bytes, token: str) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.slugs(), "tata", entry)
            pipe.hset(keys.meta(), "slugs", token)
            await pipe.execute()

    misses = slug_lookups(api, "miss")
    try:
        await replace_map(maruti, "test-map-1")
        moved = await api.json(path)  # "tata" now names Maruti Suzuki
        assert (moved["count"], moved["results"]) == (marutis["count"], marutis["results"])
        assert slug_lookups(api, "miss") == misses + 1
    finally:
        await replace_map(tata, "test-map-2")
        await client.aclose()
    assert await api.json(path) == first


# ----------------------------------------------------------------------------- single flight
@pytest.mark.parametrize("order_by", ["price_asc", "reco"])
async def test_concurrent_misses_of_one_query_compose_it_once(api: Api, order_by: str) -> None:
    """Twenty requests for a result nobody composed yet: one MULTI composes it, the rest wait
    for it and read it, and every answer is the same page."""
    trips = api.services.listing.trips
    composed: list[str] = []
    on_primary = trips.on_primary

    async def counting(reader: Any, gen: Any, key: str, queue: Any) -> list[Any]:
        composed.append(key)
        await asyncio.sleep(0.05)  # keep the composition in flight while the others arrive
        return await on_primary(reader, gen, key, queue)

    trips.on_primary = counting  # type: ignore[method-assign]
    try:
        # A price range of its own per order: a result no earlier test composed.
        path = f"/listing/?order_by={order_by}&price_min=123457&price_max=987653"
        answers = await asyncio.gather(*(api.json(path) for _ in range(20)))
    finally:
        del trips.on_primary
    assert len(composed) == 1, composed
    assert all(a == answers[0] for a in answers)
    assert answers[0]["count"] > 0


async def test_concurrent_misses_of_one_query_count_its_facets_once(api: Api) -> None:
    """Twenty requests for facets nobody counted yet: one MULTI counts them, the rest wait for
    it and use what it stored, and every answer is the same page."""
    reader = api.services.listing.facets
    counted: list[str] = []
    on_primary = reader.on_primary

    async def counting(request_reader: Any, gen: Any, key: str, queue: Any) -> list[Any]:
        counted.append(key)
        await asyncio.sleep(0.05)  # keep the count in flight while the others arrive
        return await on_primary(request_reader, gen, key, queue)

    reader.on_primary = counting
    try:
        # Filters of their own: facets no earlier test counted.
        path = ("/listing/?order_by=newest&price_min=123461&price_max=987659"
                "&facets=make_id,fuel_type,price")
        answers = await asyncio.gather(*(api.json(path) for _ in range(20)))
    finally:
        reader.on_primary = on_primary
    assert len(counted) == 1, counted
    assert all(a == answers[0] for a in answers)
    assert answers[0]["facets"]["make_id"]
