"""Table rows of the candidate arrays the ranker met lately, kept per item table.

A listing keeps one candidate array per result copy and ranks it for viewer after viewer
(`listing.cache.Candidates.array`), so looking its ids up in the table again per request is
repeated work: ~0.2 ms per 100,000 ids. The rows are kept as intp, which numpy gathers with
about half the cost of the table's int32 rows (no per-request index conversion).

Only read-only arrays that own their memory are kept, matched by identity: they cannot change
while they are held (and holding them keeps their id from being reused). Any other array is
looked up afresh each time.
"""

from __future__ import annotations

import threading
from typing import Final

import numpy as np

from carpages_api.reco.items import ItemTable

KEPT: Final = 8
"""Candidate arrays remembered per table (the busiest listings; ~0.8 MB each at 100,000)."""


class CandidateRows:
    """Rows in one (immutable) item table of the candidate arrays ranked lately."""

    def __init__(self, table: ItemTable, kept: int = KEPT) -> None:
        self._table = table
        self._kept = kept
        # id(array) -> (array, rows, every id known); insertion order is recency.
        self._found: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
        self._lock = threading.Lock()  # the event loop ranks, but a worker thread may too

    def of(self, candidates: np.ndarray) -> tuple[np.ndarray, bool]:
        """Each candidate's row (0 = unknown to the table) and whether every one is known."""
        if candidates.flags.writeable or candidates.base is not None:
            rows = self._table.rows(candidates)
            return rows, bool(rows.all())
        with self._lock:
            found = self._found.pop(id(candidates), None)
            if found is None or found[0] is not candidates:
                rows = self._table.rows(candidates).astype(np.intp)
                rows.flags.writeable = False  # shared by every request ranking this array
                found = (candidates, rows, bool(rows.all()))
                while len(self._found) >= self._kept:
                    del self._found[next(iter(self._found))]
            self._found[id(candidates)] = found
        return found[1], found[2]
