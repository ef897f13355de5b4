"""Scoring with a model: the user vector for a viewer and the order of candidates (numpy only).

A score is `item vector · user vector`; both carry a trailing bias slot (the item's bias, and 1
for the user), so one matrix-vector product over the item table scores every live car at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carpages_api.ranking import Viewer
from carpages_api.reco_items import ItemTable
from carpages_api.reco_loader import LoadedModel


@dataclass(frozen=True, eq=False)
class Serving:
    """The model and the item table built with it: replaced together, never mutated."""

    model: LoadedModel
    table: ItemTable


def user_vector(serving: Serving, viewer: Viewer) -> np.ndarray:
    """Known buyer -> their vector; else the mean of the seen cars' vectors; else the mean
    buyer. The trailing component stays 1 so every order includes the cars' biases."""
    if viewer.buyer_id is not None:
        known = serving.model.buyer_vector(viewer.buyer_id)
        if known is not None:
            return known
    if viewer.seen_ids:
        seen = np.fromiter(viewer.seen_ids, dtype=np.int64, count=len(viewer.seen_ids))
        rows = serving.table.rows(seen)
        rows = rows[rows > 0]
        if len(rows):
            vector: np.ndarray = serving.table.vectors[rows].mean(axis=0)
            vector[-1] = 1.0
            return vector
    return serving.model.generic


def order(serving: Serving, candidates: np.ndarray, vector: np.ndarray,
          rows: np.ndarray | None = None, sorted_prefix: int | None = None) -> np.ndarray:
    """Candidates, most relevant first (ties keep no particular order).

    `rows`: the candidates' table rows when the caller already looked them up.
    `sorted_prefix`: only the first N positions need to be in order (no page reaches deeper);
    the rest follow, all present, in no particular order — a partition instead of a full sort.
    """
    if rows is None:
        rows = serving.table.rows(candidates)
    negated = -(serving.table.vectors @ vector)[rows]
    if sorted_prefix is None or sorted_prefix >= len(candidates) - 1:
        result: np.ndarray = candidates[np.argsort(negated)]
        return result
    parted = np.argpartition(negated, sorted_prefix)
    head = parted[:sorted_prefix]
    head = head[np.argsort(negated[head])]
    result = candidates[np.concatenate([head, parted[sorted_prefix:]])]
    return result
