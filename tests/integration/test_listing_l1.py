"""Anonymous listing pages replayed from process memory, exact by client tracking: a repeated
page is served without Valkey, and any change to what it was made from (a card, the meta, the
ranker's order) is seen by the very next request.

The module builds the demo catalogue into a Valkey of its own from the read-only `seeded_db`
and puts back whatever a test changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import valkey
from carpages_api.listing.page_l1 import CachedPage, ListingL1
from carpages_api.reco.ranking import PopularityRanker
from carpages_api.settings import ApiSettings
from carpages_shared import keys

from tests.integration.listing_support import SECRET, Api, KeyedRanker, serving, token, url

QUERY = {"order_by": "price_asc", "page_size": "5"}
RECO = {"page_size": "5"}


async def tracking(l1: ListingL1, within: float = 10) -> None:
    """Wait until the L1's tracking connection is on."""
    deadline = time.monotonic() + within
    while True:
        if l1.tracker.live:
            return
        assert time.monotonic() < deadline, "listing L1 tracking never came on"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def api(db_url: str, listing_valkey: str) -> AsyncIterator[Api]:
    async with serving(ApiSettings(valkey_url=listing_valkey, jwt_secret=SECRET)) as running:
        l1 = running.services.listing_l1
        assert l1 is not None
        await tracking(l1)
        yield running


@pytest.fixture
def restored(api: Api) -> Iterator[None]:
    yield
    api.services.ranker = PopularityRanker()


def lookups(api: Api, outcome: str) -> float:
    value = api.services.metrics.registry.get_sample_value(
        "carpages_cache_lookups_total", {"kind": "listing_l1", "outcome": outcome})
    return float(value or 0)


def build_of(vk: valkey.Valkey) -> int:
    return int(vk.hget(keys.meta(), "build"))


async def test_a_repeated_page_is_replayed_byte_for_byte(api: Api) -> None:
    first = await api.get(url(QUERY))
    hits = lookups(api, "hit")
    again = await api.get(url(QUERY))
    assert lookups(api, "hit") == hits + 1
    assert again.status_code == first.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    # A conditional request is answered from the replayed page's ETag too.
    cached = await api.get(url(QUERY), headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304
    assert lookups(api, "hit") == hits + 2


async def test_a_changed_card_is_seen_by_the_next_request(api: Api,
                                                          vk: valkey.Valkey) -> None:
    first = (await api.json(url(QUERY)))["results"][0]
    await api.get(url(QUERY))  # now in the L1
    name, car = keys.cards(build_of(vk)), str(first["id"])
    original = vk.hget(name, car)
    changed = orjson.loads(original)
    changed["variant_name"] = "changed by the test"
    vk.hset(name, car, orjson.dumps(changed))
    try:
        shown = (await api.json(url(QUERY)))["results"][0]
        assert shown["variant_name"] == "changed by the test"
    finally:
        vk.hset(name, car, original)
    assert (await api.json(url(QUERY)))["results"][0] == first


async def test_a_meta_change_drops_every_page(api: Api, vk: valkey.Valkey) -> None:
    await api.get(url(QUERY))
    await api.get(url(QUERY))
    misses = lookups(api, "miss")
    # Rewriting a field with its own value still counts as a write: nothing may be replayed.
    vk.hset(keys.meta(), "build", vk.hget(keys.meta(), "build"))
    await api.get(url(QUERY))
    assert lookups(api, "miss") == misses + 1


async def test_a_new_order_key_is_a_miss_and_shows_the_new_order(api: Api,
                                                                 restored: None) -> None:
    api.services.ranker = KeyedRanker(reverse=True)
    down = [c["id"] for c in (await api.json(url(RECO)))["results"]]
    assert [c["id"] for c in (await api.json(url(RECO)))["results"]] == down
    api.services.ranker = KeyedRanker(reverse=False)
    up = [c["id"] for c in (await api.json(url(RECO)))["results"]]
    assert up == sorted(up)
    assert down == sorted(down, reverse=True)


async def test_signed_in_callers_are_never_served_from_it(api: Api) -> None:
    before = lookups(api, "hit") + lookups(api, "miss")
    headers = {"Authorization": f"Bearer {token(1)}"}
    for _ in range(2):
        resp = await api.get(url(QUERY), headers=headers)
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "private, no-store"
    assert lookups(api, "hit") + lookups(api, "miss") == before


async def test_a_fill_that_raced_with_a_change_is_not_stored(listing_valkey: str,
                                                             db_url: str,
                                                             vk: valkey.Valkey) -> None:
    l1 = ListingL1(listing_valkey, 1_000_000, timeout_s=2, heartbeat_s=1)
    l1.start()
    try:
        await tracking(l1)
        page = CachedPage(b"{}", '"tag"', personalised=False, ignored=None)
        fill = l1.begin(KeyedRanker(reverse=True))
        assert fill is not None
        # A write under the tracked prefixes between the reads and the store: Valkey queues
        # the report before this reply, so the finish below must see it.
        vk.hset(keys.meta(), "build", vk.hget(keys.meta(), "build"))
        l1.finish(b"q=1", fill, page)
        assert l1.get(b"q=1", KeyedRanker(reverse=True)) is None
        fill = l1.begin(KeyedRanker(reverse=True))
        assert fill is not None
        l1.finish(b"q=1", fill, page)
        assert l1.get(b"q=1", KeyedRanker(reverse=True)) == page
        assert l1.get(b"q=1", KeyedRanker(reverse=False)) is None
        # The API's own writes (results, pins, facet counts) are not what pages are made from.
        vk.set(keys.pinned_order("m", "p"), b"x", ex=5)
        fill = l1.begin(KeyedRanker(reverse=True))
        assert fill is not None
        l1.finish(b"q=2", fill, page)
        assert l1.get(b"q=2", KeyedRanker(reverse=True)) == page
    finally:
        await l1.aclose()
