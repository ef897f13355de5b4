"""The model ranker's order against a plain reference: score every candidate the way the
ranker does, then one stable sort (equal scores keep the candidates' order).

With a sorted prefix the head must be exactly the reference's head and the rest all present:
sorted when the ranker sorted everything, else in the candidates' order. Vectors are small
integers, so many scores tie exactly whatever the order of the floating-point sums. Candidate
arrays come writable and read-only (the listing's: their rows are kept per table), each ranked
twice, so a kept lookup must give the same order as a fresh one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from carpages_api.reco import scoring
from carpages_api.reco.items import ItemTable
from carpages_api.reco.loader import LoadedModel
from carpages_api.reco.model import ModelRanker, Serving
from carpages_api.reco.ranking import Viewer
from carpages_api.reco.scoring import GATHER_BELOW, descending_keys, sort_keys, user_vector
from hypothesis import given, settings
from hypothesis import strategies as st


class NoFallback:
    version = "none"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        raise AssertionError("the model serves")


def serving_with_ties(rng: np.random.Generator, cars: int, buyers: int = 50, k: int = 4
                      ) -> Serving:
    """A model and table whose scores tie often: few distinct small-integer vectors, some cars
    sharing one vector, some cars unknown (the table's fallback row)."""
    vectors = rng.integers(-2, 3, size=(cars, k + 1)).astype(np.float32)
    vectors[rng.random(cars) < 0.2] = vectors[0]
    vectors[rng.random(cars) < 0.05] = 0.0  # scores of 0.0 and -0.0
    users = rng.integers(-2, 3, size=(buyers, k + 1)).astype(np.float32)
    users[:, -1] = 1.0
    model = LoadedModel(
        version="v", meta=None,  # type: ignore[arg-type]  # scoring never reads it
        attribute_index={}, identity_rows={},
        item_table=np.zeros((1, k + 1), np.float32),
        user_ids=np.arange(1, buyers + 1, dtype=np.int64),
        user_vectors=users,
        generic=np.append(rng.integers(-1, 2, size=k), 1.0).astype(np.float32))
    ids = np.arange(1, cars + 1, dtype=np.int64) * 7
    known = rng.random(cars) > 0.05
    return Serving(model, ItemTable.build(ids, vectors, known))


def candidates_of(rng: np.random.Generator, serving: Serving, share: float,
                  read_only: bool = False) -> np.ndarray:
    """Distinct candidates in a random order: a share of the table plus a few unknown ids
    (`read_only`: as the listing's cached copies hand them to the ranker)."""
    ids = serving.table.ids
    picked = rng.choice(ids, size=max(1, int(len(ids) * share)), replace=False)
    unknown = np.arange(1, 1 + len(ids) // 50, dtype=np.int64) * 7 + 3
    both: np.ndarray = rng.permutation(np.concatenate([picked, unknown]))
    both.flags.writeable = not read_only
    return both


def rank_twice(ranker: ModelRanker, candidates: np.ndarray, viewer: Viewer) -> np.ndarray:
    """The ranker's order, asserted equal when asked again (then from kept rows, if kept)."""
    first = ranker.rank_array(candidates, viewer)
    assert ranker.rank_array(candidates, viewer).tolist() == first.tolist()
    return first


def reference(serving: Serving, candidates: np.ndarray, viewer: Viewer) -> np.ndarray:
    """Every candidate scored (the table product or the gathered rows, as the ranker chooses
    by size), then a stable sort by descending score."""
    vector = user_vector(serving, viewer)
    rows = serving.table.rows(candidates)
    vectors = serving.table.vectors
    if len(rows) * GATHER_BELOW < len(vectors):
        scores = vectors[rows] @ vector
    else:
        scores = (vectors @ vector)[rows]
    ranked: np.ndarray = candidates[np.argsort(-scores, kind="stable")]
    return ranked


def assert_order(ranked: np.ndarray, expected: np.ndarray, candidates: np.ndarray,
                 prefix: int | None) -> None:
    size = len(candidates)
    if prefix is None or prefix >= size - 1 or size <= scoring.PARTITION_FROM:
        assert ranked.tolist() == expected.tolist()
        return
    head = expected[:prefix]
    assert ranked[:prefix].tolist() == head.tolist()
    rest = candidates[~np.isin(candidates, head)]
    assert ranked[prefix:].tolist() == rest.tolist()


VIEWERS = {
    "buyer": lambda ids: Viewer(buyer_id=7),
    "unknown buyer, seen cars": lambda ids: Viewer(buyer_id=999, seen_ids=tuple(ids[:3])),
    "seen cars": lambda ids: Viewer(seen_ids=tuple(ids[5:9])),
    "generic": lambda ids: Viewer(),
}


@pytest.mark.parametrize("viewer_kind", sorted(VIEWERS))
@pytest.mark.parametrize("prefix", [None, 1, 40, 300])
def test_selected_head_equals_the_reference(monkeypatch: pytest.MonkeyPatch, viewer_kind: str,
                                            prefix: int | None) -> None:
    """Small sizes with the selection thresholds lowered, so many random cases take the path
    that selects the head instead of sorting everything."""
    monkeypatch.setattr(scoring, "PARTITION_FROM", 64)
    monkeypatch.setattr(scoring, "SAMPLE_SIZE", 32)
    for seed in range(25):
        rng = np.random.default_rng(seed)
        serving = serving_with_ties(rng, int(rng.integers(70, 1500)))
        ranker = ModelRanker(client=None, fallback=NoFallback(), sorted_prefix=prefix)
        ranker._serving = serving
        for share in (0.1, 0.9, 1.0):  # gathered rows, then the whole-table product
            candidates = candidates_of(rng, serving, share, read_only=seed % 2 == 1)
            viewer = VIEWERS[viewer_kind](serving.table.ids.tolist())
            ranked = rank_twice(ranker, candidates, viewer)
            assert_order(ranked, reference(serving, candidates, viewer), candidates, prefix)


@pytest.mark.parametrize("prefix", [None, 1000])
def test_full_size_orders_equal_the_reference(prefix: int | None) -> None:
    """Above PARTITION_FROM with the real thresholds, for every viewer kind."""
    rng = np.random.default_rng(11)
    serving = serving_with_ties(rng, 40_000, k=3)
    ranker = ModelRanker(client=None, fallback=NoFallback(), sorted_prefix=prefix)
    ranker._serving = serving
    for read_only in (False, True):
        candidates = candidates_of(rng, serving, 1.0, read_only)
        assert len(candidates) > scoring.PARTITION_FROM
        for make in VIEWERS.values():
            viewer = make(serving.table.ids.tolist())
            ranked = rank_twice(ranker, candidates, viewer)
            assert_order(ranked, reference(serving, candidates, viewer), candidates, prefix)


def test_a_misleading_sample_does_not_change_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampled threshold that admits too few values: every position is considered."""
    monkeypatch.setattr(scoring, "PARTITION_FROM", 64)
    monkeypatch.setattr(scoring, "sampled_threshold", lambda keys, count: np.uint32(0))
    rng = np.random.default_rng(3)
    serving = serving_with_ties(rng, 2000)
    candidates = candidates_of(rng, serving, 1.0)
    vector = user_vector(serving, Viewer(buyer_id=3))
    ranked = scoring.order(serving, candidates, vector, sorted_prefix=100)
    assert_order(ranked, reference(serving, candidates, Viewer(buyer_id=3)), candidates, 100)


def test_equal_scores_everywhere_keep_the_candidates_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cars the table does not know share the fallback row: one block of equal scores."""
    monkeypatch.setattr(scoring, "PARTITION_FROM", 64)
    serving = serving_with_ties(np.random.default_rng(4), 300)
    candidates = np.random.default_rng(4).permutation(np.arange(1, 2001, dtype=np.int64) * 7 + 1)
    vector = user_vector(serving, Viewer())
    ranked = scoring.order(serving, candidates, vector, sorted_prefix=100)
    assert ranked.tolist() == candidates.tolist()


def test_the_generic_scores_are_kept_per_serving() -> None:
    """Computed once per model and table; a new Serving (any swap) computes its own."""
    rng = np.random.default_rng(5)
    serving = serving_with_ties(rng, 500)
    first = serving.negated_generic
    assert serving.negated_generic is first
    np.testing.assert_array_equal(first, -(serving.table.vectors @ serving.model.generic))
    table = serving.table.changed(np.array([7], dtype=np.int64),
                                  np.full((1, 5), 9.0, np.float32), np.array([True]))
    swapped = Serving(serving.model, table)
    assert swapped.negated_generic is not first
    np.testing.assert_array_equal(swapped.negated_generic,
                                  -(table.vectors @ serving.model.generic))


SPECIAL = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, 1.0, -1.0, 3.4028235e38,
           -3.4028235e38, float("inf"), float("-inf")]


@settings(deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SPECIAL), st.floats(width=32, allow_nan=False)),
                max_size=200))
def test_descending_keys_order_like_the_keys_of_the_negated_scores(values: list[float]) -> None:
    """Every pair compares the same way (less, equal, greater) under both keys: the head
    selection picks and orders exactly what it did from `sort_keys(-scores)`."""
    scores = np.asarray(values, dtype=np.float32)
    expected = sort_keys(-scores).astype(np.int64)
    keys = descending_keys(scores.copy()).astype(np.int64)
    assert np.array_equal(np.sign(keys[:, None] - keys[None, :]),
                          np.sign(expected[:, None] - expected[None, :]))


@settings(deadline=None)
@given(st.lists(st.integers(0, 6), max_size=300), st.integers(-1, 320), st.integers(0, 3))
def test_first_smallest_is_the_head_of_a_stable_sort(keys: list[int], count: int,
                                                     spread: int) -> None:
    """Few distinct keys, so the boundary of the head usually falls inside a block of ties;
    positions ascending with gaps, as the admitted positions are."""
    key_array = np.asarray(keys, dtype=np.uint32) * np.uint32(0x2000_0000 if spread else 1)
    positions = np.arange(len(keys), dtype=np.intp) * (spread + 1) + spread
    head = scoring.first_smallest(positions, key_array, count)
    expected = positions[np.argsort(key_array, kind="stable")][:max(count, 0)]
    assert head.dtype == np.intp
    assert head.tolist() == expected.tolist()


def test_candidate_rows_are_kept_for_read_only_arrays_only() -> None:
    """Kept per array and table: the same rows come back for the same read-only array; a
    writable array (it could change) and a new table (a swap) are looked up afresh."""
    rng = np.random.default_rng(8)
    serving = serving_with_ties(rng, 300)
    frozen = candidates_of(rng, serving, 0.5, read_only=True)
    rows, complete = serving.candidate_rows.of(frozen)
    assert rows.tolist() == serving.table.rows(frozen).tolist()
    assert not complete  # candidates_of adds unknown ids
    assert serving.candidate_rows.of(frozen)[0] is rows
    writable = frozen.copy()
    assert serving.candidate_rows.of(writable)[0] is not serving.candidate_rows.of(writable)[0]
    swapped = Serving(serving.model, serving.table.changed(
        np.array([7], dtype=np.int64), np.full((1, 5), 9.0, np.float32), np.array([True])))
    assert swapped.candidate_rows.of(frozen)[0] is not rows
    for _ in range(20):  # others push the first out: bounded
        serving.candidate_rows.of(candidates_of(rng, serving, 0.5, read_only=True))
    again, _ = serving.candidate_rows.of(frozen)
    assert again is not rows
    assert again.tolist() == rows.tolist()


def test_unknown_candidates_are_fetched_even_when_their_rows_are_kept() -> None:
    rng = np.random.default_rng(9)
    serving = serving_with_ties(rng, 300)
    ranker = ModelRanker(client=None, fallback=NoFallback())
    ranker._serving = serving
    candidates = candidates_of(rng, serving, 0.5, read_only=True)
    unknown = set(candidates[serving.table.rows(candidates) == 0].tolist())
    for _ in range(2):
        ranker._missing.clear()
        ranker.rank_array(candidates, Viewer())
        assert ranker._missing == unknown
