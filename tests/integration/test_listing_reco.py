"""The listing's `reco` order: rankers, seen cars, and pinned paging across a model change."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest
import valkey
from carpages_api.bootstrap import Services
from carpages_api.reco.ranking import PopularityRanker, Viewer
from carpages_api.settings import ApiSettings
from carpages_shared import keys

from tests.integration.listing_support import (
    SECRET,
    Api,
    ListingOracle,
    ids_of,
    serving,
    token,
    url,
)

WIDE = 2000


class ShuffledRanker:
    """A deterministic stand-in model: each version orders cars by its own hash."""

    def __init__(self, version: str) -> None:
        self._version = version
        self.viewers: list[Viewer] = []

    @property
    def version(self) -> str:
        return self._version

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        self.viewers.append(viewer)
        return sorted(candidates, key=lambda c: hashlib.blake2b(
            f"{self._version}:{c}".encode(), digest_size=8).digest())


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


@pytest.fixture
def ranked(api: Api) -> Iterator[Services]:
    """The app's ranker slot; whatever a test puts there is replaced by popularity after."""
    yield api.services
    api.services.ranker = PopularityRanker()


def pin_of(link: str | None) -> str:
    assert link is not None
    return parse_qs(urlsplit(link).query)["pin"][0]


def busy_city(oracle: ListingOracle) -> tuple[str, int]:
    (city, n), = oracle.rows("SELECT l.city_id, COUNT(*) AS n FROM car c JOIN locality l "
                             "ON l.id = c.locality_id WHERE c.status = 'live' "
                             "GROUP BY l.city_id ORDER BY n DESC LIMIT 1")
    return str(city), int(n)


async def test_pinned_pages_survive_a_model_version_change(
        api: Api, ranked: Services, oracle: ListingOracle) -> None:
    city, n = busy_city(oracle)
    old, new = ShuffledRanker("m1"), ShuffledRanker("m2")
    ranked.ranker = old
    first = await api.json(url({"city_id": city, "page_size": "20"}))
    assert pin_of(first["next"]).startswith("m1.")
    ranked.ranker = new  # a retrain lands between page 1 and page 2
    pages = [first]
    while pages[-1]["next"]:
        pages.append(await api.json(pages[-1]["next"]))
    shown = [i for page in pages for i in ids_of(page)]
    candidates = oracle.ids({"city_id": city}, "newest")
    assert len(shown) == len(set(shown)) == n == first["count"]
    assert shown == old.rank(candidates, Viewer())
    assert shown != new.rank(candidates, Viewer())
    assert all(pin_of(p["previous"]) == pin_of(first["next"]) for p in pages[1:])
    fresh = await api.json(url({"city_id": city, "page_size": "20"}))
    assert ids_of(fresh) == new.rank(candidates, Viewer())[:20]


async def test_unknown_or_expired_pin_recomputes_with_a_new_pin(
        api: Api, ranked: Services, oracle: ListingOracle, vk: valkey.Valkey) -> None:
    city, _ = busy_city(oracle)
    ranked.ranker = ShuffledRanker("m7")
    first = await api.json(url({"city_id": city, "page_size": "10"}))
    for key in vk.scan_iter(match="{cp}:pin:m7:*", count=1000):
        vk.delete(key)  # the pin expired
    second = await api.json(first["next"])
    candidates = oracle.ids({"city_id": city}, "newest")
    assert ids_of(second) == ShuffledRanker("m7").rank(candidates, Viewer())[10:20]
    assert pin_of(second["next"]) != pin_of(first["next"])
    made_up = await api.json(url({"city_id": city, "page_size": "10", "page_no": "3",
                                  "pin": "m7.0123456789abcdef"}))
    assert made_up["count"] == first["count"]


async def test_a_pin_on_other_filters_is_not_reused(api: Api, ranked: Services,
                                                    oracle: ListingOracle) -> None:
    ranked.ranker = ShuffledRanker("m3")
    city, _ = busy_city(oracle)
    first = await api.json(url({"city_id": city, "page_size": "10"}))
    pin = pin_of(first["next"])
    other = await api.json(url({"fuel_type": "diesel", "page_size": "10", "page_no": "2",
                                "pin": pin}))
    diesel = oracle.ids({"fuel_type": "diesel"}, "newest")
    assert other["count"] == len(diesel)
    assert ids_of(other) == ShuffledRanker("m3").rank(diesel, Viewer())[10:20]


async def test_pins_are_bounded_by_the_page_window(api: Api, vk: valkey.Valkey) -> None:
    body = await api.json(url({"page_size": "35"}))  # every live car, reco
    assert body["count"] > 1000
    pins = list(vk.scan_iter(match="{cp}:pin:*", count=1000))
    assert pins
    assert max(vk.strlen(p) for p in pins) <= 4 + 4 * 1000
    assert all(0 < vk.ttl(p) <= keys.PIN_TTL for p in pins)


async def test_single_page_results_carry_no_pin(api: Api, oracle: ListingOracle) -> None:
    (model,), = oracle.rows("SELECT v.model_id FROM car c JOIN variant v ON v.id = c.variant_id "
                            "WHERE c.status = 'live' GROUP BY v.model_id "
                            "HAVING COUNT(*) BETWEEN 2 AND 10 LIMIT 1")
    body = await api.json(url({"model_id": str(model)}))
    assert body["next"] is None
    assert body["previous"] is None


async def test_buyer_seen_cars_move_to_the_end(wide: Api, api: Api,
                                               oracle: ListingOracle) -> None:
    (buyer, city), = oracle.rows(
        "SELECT i.buyer_id, l.city_id FROM interaction i JOIN car c ON c.id = i.car_id "
        "JOIN locality l ON l.id = c.locality_id WHERE c.status = 'live' "
        "GROUP BY i.buyer_id, l.city_id ORDER BY COUNT(DISTINCT i.car_id) DESC, i.buyer_id "
        "LIMIT 1")
    seen = {r[0] for r in oracle.rows("SELECT car_id FROM interaction WHERE buyer_id = %s",
                                      (buyer,))}
    generic = oracle.popular({"city_id": str(city)})
    expected = [c for c in generic if c not in seen] + [c for c in generic if c in seen]
    assert expected != generic
    auth = {"Authorization": f"Bearer {token(buyer)}"}
    mine = await wide.json(url({"city_id": str(city), "page_size": str(WIDE)}), headers=auth)
    assert ids_of(mine) == expected
    assert mine["count"] == len(generic)
    pages = [await api.json(url({"city_id": str(city), "page_size": "25"}), headers=auth)]
    while pages[-1]["next"]:
        pages.append(await api.json(pages[-1]["next"], headers=auth))
    assert [i for p in pages for i in ids_of(p)] == expected[:len(pages) * 25]
    # A bare buyer_id personalises the model's input only: the private seen set is not read.
    bare = await wide.json(url({"city_id": str(city), "page_size": str(WIDE),
                                "buyer_id": str(buyer)}))
    assert ids_of(bare) == generic


async def test_rankers_see_the_viewer(api: Api, ranked: Services) -> None:
    ranker = ShuffledRanker("m9")
    ranked.ranker = ranker
    await api.json(url({"page_size": "5", "buyer_id": "42"}))
    await api.json(url({"page_size": "5", "seen_car_ids": "9,3"}))
    await api.json(url({"page_size": "5"}), headers={"Authorization": f"Bearer {token(8)}"})
    assert ranker.viewers == [Viewer(buyer_id=42), Viewer(seen_ids=(3, 9)), Viewer(buyer_id=8)]
