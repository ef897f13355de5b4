"""Scoring with a model: the user vector for a viewer and the order of candidates (numpy only).

A score is `item vector · user vector`; both carry a trailing bias slot (the item's bias, and 1
for the user), so one matrix-vector product over the item table scores every live car at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np

from carpages_api.reco.items import ItemTable
from carpages_api.reco.loader import LoadedModel
from carpages_api.reco.ranking import Viewer

RADIX_FROM: Final = 512
"""From this many candidates a two-pass 16-bit radix argsort beats numpy's comparison argsort
(10,000 float32 scores: ~0.14 ms against ~0.42 ms)."""
PARTITION_FROM: Final = 32_768
"""Above this many candidates (with a sorted prefix asked for) selecting the head first wins:
the full radix sort grows with every candidate, the head's sort only with the prefix."""
SAMPLE_SIZE: Final = 4096
"""About this many scores are sampled to guess the head's threshold."""
HEAD_MARGIN: Final = 1.5
"""The guessed threshold aims at this multiple of the head, so it rarely admits too few."""
GATHER_BELOW: Final = 4
"""Score only the candidates' rows when they are under 1/GATHER_BELOW of the table; else one
product over the whole table is cheaper than gathering rows first."""

_serials = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Serving:
    """The model and the item table built with it: replaced together, never mutated."""

    model: LoadedModel
    table: ItemTable
    serial: int = field(default_factory=lambda: next(_serials))
    """Unique per instance: equal serials, equal orders (the ranker's `order_key`)."""

    @cached_property
    def negated_generic(self) -> np.ndarray:
        """Minus every table row's score for the generic vector. Kept with this instance, so a
        swapped model or table (a new Serving) can never be scored with a stale copy."""
        negated: np.ndarray = -(self.table.vectors @ self.model.generic)
        return negated


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
    """Candidates, most relevant first; equal scores keep the candidates' order (a stable sort).

    `rows`: the candidates' table rows when the caller already looked them up.
    `sorted_prefix`: only the first N positions need to be in order (no page reaches deeper).
    Those N are exactly the stable sort's first N. The rest follow, all present: sorted too
    when sorting everything was as cheap, else in the candidates' order.
    """
    if rows is None:
        rows = serving.table.rows(candidates)
    negated = negated_scores(serving, vector, rows)
    size = len(candidates)
    if sorted_prefix is None or sorted_prefix >= size - 1 or size <= PARTITION_FROM:
        # Up to tens of thousands a full radix sort is cheaper than selecting a head first.
        result: np.ndarray = candidates[argsort(negated)]
        return result
    head = stable_head(negated, sorted_prefix)
    rest = np.ones(size, dtype=bool)
    rest[head] = False
    result = np.concatenate([candidates[head], candidates[rest]])
    return result


def negated_scores(serving: Serving, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Minus each row's score (ascending order = most relevant first)."""
    vectors = serving.table.vectors
    if len(rows) * GATHER_BELOW < len(vectors):
        gathered: np.ndarray = -(vectors[rows] @ vector)
        return gathered
    model = serving.model
    if model is not None and vector is model.generic:
        # Every viewer the model knows nothing about shares this vector: one product per
        # table, not per request. (A bare table without a model scores its vector directly.)
        shared: np.ndarray = serving.negated_generic[rows]
        return shared
    whole: np.ndarray = (-(vectors @ vector))[rows]
    return whole


def stable_head(negated: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` smallest values in stable-sort order (ties: lower position
    first), without sorting or partitioning the whole array.

    A strided sample gives a threshold that likely admits a little more than `count` values;
    only those are partitioned and the head sorted. Should the sample mislead (fewer
    admitted), every position is admitted, so the result never depends on the sample.
    """
    keys = sort_keys(negated)
    admitted = np.flatnonzero(keys <= sampled_threshold(keys, count))
    if len(admitted) < count:
        admitted = np.arange(len(keys))
    chosen = first_smallest(admitted, keys[admitted], count)
    # `chosen` is ascending, so a stable sort of its keys breaks ties by position.
    head: np.ndarray = chosen[np.argsort(keys[chosen], kind="stable")]
    return head


def first_smallest(positions: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    """The `count` ascending `positions` whose (key, position) are smallest, still ascending.

    Ties at the boundary go to the lowest positions, as in a stable sort; a partition finds
    the boundary, so a large block of equal scores costs no sort.
    """
    if len(positions) <= count:
        return positions
    if count <= 0:
        return positions[:0]
    boundary = np.partition(keys, count - 1)[count - 1]
    chosen = keys < boundary
    ties = np.flatnonzero(keys == boundary)
    chosen[ties[:count - np.count_nonzero(chosen)]] = True
    result: np.ndarray = positions[chosen]
    return result


def sampled_threshold(keys: np.ndarray, count: int) -> np.uint32:
    """A key that about HEAD_MARGIN × `count` keys are at or below (an estimate)."""
    stride = max(1, len(keys) // SAMPLE_SIZE)
    sample = keys[::stride]
    expected = count * len(sample) / len(keys)
    # Margin plus three standard deviations of the sampled count: a miss costs a partition.
    rank = int(expected * HEAD_MARGIN + 3 * expected ** 0.5) + 1
    if rank >= len(sample):
        return np.uint32(0xFFFFFFFF)
    threshold: np.uint32 = np.partition(sample, rank)[rank]
    return threshold


def argsort(values: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of float32 scores, by radix from RADIX_FROM values on."""
    if len(values) >= RADIX_FROM:
        return radix_argsort(values)
    small: np.ndarray = np.argsort(values, kind="stable")
    return small


def radix_argsort(values: np.ndarray) -> np.ndarray:
    """Stable ascending argsort of float32 `values`: two stable passes over the 16-bit halves
    of an order-preserving uint32 key, which numpy sorts by counting (a radix sort)."""
    if not np.little_endian:  # the uint16 view below assumes the low half comes first
        stable: np.ndarray = np.argsort(values, kind="stable")
        return stable
    key = sort_keys(values).view(np.uint16)  # pairs: [low half, high half]
    low_first = np.argsort(key[0::2], kind="stable")
    by_high = np.argsort(key[1::2][low_first], kind="stable")
    ordered: np.ndarray = low_first[by_high]
    return ordered


def sort_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys whose unsigned order is the float32 `values`' order (-0.0 equal to 0.0):
    the order `radix_argsort` sorts by, so comparing keys selects exactly what it would."""
    # + 0.0 turns -0.0 into 0.0, which a comparison sort also treats as equal.
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    # Negative floats: flip every bit; non-negative: set the sign bit. Unsigned order = float
    # order.
    flip = (bits.view(np.int32) >> 31).view(np.uint32) | np.uint32(0x80000000)
    keys: np.ndarray = bits ^ flip
    return keys
