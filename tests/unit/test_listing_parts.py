"""Pure listing pieces: pins and snapshots, the composition plan, facet helpers, the body."""

from __future__ import annotations

import orjson
from carpages_api.listing import composition, facets, pinning
from carpages_api.listing.body import ListingPage
from carpages_api.listing.query import Filters
from carpages_api.reco.ranking import PopularityRanker, Viewer
from carpages_shared import keys
from hypothesis import given
from hypothesis import strategies as st


@given(st.lists(st.integers(1, 2**32 - 1), max_size=300), st.integers(1, 400))
def test_pack_keeps_count_and_window(ids: list[int], window: int) -> None:
    raw = pinning.pack(ids, window)
    assert pinning.unpack_count(raw) == len(ids)
    assert pinning.unpack_ids(raw[pinning.HEADER_BYTES:]) == ids[:window]


@given(st.lists(st.integers(1, 10**6), max_size=200, unique=True), st.integers(0, 50),
       st.integers(1, 35))
def test_byte_range_slices_exactly_one_page(ids: list[int], page: int, size: int) -> None:
    raw = pinning.pack(ids, 10**6)
    start = page * size
    lo, hi = pinning.byte_range(start, start + size - 1)
    assert pinning.unpack_ids(raw[lo:hi + 1]) == ids[start:start + size]


@given(st.lists(st.integers(1, 500), max_size=100), st.sets(st.integers(1, 500), max_size=60),
       st.sets(st.integers(1, 500), max_size=60))
def test_snapshot_is_a_permutation_with_seen_last(ranked: list[int], members: set[int],
                                                  seen: set[int]) -> None:
    order = pinning.snapshot(ranked, sorted(members), seen)
    assert sorted(order) == sorted(members)
    flags = [c in seen for c in order]
    assert flags == sorted(flags)  # every unseen car precedes every seen one


def test_pins_are_bound_to_query_and_viewer() -> None:
    pin = pinning.new_pin("lightfm 2024/06")
    version, token = pinning.parse_pin(pin) or ("", "")
    assert version == "lightfm_2024_06"
    assert len(token) == 16
    one = pinning.pin_id(pin, "q1", Viewer(buyer_id=7))
    assert one != pinning.pin_id(pin, "q2", Viewer(buyer_id=7))
    assert one != pinning.pin_id(pin, "q1", Viewer(buyer_id=8))
    assert one != pinning.pin_id(pin, "q1", Viewer(seen_ids=(7,)))
    assert pinning.parse_pin("no-dot") is None


def test_popularity_ranker_breaks_ties_by_id() -> None:
    ranker = PopularityRanker()
    order = ranker.rank([5, 3, 9, 1], Viewer(), {5: 2.0, 3: 7.0, 9: 2.0, 1: 0.0})
    assert order == [3, 5, 9, 1]
    assert ranker.version == "popularity"


def test_plan_weights_encode_order_and_filters() -> None:
    f = Filters.model_validate({"make_id": "2,1", "city_id": "4", "features": "8,9",
                                "price_max": 500000})
    plan = composition.plan(3, 7, f, "price")
    assert plan.dest == keys.query_result(3, 7, "price", f.digest())
    assert plan.weights[keys.numeric_index(3, "price")] == composition.ID_FACTOR
    assert plan.weights[keys.live_cars(3)] == 1
    assert plan.weights[keys.set_index(3, "city_id", "4")] == 0
    assert plan.weights[keys.set_index(3, "feature", 8)] == 0
    assert [sources for _, sources in plan.unions] == [
        (keys.set_index(3, "make_id", "1"), keys.set_index(3, "make_id", "2"))]
    assert [(lo, hi) for *_, lo, hi in plan.ranges] == [("-inf", "500000")]
    assert set(plan.scratch) <= set(plan.weights)
    reco = composition.plan(3, 7, f, "reco")
    assert reco.weights[keys.popularity(3)] == 1
    assert reco.weights[keys.live_cars(3)] == 0


def test_order_scores_stay_exact_within_the_documented_bounds() -> None:
    top = (2**32 - 1) * composition.ID_FACTOR + (composition.ID_FACTOR - 1)
    assert top < 2**53
    assert float(top) == top


def test_plan_for_an_empty_intersection_stores_only_the_sentinel() -> None:
    f = Filters.model_validate({"make_id": "1"}).intersect(Filters.model_validate({"make_id": "2"}))
    assert composition.plan(1, 0, f, "newest").weights == {}


def test_facet_bases_and_labels() -> None:
    f = Filters.model_validate({"make_id": "1", "features": "3", "price_min": 5})
    assert facets.base(f, "make_id").make_id is None
    assert facets.base(f, "features") == f
    assert facets.base(f, "price").price_min is None
    assert facets.cache_hash(f, "make_id") != facets.cache_hash(f, "city_id")
    assert [facets.label(lo, hi) for lo, hi in facets.PRICE_BUCKETS][:2] == [
        "-199999", "200000-299999"]
    assert facets.label(2024, None) == "2024-"
    assert facets.bucket_filters("year", 2012, 2014).canonical() == "year_min=2012&year_max=2014"


def test_facet_encoding_orders_values_and_drops_zeros() -> None:
    assert facets.encode("make_id", {"10": 2, "9": 1, "3": 0}) == b'{"9":1,"10":2}'
    assert facets.encode("price", {"-199999": 0}) == b'{"-199999":0}'
    spliced = facets.splice([("make_id", b'{"9":1}'), ("year", b"{}")])
    assert orjson.loads(spliced) == {"make_id": {"9": 1}, "year": {}}


def test_body_splices_card_bytes_verbatim() -> None:
    cards = [b'{"id":1,"price":5}', b'{"id":2,"price":6}']
    page = ListingPage(count=9, page_count=5, next="/listing/?page_no=2", previous=None,
                       cards=cards, facets=b'{"year":{}}')
    body = page.body()
    assert cards[0] in body
    assert cards[1] in body
    assert orjson.loads(body) == {"count": 9, "page_count": 5, "next": "/listing/?page_no=2",
                                  "previous": None, "results": [orjson.loads(c) for c in cards],
                                  "facets": {"year": {}}}
