"""The ranker interface the listing's `reco` order uses, and the popularity fallback.

The listing computes the set of matching car ids (cached in Valkey), then asks a Ranker to order
it for one viewer. The popularity ranker is the generic order until a LightFM model is
published (a LightFM-backed ranker replaces it in the app state when the reco issue lands).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Viewer:
    """Who the order is for: a buyer id (token or the seed's `buyer_id=` param), or what an
    anonymous visitor has seen (`seen_car_ids`), or neither (generic order)."""

    buyer_id: int | None = None
    seen_ids: tuple[int, ...] = ()


class Ranker(Protocol):
    """Orders candidate car ids for a viewer, most relevant first. Must be CPU-cheap (< 1 ms
    for 10,000 candidates): it runs on the event loop for every page-1 reco request."""

    @property
    def version(self) -> str:
        """Identifies the model; pinned pages carry it so a retrain never reshuffles them."""
        ...

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        """Return `candidates` reordered (same members, no duplicates)."""
        ...


def order_key(ranker: Ranker) -> Hashable | None:
    """The ranker's `order_key`, if it has one: a value that stays equal only while `rank`
    returns equal orders for equal inputs, so the listing may reuse an order it computed.
    Rankers without one (None) are asked on every request."""
    key: Hashable | None = getattr(ranker, "order_key", None)
    return key


class PopularityRanker:
    """The generic order before a model exists: most interactions first, ties by car id.

    Deterministic and viewer-blind (seen cars are moved to the end by the listing snapshot,
    not here), so every viewer of one query gets the same order from the same counts.
    """

    @property
    def version(self) -> str:
        """Constant: the order changes only with the data, never with a retrain."""
        return "popularity"

    @property
    def order_key(self) -> Hashable:
        """Constant: the order is a function of the candidates and their counts alone."""
        return "popularity"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        """Sort by (-interactions, id)."""
        counts = popularity or {}
        ids = np.asarray(candidates, dtype=np.int64)
        scores = np.fromiter((counts.get(c, 0.0) for c in candidates), dtype=np.float64,
                             count=len(candidates))
        ranked: list[int] = ids[np.lexsort((ids, -scores))].tolist()
        return ranked
