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

from carpages_api.reco.candidate_rows import CandidateRows
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

    @cached_property
    def generic_keys(self) -> np.ndarray:
        """`descending_keys` of every table row's generic score, kept like `negated_generic`
        (for the head selection, which compares keys)."""
        return descending_keys(self.table.vectors @ self.model.generic)

    @cached_property
    def candidate_rows(self) -> CandidateRows:
        """Rows in this table of the candidate arrays ranked lately (one lookup per array)."""
        return CandidateRows(self.table)


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
    size = len(candidates)
    if sorted_prefix is None or sorted_prefix >= size - 1 or size <= PARTITION_FROM:
        # Up to tens of thousands a full radix sort is cheaper than selecting a head first.
        result: np.ndarray = candidates[argsort(negated_scores(serving, vector, rows))]
        return result
    head = stable_head(head_keys(serving, vector, rows), sorted_prefix)
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


def head_keys(serving: Serving, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`sort_keys(negated_scores(...))` up to order: uint32 keys, the most relevant first,
    equal exactly where the scores are. The same products as `negated_scores`, but the keys are
    made from the scores in place: no negated copy, no key temporaries (~0.1 ms at 100,000)."""
    vectors = serving.table.vectors
    if len(rows) * GATHER_BELOW < len(vectors):
        return descending_keys(vectors[rows] @ vector)
    model = serving.model
    if model is not None and vector is model.generic:
        shared: np.ndarray = serving.generic_keys[rows]
        return shared
    return descending_keys((vectors @ vector)[rows])


def stable_head(keys: np.ndarray, count: int) -> np.ndarray:
    """Positions of the `count` smallest uint32 `keys` in stable-sort order (ties: lower
    position first), without sorting or partitioning the whole array.

    A strided sample gives a threshold that likely admits a little more than `count` values;
    only those are selected and ordered. Should the sample mislead (fewer admitted), every
    position is admitted, so the result never depends on the sample.
    """
    admitted = np.flatnonzero(keys <= sampled_threshold(keys, count))
    if len(admitted) < count:
        admitted = np.arange(len(keys))
    return first_smallest(admitted, keys[admitted], count)


def first_smallest(positions: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    """Of the ascending `positions`, the `count` whose (key, position) are smallest, in that
    order: what a stable sort of `keys` puts first.

    Each (key, position) is packed into one uint64 (key high, position low; positions are far
    below 2**32). The packed values are distinct and order like the pairs, so numpy's plain
    (SIMD) partition and sort select and order them exactly as a stable sort would, ties at
    the boundary included: about half the cost of partitioning the keys, then finding the
    boundary's ties, then a stable (merge) sort of the head.
    """
    if count <= 0:
        return positions[:0]
    packed = keys.astype(np.uint64)
    packed <<= np.uint64(32)
    packed |= positions.astype(np.uint64)
    if len(packed) > count:
        packed = np.partition(packed, count - 1)[:count]
    packed.sort()
    packed &= np.uint64(0xFFFFFFFF)
    head: np.ndarray = packed.astype(np.intp)
    return head


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


def descending_keys(scores: np.ndarray) -> np.ndarray:
    """uint32 keys whose ascending order is the float32 `scores`' descending order, equal
    exactly where the scores are (-0.0 equal to 0.0): the order of `sort_keys(-scores)`.

    Overwrites `scores` (a fresh product) and returns a view of its memory. Why the order
    matches: the keys are `~sort_keys(scores)`, and `sort_keys(-x)` is `~sort_keys(x)` for
    every x but zero (negating flips the sign bit, which swaps the two branches of its bit
    flip); zeros get one key either way, between those of the negative and positive scores.
    """
    scores += np.float32(0.0)  # -0.0 -> 0.0
    bits = scores.view(np.uint32)
    # ~sort_keys(x): negative x (sign bit set) keep their bits, the others flip all but the
    # sign bit. mask = 0 for the former, 0x7FFFFFFF for the latter.
    mask = bits >> np.uint32(31)
    mask -= np.uint32(1)
    mask &= np.uint32(0x7FFFFFFF)
    bits ^= mask
    return bits
