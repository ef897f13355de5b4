"""Wires the listing into the app state (called from the lifespan): ranker, generation, reader."""

from __future__ import annotations

from typing import Any

from carpages_api.generation import Generation
from carpages_api.listing_query import Limits
from carpages_api.listing_reader import ListingReader
from carpages_api.metrics import Metrics
from carpages_api.parsed_queries import ParsedQueries
from carpages_api.ranking import PopularityRanker
from carpages_api.settings import ApiSettings
from carpages_api.state import AppState


def limits(settings: ApiSettings) -> Limits:
    """The request bounds from the settings."""
    return Limits(page_size_default=settings.page_size_default,
                  page_size_max=settings.page_size_max, page_window=settings.page_window,
                  max_filter_values=settings.max_filter_values,
                  max_seen_ids=settings.max_seen_ids)


def start(state: AppState) -> Generation:
    """Put the listing reader (and the popularity ranker, unless one is set) on the state and
    start the generation watcher; the caller awaits `stop()` on the result at shutdown."""
    generation = Generation()
    # Meta is re-read where the subscription hears about it: a replica's view follows its stream.
    meta_client = state.valkey if state.settings.valkey_cluster else state.subscriber
    generation.start(meta_client, state.subscriber)
    state.extras.setdefault("ranker", PopularityRanker())
    metrics = state.extras.get("metrics")
    counters: dict[tuple[str, str], Any] = {}  # labels() takes a lock and a dict per call

    def count(kind: str, outcome: str) -> None:
        if isinstance(metrics, Metrics):
            counter = counters.get((kind, outcome))
            if counter is None:
                counter = counters[kind, outcome] = metrics.cache.labels(kind, outcome)
            counter.inc()

    state.extras["listing_queries"] = ParsedQueries(limits(state.settings))
    state.extras["listing_reader"] = ListingReader(state.readers, state.transactions, generation,
                                                   limits(state.settings), count)
    return generation
