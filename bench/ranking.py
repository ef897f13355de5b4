"""Reco rank time per request: the ModelRanker's hot path over N candidates.

Uses the serving code itself (`ItemTable`, `order`) with synthetic vectors of the production
width, so the figure is the per-request CPU cost whatever the trained model's quality.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from carpages_api.reco_items import ItemTable
from carpages_api.reco_model import Serving, order

DIMS = 33  # 32 latent components + the bias column the serving table appends


def measure(candidates: int, repeats: int = 300) -> dict[str, Any]:
    """p50/p99 milliseconds to order `candidates` live cars for one viewer."""
    rng = np.random.default_rng(3)
    ids = np.arange(1, candidates + 1, dtype=np.int64)
    table = ItemTable.build(ids, rng.standard_normal((candidates, DIMS)).astype(np.float32))
    serving = Serving(model=None, table=table)  # type: ignore[arg-type]  # order() uses the table
    pool = ids.tolist()
    timings = []
    for _ in range(repeats):
        vector = rng.standard_normal(DIMS).astype(np.float32)
        started = time.perf_counter()
        # What ModelRanker.rank does per request: list -> array, score, order, back to a list.
        arr = np.fromiter(pool, dtype=np.int64, count=len(pool))
        order(serving, arr, vector).tolist()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"candidates": candidates, "p50_ms": statistics.median(timings),
            "p99_ms": timings[int(0.99 * (len(timings) - 1))]}
