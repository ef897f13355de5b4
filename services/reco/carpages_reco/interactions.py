"""Weighted (buyer, car) pairs and the time-based train / holdout split, as sparse matrices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from carpages_reco.source import Signal

Pairs = dict[tuple[int, int], float]


def weighted_pairs(signals: Iterable[Signal], weights: Mapping[str, float], cap: float,
                   late: bool | None = None) -> Pairs:
    """Sum of kind weights per (buyer, car), capped; `late` picks early/holdout/all signals."""
    pairs: Pairs = {}
    for s in signals:
        if late is not None and s.late != late:
            continue
        key = (s.buyer_id, s.car_id)
        pairs[key] = pairs.get(key, 0.0) + weights[s.kind] * s.count
    return {k: min(w, cap) for k, w in pairs.items()}


@dataclass(frozen=True)
class Matrices:
    """Interactions (ones) and their weights with identical sparsity, plus the buyer rows."""

    buyer_ids: np.ndarray
    interactions: sp.coo_matrix
    weights: sp.coo_matrix


def build_matrices(pairs: Pairs, car_index: Mapping[int, int], n_cars: int,
                   buyer_ids: Sequence[int] | None = None) -> Matrices:
    """Pairs -> [n_buyers, n_cars] matrices; buyers default to everyone with a pair."""
    if buyer_ids is None:
        buyer_ids = sorted({b for b, _ in pairs})
    buyer_index = {b: i for i, b in enumerate(buyer_ids)}
    kept = [(buyer_index[b], car_index[c], w) for (b, c), w in pairs.items()
            if b in buyer_index and c in car_index]
    rows = np.asarray([r for r, _, _ in kept], dtype=np.int32)
    cols = np.asarray([c for _, c, _ in kept], dtype=np.int32)
    vals = np.asarray([w for _, _, w in kept], dtype=np.float32)
    shape = (len(buyer_ids), n_cars)
    return Matrices(
        np.asarray(buyer_ids, dtype=np.int64),
        sp.coo_matrix((np.ones_like(vals), (rows, cols)), shape=shape),
        sp.coo_matrix((vals, (rows, cols)), shape=shape),
    )


def holdout_pairs(early: Pairs, late: Pairs) -> Pairs:
    """Holdout positives: new (buyer, car) pairs of warm buyers (seen before the cutoff)."""
    warm = {b for b, _ in early}
    return {k: w for k, w in late.items() if k[0] in warm and k not in early}
