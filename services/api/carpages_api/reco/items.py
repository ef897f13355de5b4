"""Item representations of live cars for one model: built from index memberships, looked up by id.

A car's vector is the mean of its feature rows (LightFM's normalised item features): attribute
features always, the identity feature when the model was trained with the car. So a car listed
after training is ranked by what it is, not dumped at the end. Tables are immutable; an update
makes a new table and the ranker swaps one reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from carpages_api.reco.loader import LoadedModel

MAX_DENSE_SPAN = 1 << 22
"""Up to this id span (16 MB of int32) ids map to rows through a dense array (one gather);
wider spans fall back to a binary search."""


def item_vectors(model: LoadedModel, entries: Sequence[tuple[int, bytes]]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Vectors [len(entries), k + 1] for (car id, memberships JSON) pairs, and which had any
    feature (the others are zero and get the table's fallback).

    Each vector is the weighted mean of the car's rows — attributes weigh 1, the identity
    `model.identity_weight` — exactly the trainer's normalised feature matrix times the table.
    """
    counts = np.zeros(len(entries), dtype=np.int64)
    identity = np.full(len(entries), -1, dtype=np.int64)
    indices: list[int] = []
    for i, (car_id, raw) in enumerate(entries):
        rows, identity[i] = model.feature_rows(car_id, raw)
        indices += rows
        counts[i] = len(rows)
    out = np.zeros((len(entries), model.dims), dtype=np.float32)
    has_attr = counts > 0
    if indices:
        gathered = model.item_table[np.asarray(indices, dtype=np.int64)]
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # Empty segments have zero length, so summing between consecutive non-empty starts is
        # exactly each car's own rows.
        out[has_attr] = np.add.reduceat(gathered, starts[has_attr], axis=0)
    has_id = identity >= 0
    # A car with no attribute keeps its identity at full weight (as in training).
    id_weight = np.where(has_attr, model.identity_weight, 1.0) * has_id
    out += id_weight[:, None] * model.item_table[np.maximum(identity, 0)]
    total = counts + id_weight
    known = total > 0
    out[known] /= total[known, None]
    return out, known


@dataclass(frozen=True, eq=False)
class ItemTable:
    """Sorted car ids and their vectors; row 0 is the fallback for ids not (yet) in the table."""

    ids: np.ndarray
    vectors: np.ndarray
    known: np.ndarray
    """Per id: whether its vector came from features the model knows (else the fallback)."""
    lo: int
    lookup: np.ndarray | None

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, known: np.ndarray | None = None,
              dims: int | None = None) -> ItemTable:
        """A table of `ids` (unique) with `vectors`; rows not `known` get the fallback vector."""
        width = dims if dims is not None else vectors.shape[1]
        order = np.argsort(ids, kind="stable")
        ids = np.asarray(ids, dtype=np.int64)[order]
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, width)[order]  # a copy
        known = np.ones(len(ids), bool) if known is None else np.asarray(known, bool)[order]
        fallback = (vectors[known].mean(axis=0) if known.any()
                    else np.zeros(width, dtype=np.float32))
        vectors[~known] = fallback
        table = np.vstack([fallback[None, :], vectors])
        lookup = None
        lo = int(ids[0]) if len(ids) else 0
        if len(ids) and int(ids[-1]) - lo < MAX_DENSE_SPAN:
            lookup = np.zeros(int(ids[-1]) - lo + 1, dtype=np.int32)
            lookup[ids - lo] = np.arange(1, len(ids) + 1, dtype=np.int32)
        return cls(ids, table, known, lo, lookup)

    @classmethod
    def empty(cls, dims: int) -> ItemTable:
        """A table that knows no car (every candidate gets the fallback)."""
        return cls.build(np.zeros(0, np.int64), np.zeros((0, dims), np.float32), dims=dims)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, car_ids: np.ndarray) -> np.ndarray:
        """Row of each id in `vectors` (0 = unknown)."""
        if not len(self.ids):
            return np.zeros(len(car_ids), dtype=np.intp)
        if self.lookup is not None:
            offsets = car_ids - self.lo
            inside = (offsets >= 0) & (offsets < len(self.lookup))
            if inside.all():
                rows: np.ndarray = self.lookup[offsets]
                return rows
            return np.where(inside, self.lookup[np.where(inside, offsets, 0)], 0)
        pos = np.minimum(np.searchsorted(self.ids, car_ids), len(self.ids) - 1)
        return np.where(self.ids[pos] == car_ids, pos + 1, 0)

    def knows(self, car_id: int) -> bool:
        """Whether the table has a vector for this car."""
        return bool(self.rows(np.asarray([car_id], dtype=np.int64))[0])

    def changed(self, ids: np.ndarray, vectors: np.ndarray, known: np.ndarray,
                removed: Sequence[int] = ()) -> ItemTable:
        """A new table with `ids` (re)placed by `vectors` and `removed` dropped."""
        drop = np.isin(self.ids, np.concatenate([ids, np.asarray(removed, dtype=np.int64)]))
        keep = ~drop
        return ItemTable.build(np.concatenate([self.ids[keep], ids]),
                               np.vstack([self.vectors[1:][keep], vectors]),
                               np.concatenate([self.known[keep], known]),
                               dims=self.vectors.shape[1])
