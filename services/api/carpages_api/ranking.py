"""The ranker interface the listing's `reco` order uses, and the popularity fallback.

The listing computes the set of matching car ids (cached in Valkey), then asks a Ranker to order
it for one viewer. The popularity ranker is the generic order until a LightFM model is
published (a LightFM-backed ranker replaces it in the app state when the reco issue lands).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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


class PopularityRanker:
    """The generic order before a model exists: most interactions first, ties by car id.

    Deterministic and viewer-blind (seen cars are moved to the end by the listing snapshot,
    not here), so every viewer of one query gets the same order from the same counts.
    """

    @property
    def version(self) -> str:
        """Constant: the order changes only with the data, never with a retrain."""
        return "popularity"

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        """Sort by (-interactions, id)."""
        counts = popularity or {}
        return sorted(candidates, key=lambda car_id: (-counts.get(car_id, 0.0), car_id))
