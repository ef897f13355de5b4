"""Weighted pairs, the holdout split, evaluation metrics and the trainer's command line."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import scipy.sparse as sp
from carpages_reco.cli import duration
from carpages_reco.evaluation import average_ranks, evaluate, popularity_scorer
from carpages_reco.interactions import build_matrices, holdout_pairs, weighted_pairs
from carpages_reco.source import Signal
from scipy.stats import rankdata

WEIGHTS = {"view": 1.0, "lead": 3.0, "test_drive": 5.0, "offer": 5.0}


def test_weights_add_up_per_pair_and_are_capped() -> None:
    signals = [Signal(1, 10, "view", False, 4), Signal(1, 10, "lead", False, 1),
               Signal(1, 11, "offer", False, 3), Signal(2, 10, "view", True, 1)]
    assert weighted_pairs(signals, WEIGHTS, cap=10.0, late=False) == {(1, 10): 7.0,
                                                                      (1, 11): 10.0}
    assert weighted_pairs(signals, WEIGHTS, cap=10.0, late=True) == {(2, 10): 1.0}
    assert len(weighted_pairs(signals, WEIGHTS, cap=10.0)) == 3


def test_holdout_keeps_new_pairs_of_warm_buyers_only() -> None:
    early = {(1, 10): 1.0}
    late = {(1, 10): 1.0, (1, 11): 2.0, (2, 12): 1.0}
    assert holdout_pairs(early, late) == {(1, 11): 2.0}


def test_matrices_share_sparsity_and_skip_unknown_cars() -> None:
    pairs = {(7, 100): 2.0, (8, 101): 1.0, (8, 999): 5.0}
    m = build_matrices(pairs, {100: 0, 101: 1}, n_cars=2)
    assert m.buyer_ids.tolist() == [7, 8]
    assert m.interactions.toarray().tolist() == [[1, 0], [0, 1]]
    assert m.weights.toarray().tolist() == [[2, 0], [0, 1]]
    np.testing.assert_array_equal(m.interactions.row, m.weights.row)


def test_metrics_on_a_hand_checked_example() -> None:
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 1, 1, 0, 0]], dtype=np.float32))
    scores = np.array([[9.0, 8.0, 1.0, 5.0, 3.0]])
    m = evaluate(lambda rows: scores[rows], train, test, k=2)
    # Top 2 without the training car: cars 1 and 3 -> one hit of two holdout cars.
    assert m.precision == pytest.approx(0.5)
    assert m.recall == pytest.approx(0.5)
    # Positive/negative pairs ranked right: (8>5, 8>3) of 4.
    assert m.auc == pytest.approx(0.5)
    assert m.buyers == 1


def test_ties_get_half_credit_in_auc() -> None:
    train = sp.csr_matrix((1, 4), dtype=np.float32)
    test = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    flat = popularity_scorer(sp.coo_matrix((1, 4), dtype=np.float32))
    assert evaluate(flat, train, test, k=2).auc == pytest.approx(0.5)


def test_popularity_orders_by_training_weight() -> None:
    weights = sp.coo_matrix(np.array([[1, 0, 3], [1, 0, 0]], dtype=np.float32))
    assert popularity_scorer(weights)(np.array([0, 1])).tolist() == [[2, 0, 3], [2, 0, 3]]


def test_no_holdout_buyers_gives_empty_metrics() -> None:
    empty = sp.csr_matrix((2, 3), dtype=np.float32)
    assert evaluate(lambda rows: np.zeros((len(rows), 3)), empty, empty, k=10).buyers == 0


@pytest.mark.parametrize(("text", "seconds"), [("45m", 2700), ("1h30m", 5400), ("90s", 90),
                                               ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["45", "m", "0m", "-5m", "5 minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_training_without_any_signal_is_refused() -> None:
    import datetime as dt

    from carpages_reco.settings import RecoSettings
    from carpages_reco.source import CarAttributes, Snapshot
    from carpages_reco.training import NothingToTrain, train

    now = dt.datetime(2024, 7, 1)
    car = CarAttributes(1, True, (("make_id", "1"),), (("price", 1.0),))
    snapshot = Snapshot([car], {}, [Signal(5, 999, "view", False, 1)], now, now)
    settings = RecoSettings(mysql_url="mysql://u@h/d", valkey_url="valkey://h")
    with pytest.raises(NothingToTrain):
        train(snapshot, settings, "v")  # the only signal is on a car it does not know


def test_training_on_a_tiny_catalogue_gives_consistent_arrays() -> None:
    import datetime as dt

    from carpages_reco.settings import RecoSettings
    from carpages_reco.source import CarAttributes, Snapshot
    from carpages_reco.training import train

    now = dt.datetime(2024, 7, 1)
    cars = [CarAttributes(i, True, (("make_id", str(i % 3)), ("city_id", "1")),
                          (("price", float(i)),)) for i in range(1, 31)]
    signals = [Signal(b, c, "view", c % 5 == 0, 1) for b in range(1, 21)
               for c in range(1, 31) if (b + c) % 3 == 0]
    settings = RecoSettings(mysql_url="mysql://u@h/d", valkey_url="valkey://h", epochs=2,
                            no_components=4)
    trained = train(Snapshot(cars, {}, signals, now, now), settings, "v")
    a = trained.arrays
    n_attr = len(trained.meta["attribute_features"])
    assert a.item_embeddings.shape == (n_attr + 30, 4)
    assert a.item_ids.tolist() == list(range(1, 31))
    assert a.user_embeddings.shape == (len(a.user_ids), 4)
    assert set(trained.meta["evaluation"]) == {"model", "popularity"}
    assert trained.model.buyers > 0


def test_average_ranks_are_rankdatas_ranks_with_ties_and_infinities() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        row = rng.integers(0, 6, size=40).astype(np.float64)  # many ties
        row[rng.random(40) < 0.2] = -np.inf  # excluded cars
        picked = rng.choice(40, size=8, replace=False)
        expected = rankdata(row)[picked]
        got = average_ranks(np.sort(row), row[picked])
        assert got.tolist() == expected.tolist()
