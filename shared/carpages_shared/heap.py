"""Garbage-collector settings for the long-running processes (API workers, CDC roles).

Two measured costs of CPython's cyclic GC with its defaults:
- every full collection walks everything start-up built (~65,000–77,000 objects: modules,
  routes, pydantic-core validators) again — 25–35 ms each, several times a second under load,
  which was the API listing's whole p99 at 32 connections;
- the youngest generation is collected every 700 allocations: ~0.1 ms each, thousands a second
  while the applier builds 10,000 pages.

`settle()` freezes the start-up heap (out of the collector's reach for good; reference counting
still frees those objects) and collects the youngest generation every 50,000 allocations:
requests' and batches' garbage is freed by reference counting, not by the collector. GC time
during a 10,000-car price change went from ~0.4 CPU-s to nearly none, and the change showed up
~5% sooner (BENCHMARKS.md).
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 50_000


def settle() -> tuple[int, int, int]:
    """Call once start-up is done; returns the thresholds it replaced (for `unsettle`)."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, previous[1], previous[2])
    return previous


def unsettle(previous: tuple[int, int, int]) -> None:
    """Undo `settle` (tests run many apps in one process: let their objects go)."""
    gc.unfreeze()
    gc.set_threshold(*previous)
