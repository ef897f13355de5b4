"""Serving math: item vectors from memberships, the item table, user vectors and the order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from carpages_api.listing import pinning
from carpages_api.reco import items as reco_items
from carpages_api.reco.items import ItemTable, item_vectors
from carpages_api.reco.loader import LoadedModel
from carpages_api.reco.model import ModelRanker, Serving, order, user_vector
from carpages_api.reco.ranking import Ranker, Viewer
from carpages_reco.features import item_feature_matrix, vocabulary
from carpages_reco.store import model_fields
from carpages_reco.trainer import ModelArrays, model_scorer
from carpages_shared.assembly import IndexEntry
from carpages_shared.reco_format import FeatureScheme, attribute_features

SCHEME = FeatureScheme(body_types={"7": "suv", "8": "hatchback"},
                       bands={"price": (500000.0,), "year": (), "km": ()}, identity_weight=0.4)

CARS = {  # car id -> (make, model, city, price)
    10: ("2", "7", "3", 700000.0), 11: ("2", "7", "4", 400000.0),
    12: ("5", "8", "3", 300000.0), 13: ("5", "8", "4", 350000.0),
}


def memberships(make: str, model: str, city: str, price: float) -> bytes:
    sets = (("city_id", city), ("make_id", make), ("model_id", model), ("fuel_type", "petrol"))
    return IndexEntry(sets, (("price", price), ("created", 1.0))).to_json()


def names_of(make: str, model: str, city: str, price: float) -> list[str]:
    entry = IndexEntry.from_json(memberships(make, model, city, price))
    return attribute_features(entry.sets, entry.scores, SCHEME)


@pytest.fixture(scope="module")
def trained() -> tuple[ModelArrays, LoadedModel, np.ndarray]:
    """A random 'trained' model over CARS with buyers 500 and 501, and its feature matrix."""
    rng = np.random.default_rng(1)
    car_ids = sorted(CARS)
    names = [names_of(*CARS[c]) for c in car_ids]
    vocab = vocabulary(names)
    features = item_feature_matrix(car_ids, names, vocab, SCHEME.identity_weight)
    k = 4
    arrays = ModelArrays(
        item_embeddings=rng.normal(size=(features.shape[1], k)).astype(np.float32),
        item_biases=rng.normal(size=features.shape[1]).astype(np.float32),
        item_ids=np.asarray(car_ids, dtype=np.int64),
        user_embeddings=rng.normal(size=(2, k)).astype(np.float32),
        user_biases=np.zeros(2, dtype=np.float32),
        user_ids=np.asarray([500, 501], dtype=np.int64))
    meta = {"version": "v1", "created_at": "t", "no_components": k,
            "scheme": SCHEME.model_dump(), "attribute_features": vocab, "evaluation": {},
            "training": {}}
    model = LoadedModel.from_fields(model_fields(meta, arrays.as_dict()))
    return arrays, model, features.toarray()


def entries(ids: Sequence[int]) -> list[tuple[int, bytes]]:
    return [(c, memberships(*CARS[c])) for c in ids]


def table_for(model: LoadedModel, ids: Sequence[int] = tuple(CARS)) -> ItemTable:
    vectors, known = item_vectors(model, entries(ids))
    return ItemTable.build(np.asarray(ids, dtype=np.int64), vectors, known, dims=model.dims)


def test_item_vectors_equal_the_trainers_feature_matrix_product(trained) -> None:  # type: ignore[no-untyped-def]
    arrays, model, features = trained
    vectors, known = item_vectors(model, entries(sorted(CARS)))
    assert known.all()
    np.testing.assert_allclose(vectors[:, :-1], features @ arrays.item_embeddings, rtol=1e-5)
    np.testing.assert_allclose(vectors[:, -1], features @ arrays.item_biases, rtol=1e-5)


def test_serving_scores_match_the_evaluation_scorer(trained) -> None:  # type: ignore[no-untyped-def]
    arrays, model, features = trained
    import scipy.sparse as sp

    expected = model_scorer(arrays, sp.csr_matrix(features))(np.array([0]))[0]
    serving = Serving(model, table_for(model, sorted(CARS)))
    candidates = np.asarray(sorted(CARS), dtype=np.int64)
    ranked = order(serving, candidates, user_vector(serving, Viewer(buyer_id=500)))
    assert ranked.tolist() == candidates[np.argsort(-expected)].tolist()


def test_a_car_unknown_to_the_model_is_placed_by_its_attributes(trained) -> None:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    new = [(99, memberships("2", "7", "3", 650000.0))]  # a new Nexon-like car, no identity row
    vectors, known = item_vectors(model, new)
    assert known.all()
    rows = [model.attribute_index[n] for n in names_of("2", "7", "3", 650000.0)]
    # Attributes weigh 1 each; the identity it lacks is stood in for by the mean identity.
    n_attr = len(model.attribute_index)
    mean_identity = model.item_table[n_attr:n_attr + len(CARS)].mean(axis=0)
    expected = (model.item_table[rows].sum(axis=0) + 0.4 * mean_identity) / (len(rows) + 0.4)
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-5)


def test_unreadable_or_featureless_cars_get_the_fallback(trained) -> None:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    vectors, known = item_vectors(model, [(10, memberships(*CARS[10])), (77, b"garbage"),
                                          (78, IndexEntry((("city_id", "999"),), ()).to_json())])
    assert known.tolist() == [True, False, False]
    table = ItemTable.build(np.array([10, 77, 78]), vectors, known, dims=model.dims)
    np.testing.assert_allclose(table.vectors[table.rows(np.array([77]))[0]], vectors[0])


@pytest.mark.parametrize("span", [10, 1 << 23])
def test_table_rows_dense_and_sparse(span: int) -> None:
    ids = np.array([5, 5 + span, 7], dtype=np.int64)
    vectors = np.arange(9, dtype=np.float32).reshape(3, 3)
    table = ItemTable.build(ids, vectors)
    assert (table.lookup is None) == (span >= reco_items.MAX_DENSE_SPAN)
    rows = table.rows(np.array([7, 5, 4, 5 + span, 10**12], dtype=np.int64))
    assert rows[2] == 0
    assert rows[4] == 0
    np.testing.assert_array_equal(table.vectors[rows[:2]], [vectors[2], vectors[0]])
    np.testing.assert_array_equal(table.vectors[rows[3]], vectors[1])
    np.testing.assert_allclose(table.vectors[0], vectors.mean(axis=0))


def test_table_changes_replace_add_and_remove() -> None:
    table = ItemTable.build(np.array([1, 2, 3]), np.eye(3, dtype=np.float32))
    new = table.changed(np.array([2, 4]), np.full((2, 3), 9, np.float32), np.array([True, True]),
                        removed=[3])
    assert new.ids.tolist() == [1, 2, 4]
    assert not new.knows(3)
    assert new.vectors[new.rows(np.array([2]))[0]].tolist() == [9, 9, 9]
    assert table.knows(3)  # the old table is untouched (readers may still hold it)


def test_empty_table_knows_nothing() -> None:
    table = ItemTable.empty(4)
    assert table.rows(np.array([1, 2])).tolist() == [0, 0]
    assert len(table) == 0


def test_sorted_prefix_orders_the_head_and_keeps_every_candidate() -> None:
    rng = np.random.default_rng(5)
    ids = np.arange(100, 400, dtype=np.int64)
    table = ItemTable.build(ids, rng.standard_normal((300, 4)).astype(np.float32))
    serving = Serving(model=None, table=table)  # type: ignore[arg-type]  # order() uses the table
    vector = rng.standard_normal(4).astype(np.float32)
    full = order(serving, ids, vector)
    partial = order(serving, ids, vector, sorted_prefix=50)
    assert partial[:50].tolist() == full[:50].tolist()
    assert sorted(partial.tolist()) == ids.tolist()
    assert order(serving, ids, vector, sorted_prefix=1000).tolist() == full.tolist()


def test_user_vector_choice(trained) -> None:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    serving = Serving(model, table_for(model))
    np.testing.assert_array_equal(user_vector(serving, Viewer(buyer_id=501)), model.user_vectors[1])
    generic = user_vector(serving, Viewer())
    assert generic is model.generic
    # Unknown buyer with seen cars: the seen cars' mean; unknown seen ids: generic.
    seen = user_vector(serving, Viewer(buyer_id=12345, seen_ids=(10, 11, 999)))
    rows = serving.table.rows(np.array([10, 11]))
    np.testing.assert_allclose(seen[:-1], serving.table.vectors[rows].mean(axis=0)[:-1])
    assert seen[-1] == 1.0
    assert user_vector(serving, Viewer(seen_ids=(999,))) is model.generic


class Fixed:
    """A fallback ranker that keeps the given order."""

    version = "popularity"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        return list(candidates)


async def test_ranker_uses_the_fallback_until_a_model_serves(trained) -> None:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    ranker = ModelRanker(client=None, fallback=Fixed())
    as_protocol: Ranker = ranker  # the listing's interface (checked by mypy)
    assert as_protocol.version == "popularity"
    assert ranker.rank([3, 1, 2], Viewer()) == [3, 1, 2]
    ranker._serving = Serving(model, table_for(model, [10, 11]))
    ranked = ranker.rank([13, 12, 11, 10], Viewer(buyer_id=500))
    assert sorted(ranked) == [10, 11, 12, 13]
    assert ranker.version == "v1"
    assert ranker._missing == {12, 13}  # asked for lazily
    assert ranker.rank([], Viewer()) == []


async def test_array_ranking_equals_list_ranking(trained) -> None:  # type: ignore[no-untyped-def]
    """The listing ranks its cached int64 candidate array; same order as the list interface,
    before a model serves (the fallback's) and after."""
    _, model, _ = trained
    ranker = ModelRanker(client=None, fallback=Fixed(), sorted_prefix=2)
    candidates = [13, 12, 11, 10]
    as_array = np.asarray(candidates, dtype=np.int64)
    assert ranker.rank_array(as_array, Viewer()).tolist() == candidates
    ranker._serving = Serving(model, table_for(model, [10, 11, 12, 13]))
    for viewer in (Viewer(buyer_id=500), Viewer(seen_ids=(11,)), Viewer()):
        ranked = ranker.rank_array(as_array, viewer)
        assert ranked.dtype == np.int64
        assert ranked.tolist() == ranker.rank(candidates, viewer)
        assert pinning.ordered(ranked, as_array, np.sort(as_array)).tolist() == ranked.tolist()


def test_the_api_serving_path_needs_no_trainer_dependencies() -> None:
    """The API image carries numpy only: importing the ranker must not load LightFM or SciPy."""
    import subprocess
    import sys

    code = ("import sys, carpages_api.reco.model; "
            "print(sorted(m for m in ('lightfm', 'scipy', 'carpages_reco') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
