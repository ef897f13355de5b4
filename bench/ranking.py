"""Reco rank time per request: what the listing runs on the event loop for a new viewer.

That is `ModelRanker.rank_array` over the cached candidate array (with the API's default
`page_window` as the sorted prefix) and the permutation check of `pinning.ordered`, on a
synthetic model in the published format (bench.reco_rank), so the figure is the per-request
CPU cost whatever the trained model's quality.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from carpages_api.listing import pinning
from carpages_api.listing.cache import Candidates
from carpages_api.reco import blas
from carpages_api.reco.model import ModelRanker, Serving
from carpages_api.reco.ranking import Viewer
from carpages_api.reco.sync import build_table
from carpages_api.settings import ApiSettings
from carpages_shared import heap

from bench.reco_rank import synthetic


class _NoFallback:
    version = "none"

    def rank(self, candidates: Any, viewer: Viewer, popularity: Any = None) -> list[int]:
        raise AssertionError("the model serves")


def measure(candidates: int, repeats: int = 300) -> dict[str, Any]:
    """p50/p99 milliseconds to order `candidates` live cars for one known buyer."""
    model, entries = synthetic(candidates, buyers=20_000, k=32)
    window = ApiSettings.model_fields["page_window"].default
    # The API's own BLAS thread count (its lifespan sets it), so the figure is the API's.
    blas.limit(ApiSettings.model_fields["blas_threads"].default)
    ranker = ModelRanker(client=None, fallback=_NoFallback(), sorted_prefix=window)
    ranker._serving = Serving(model, build_table(model, entries))  # no Valkey: set it directly
    found = Candidates([car_id for car_id, _ in entries], {}, 0.0)
    timings = []
    # The API's collector settings too (its lifespan settles them): with the defaults, a full
    # collection of this process's heap (every earlier part's results) lands in the timings.
    collector = heap.settle()
    try:
        for n in range(repeats + 20):
            viewer = Viewer(buyer_id=1 + n % 20_000)
            started = time.perf_counter()
            pinning.ordered(ranker.rank_array(found.array, viewer), found.array,
                            members=found.members)
            if n >= 20:  # the first ones warm the caches
                timings.append((time.perf_counter() - started) * 1000)
    finally:
        heap.unsettle(collector)
    timings.sort()
    return {"candidates": candidates, "sorted_prefix": window,
            "p50_ms": statistics.median(timings),
            "p99_ms": timings[int(0.99 * (len(timings) - 1))]}
