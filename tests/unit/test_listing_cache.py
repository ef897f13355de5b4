"""Pure pieces of the listing's fast path: the bounded copies, snapshots, content pins, the
vectorised snapshot helpers, the radix argsort, memoised query parsing and links."""

from __future__ import annotations

import numpy as np
import pytest
from carpages_api.errors import ApiError
from carpages_api.listing import pinning
from carpages_api.listing.cache import Candidates, Lru, Ranked, Snapshot, deadline
from carpages_api.listing.generation import Generation
from carpages_api.listing.members import Members
from carpages_api.listing.parsed_queries import ParsedQueries
from carpages_api.listing.parsing import parse_query
from carpages_api.listing.query import Limits
from carpages_api.reco.items import ItemTable
from carpages_api.reco.ranking import PopularityRanker, Viewer
from carpages_api.reco.scoring import Serving, order, radix_argsort
from hypothesis import given, settings
from hypothesis import strategies as st


def test_lru_is_bounded_by_weight_and_drops_the_least_recently_used() -> None:
    lru: Lru[str, int] = Lru(10)
    lru.put("a", 1, deadline=100.0, weight=4)
    lru.put("b", 2, deadline=100.0, weight=4)
    assert lru.get("a", now=0.0) == 1  # "b" is now the least recently used
    lru.put("c", 3, deadline=100.0, weight=4)
    assert lru.get("b", now=0.0) is None
    assert (lru.get("a", now=0.0), lru.get("c", now=0.0)) == (1, 3)
    assert lru.weight == 8
    lru.put("huge", 9, deadline=100.0, weight=11)  # heavier than the bound: not kept
    assert lru.get("huge", now=0.0) is None
    assert lru.weight == 8


def test_lru_entries_expire_and_can_be_dropped() -> None:
    lru: Lru[str, int] = Lru(10)
    lru.put("a", 1, deadline=5.0)
    lru.put("b", 2, deadline=50.0)
    assert lru.get("a", now=4.9) == 1
    assert lru.get("a", now=5.0) is None
    assert len(lru) == 1
    lru.pop("b")
    assert lru.get("b", now=0.0) is None
    lru.put("c", 3, deadline=50.0)
    lru.clear()
    assert (len(lru), lru.weight) == (0, 0)


def test_copies_expire_with_their_key() -> None:
    assert deadline(100.0, 1500, 600) == 101.5
    assert deadline(100.0, -1, 600) == 700.0  # no expiry on the key: the default bound
    assert deadline(100.0, -2, 600) is None  # the key was gone
    assert deadline(100.0, None, 600) is None


def test_snapshots_of_equal_orders_share_a_token() -> None:
    order = np.asarray([5, 3, 9, 1], dtype=np.int64)
    one, two = Snapshot.of(order, window=3), Snapshot.of(order.copy(), window=3)
    assert one.token == two.token
    assert one.token != Snapshot.of(order[::-1].copy(), window=3).token
    assert one.count == 4
    assert one.packed() == pinning.pack([5, 3, 9, 1], 3)
    assert one.page(1, 2) == [b"3", b"9"]
    assert one.page(1, 2) is one.page(1, 2)  # encoded once
    assert one.page(5, 9) == []


def test_content_pins_name_the_order_and_parse() -> None:
    pin = pinning.content_pin("lightfm 2024/06", "0123456789abcdef")
    assert pin == "lightfm_2024_06.0123456789abcdef"
    assert pinning.parse_pin(pin) == ("lightfm_2024_06", "0123456789abcdef")
    assert len(pinning.content_token(b"abc")) == 16
    assert pinning.content_token(b"abc") == pinning.content_token(b"abc")


@settings(deadline=None)  # a loaded 2-core CI stalls single examples
@given(st.lists(st.integers(1, 500), max_size=100), st.sets(st.integers(1, 500), max_size=60),
       st.sets(st.integers(1, 500), max_size=60))
def test_vectorised_snapshot_equals_the_reference(ranked: list[int], members: set[int],
                                                  seen: set[int]) -> None:
    candidates = sorted(members)
    order = Ranked(pinning.ordered(ranked, candidates))
    assert order.order.tolist() == pinning.snapshot(ranked, candidates, set())
    prepared = Members.of(np.asarray(candidates, dtype=np.int64))
    assert pinning.ordered(ranked, candidates, members=prepared).tolist() == order.order.tolist()
    assert order.seen_last(sorted(seen)).tolist() == pinning.snapshot(ranked, candidates, seen)


def test_snapshots_are_made_once_per_stored_seen_set() -> None:
    order = Ranked(np.asarray([5, 3, 9, 1, 7], dtype=np.int64))
    plain = order.snapshot((9,), None, window=3)
    assert (plain.count, plain.ids.tolist()) == (5, [5, 3, 1])
    stored = frozenset({b"5", b"3"})
    mine = order.snapshot((9,), stored, window=10)
    assert mine.ids.tolist() == [1, 7, 5, 3, 9]
    assert order.last == stored
    assert order.snapshot((9,), frozenset({b"3", b"5"}), window=10) is mine
    assert order.snapshot((9,), None, window=3) is plain


def test_a_permutation_is_kept_as_ranked() -> None:
    ranked = [4, 2, 8, 6]
    assert pinning.ordered(ranked, [2, 4, 6, 8]).tolist() == ranked


@settings(deadline=None)
@given(st.lists(st.integers(-5, 40), min_size=1, max_size=60), st.lists(st.integers(-5, 40)),
       st.integers(0, 1 << 40))
def test_same_members_equals_comparing_sorted_arrays(members: list[int], other: list[int],
                                                     shift: int) -> None:
    """The bitmap check (dense distinct ids) and the sort (wide spans, repeated ids) agree
    with sorting the order and comparing: for a permutation and for near misses."""
    size = len(members)
    candidates = [members[::-1],  # a permutation
                  [*members[:-1], members[0]],  # one repeated, one missing (if distinct)
                  [*members[:-1], 41], [*members[:-1], -6],  # one outside the span
                  (other * size)[:size] if other else members]  # anything of that length
    expected = np.sort(np.asarray(members, dtype=np.int64) + shift)
    for ranked in candidates:
        ranked_array = np.asarray(ranked, dtype=np.int64) + shift
        assert pinning.same_members(ranked_array, expected) == np.array_equal(
            np.sort(ranked_array), expected)
    wide = np.asarray([0, 1 << 50], dtype=np.int64)
    assert pinning.same_members(wide[::-1].copy(), wide)


def test_a_cached_copy_prepares_its_members_once_and_its_array_read_only() -> None:
    """The model ranker keeps rows per read-only candidate array (reco.candidate_rows)."""
    copy = Candidates([30, 10, 20], {}, 0.0)
    assert not copy.array.flags.writeable
    assert copy.members is copy.members
    assert copy.members.sorted.tolist() == [10, 20, 30]
    assert pinning.ordered(np.array([20, 30, 10]), copy.array, members=copy.members
                           ).tolist() == [20, 30, 10]
    assert pinning.ordered(np.array([20, 20, 10]), copy.array, members=copy.members
                           ).tolist() == [20, 10, 30]


@settings(deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), max_size=3000))
def test_radix_argsort_is_a_stable_argsort(values: list[float]) -> None:
    scores = np.asarray(values, dtype=np.float32)
    assert radix_argsort(scores).tolist() == np.argsort(scores, kind="stable").tolist()


def test_radix_argsort_orders_signed_zero_and_infinities() -> None:
    scores = np.asarray([0.0, -np.inf, -0.0, 3.5, np.inf, -2.0], dtype=np.float32)
    assert scores[radix_argsort(scores)].tolist() == [-np.inf, -2.0, -0.0, 0.0, 3.5, np.inf]


def test_popularity_rank_is_the_reference_sort() -> None:
    candidates = list(range(1, 400))
    counts = {c: float(c % 7) for c in candidates if c % 5}
    expected = sorted(candidates, key=lambda c: (-counts.get(c, 0.0), c))
    assert PopularityRanker().rank(candidates, Viewer(), counts) == expected
    assert PopularityRanker().rank([], Viewer(), counts) == []


def test_parsed_queries_are_remembered_exactly() -> None:
    queries = ParsedQueries(Limits())
    calls: list[int] = []

    def items(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        calls.append(1)
        return pairs

    raw = b"city_id=2,1&order_by=newest"
    first = queries.parse(raw, lambda: items([("city_id", "2,1"), ("order_by", "newest")]))
    again = queries.parse(raw, lambda: items([]))
    assert again is first
    assert len(calls) == 1
    assert first == (parse_query([("city_id", "2,1"), ("order_by", "newest")], Limits()), None)
    typo = queries.parse(b"city=2&utm_source=x", lambda: [("city", "2"), ("utm_source", "x")])
    assert typo == (parse_query([], Limits()), "city")
    with pytest.raises(ApiError):
        queries.parse(b"page_no=0", lambda: [("page_no", "0")])
    with pytest.raises(ApiError):  # rejected strings are parsed (and rejected) again
        queries.parse(b"page_no=0", lambda: [("page_no", "0")])


def test_links_are_remembered_per_page_and_pin() -> None:
    query = parse_query([("city_id", "3"), ("seen_car_ids", "9,2"), ("facets", "price")],
                        Limits())
    one = query.link(2, "m1.0123456789abcdef")
    assert one == ("/listing/?city_id=3&order_by=reco&page_size=20&page_no=2&facets=price"
                   "&seen_car_ids=2,9&pin=m1.0123456789abcdef")
    assert query.link(2, "m1.0123456789abcdef") is one
    assert query.link(3, None).endswith("page_no=3&facets=price&seen_car_ids=2,9")
    assert query.filters.digest() == query.filters.digest()
    assert query.filters.digest() != query.filters.digest(salt="facet:price")


def test_generation_resets_when_the_build_goes_backwards() -> None:
    generation = Generation()
    resets: list[int] = []
    generation.on_reset = lambda: resets.append(1)
    generation.watched([b"7", b"3"])
    generation.watched([b"7", b"4"])
    generation.watched([b"8", b"0"])  # a rebuild: forwards
    assert resets == []
    generation.watched([b"1", b"0"])  # Valkey lost its data: numbers restart
    assert resets == [1]
    assert generation.current == (1, 0)
    assert generation.observe([b"1", b"0"]) == (1, 0)
    assert generation.observe([None, None]) is None
    assert generation.current == (1, 0)


@pytest.mark.parametrize(("size", "prefix"), [(300, None), (300, 50), (2000, None),
                                              (2000, 100), (40_000, 1000)])
def test_order_sorts_at_least_the_prefix(size: int, prefix: int | None) -> None:
    rng = np.random.default_rng(size)
    ids = np.arange(1, size + 1, dtype=np.int64) * 3
    table = ItemTable.build(ids, rng.standard_normal((size, 9)).astype(np.float32))
    serving = Serving(model=None, table=table)  # type: ignore[arg-type]  # order() uses the table
    vector = rng.standard_normal(9).astype(np.float32)
    candidates = rng.permutation(ids)
    expected = candidates[np.argsort(-(table.vectors[table.rows(candidates)] @ vector),
                                     kind="stable")]
    ranked = order(serving, candidates, vector, sorted_prefix=prefix)
    head = size if prefix is None else prefix
    assert ranked[:head].tolist() == expected[:head].tolist()
    assert sorted(ranked.tolist()) == sorted(candidates.tolist())
