"""A result's candidate set, prepared once per cached copy for `pinning.ordered`'s check that
a ranker's order is exactly a permutation of it.

Per request the check then only marks the order's ids and compares with the candidates' own
marks: whether the candidates are distinct and dense enough for a bitmap, and their bitmap,
are computed once per copy, not once per ranked viewer (~0.2 ms per 100,000 ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

BITMAP_SPAN_FACTOR: Final = 16
"""Distinct candidates spanning under this many ids each (car ids are dense) are checked with
a bitmap (linear); others by sorting the order (milliseconds at 100,000 ids)."""


@dataclass(frozen=True, eq=False)
class Members:
    """Sorted candidates and, when they qualify, their bitmap over `lo`..`lo + len(marks) - 1`."""

    sorted: np.ndarray
    lo: int
    marks: np.ndarray | None

    @classmethod
    def of(cls, sorted_candidates: np.ndarray) -> Members:
        """Prepared from the candidates sorted (int64)."""
        size = len(sorted_candidates)
        if not size:
            return cls(sorted_candidates, 0, None)
        lo, hi = int(sorted_candidates[0]), int(sorted_candidates[-1])
        if (hi - lo >= BITMAP_SPAN_FACTOR * size
                or not np.all(sorted_candidates[1:] > sorted_candidates[:-1])):
            return cls(sorted_candidates, lo, None)
        marks = np.zeros(hi - lo + 1, dtype=bool)
        marks[sorted_candidates - lo] = True
        return cls(sorted_candidates, lo, marks)

    def permuted_by(self, order: np.ndarray) -> bool:
        """Whether `order` (int64, as long as the candidates) sorted equals the candidates."""
        if self.marks is None:
            return np.array_equal(np.sort(order), self.sorted)
        if not len(order):
            return True
        hi = self.lo + len(self.marks) - 1
        if int(order.min()) < self.lo or int(order.max()) > hi:
            return False
        marks = np.zeros(len(self.marks), dtype=bool)
        marks[order - self.lo] = True
        # The candidates are distinct: the same marks from as many ids means none repeated,
        # none missing, none foreign.
        return np.array_equal(marks, self.marks)
