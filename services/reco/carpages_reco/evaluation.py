"""precision@k, recall@k and AUC on the holdout, for any scorer (the model or popularity).

Per buyer with holdout positives: only live cars are candidates (the listing shows nothing
else; a car sold months ago is neither a hit nor a miss), cars the buyer interacted with before
the cutoff are excluded (they are not recommendations), the rest are ranked by score. AUC
gives ties half credit, so a popularity order full of equal counts is not flattered by an
arbitrary tie-break.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

Scorer = Callable[[np.ndarray], np.ndarray]
"""Buyer row indices -> scores [len(rows), n_cars] (higher = more relevant)."""

BATCH = 512


@dataclass(frozen=True)
class Metrics:
    """Mean per-buyer figures over the buyers with holdout positives."""

    precision: float
    recall: float
    auc: float
    buyers: int

    def as_dict(self, k: int) -> dict[str, float]:
        """`precision@k`-style keys for printing and the model metadata."""
        d = asdict(self)
        return {f"precision@{k}": d["precision"], f"recall@{k}": d["recall"], "auc": d["auc"],
                "buyers": float(d["buyers"])}


def evaluate(scorer: Scorer, train: sp.csr_matrix, test: sp.csr_matrix, k: int,
             live: np.ndarray | None = None) -> Metrics:
    """Rank the live cars not in a buyer's training interactions; compare with their holdout."""
    n_items = test.shape[1]
    live = np.ones(n_items, bool) if live is None else np.asarray(live, bool)
    precision: list[float] = []
    recall: list[float] = []
    auc: list[float] = []
    users = np.flatnonzero(np.diff(test.indptr))
    for start in range(0, len(users), BATCH):
        rows = users[start:start + BATCH]
        excluded = np.broadcast_to(~live, (len(rows), n_items)).copy()
        seen_r, seen_c = train[rows].nonzero()
        excluded[seen_r, seen_c] = True
        scores = np.asarray(scorer(rows), dtype=np.float64).copy()
        scores[excluded] = -np.inf
        top = np.argpartition(-scores, min(k, n_items - 1), axis=1)[:, :k]
        # Only the positives' ranks are used: one sort per row and a binary search for them
        # give the same average ranks as rankdata over every car, at a fraction of its cost
        # (it was most of a training run's evaluation).
        ordered = np.sort(scores, axis=1)
        n_excluded = excluded.sum(axis=1)
        for i, row in enumerate(rows):
            positives = test.indices[test.indptr[row]:test.indptr[row + 1]]
            positives = positives[~excluded[i, positives]]
            if not len(positives):
                continue
            hits = np.isin(top[i], positives).sum()
            precision.append(hits / k)
            recall.append(hits / len(positives))
            npos, n_neg = len(positives), n_items - n_excluded[i] - len(positives)
            if n_neg > 0:
                # Excluded cars all score -inf, below every positive: discount their ranks.
                ranks = average_ranks(ordered[i], scores[i, positives])
                above = ranks.sum() - npos * n_excluded[i] - npos * (npos + 1) / 2
                auc.append(above / (npos * n_neg))
    if not precision:
        return Metrics(0.0, 0.0, 0.0, 0)
    return Metrics(float(np.mean(precision)), float(np.mean(recall)),
                   float(np.mean(auc)) if auc else 0.0, len(precision))


def average_ranks(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The 1-based ranks `values` have among `ordered` (sorted), ties sharing their average:
    what `scipy.stats.rankdata` gives those values over the whole row."""
    below = np.searchsorted(ordered, values, side="left")
    upto = np.searchsorted(ordered, values, side="right")
    ranks: np.ndarray = below + (upto - below + 1) / 2
    return ranks


def popularity_scorer(train_weights: sp.coo_matrix) -> Scorer:
    """The baseline: every buyer gets the same order, by total training weight per car."""
    popularity = np.asarray(train_weights.tocsc().sum(axis=0)).ravel()

    def score(rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(popularity, (len(rows), popularity.shape[0]))

    return score
