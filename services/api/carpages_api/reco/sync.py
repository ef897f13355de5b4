"""The ranker's copy of the listing index memberships: what each live car is, model-independent.

Read with HGETALL when the listing build changes (or on a periodic full resync); diffed against a
fresh HGETALL when the index's version moves (the applier bumps `meta.version` on every
membership change), at most once per `diff_gap_s` since the HGETALL of 10,000 cars is a few MB
parsed on the event loop; and topped up at once with one HMGET for ids the ranker meets but
lacks, so a new car is ranked by its features from its first request, not after the next diff.
Dicts are replaced, never mutated, so a snapshot handed to a worker thread stays consistent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from carpages_shared import keys

from carpages_api.reco.items import ItemTable, item_vectors
from carpages_api.reco.loader import LoadedModel

Entries = list[tuple[int, bytes]]


@dataclass(frozen=True)
class ItemUpdate:
    """What one sync found: everything replaced, or the cars that changed or left."""

    rebuilt: bool = False
    changed: dict[int, bytes] = field(default_factory=dict)
    removed: frozenset[int] = frozenset()
    deferred_s: float = 0.0
    """> 0: the index moved but the diff waits this long (rate limit); sync again then."""


def build_table(model: LoadedModel, entries: Entries) -> ItemTable:
    """Vectors for every entry under `model` (CPU only; safe in a worker thread)."""
    vectors, known = item_vectors(model, entries)
    ids = np.asarray([car_id for car_id, _ in entries], dtype=np.int64)
    return ItemTable.build(ids, vectors, known, dims=model.dims)


class ItemSync:
    """Memberships of the current listing build, by car id."""

    def __init__(self, client: Any, diff_gap_s: float = 5.0) -> None:
        self._client = client
        self._diff_gap_s = diff_gap_s
        self._last_diff = float("-inf")
        self.build: int | None = None
        self.version: int | None = None
        self.raw: dict[int, bytes] = {}
        self._absent: frozenset[int] = frozenset()

    def entries(self) -> Entries:
        """A snapshot of (car id, memberships JSON), sorted by id."""
        return sorted(self.raw.items())

    async def _read_all(self, build: int) -> dict[int, bytes]:
        found = await self._client.hgetall(keys.memberships(build))
        return {int(k): v for k, v in found.items()}

    async def sync(self, full: bool = False) -> ItemUpdate:
        """Follow the current build; diff when its version moved; reread all when `full`."""
        raw_build, raw_version = await self._client.hmget(keys.meta(), ["build", "version"])
        if raw_build is None:
            return ItemUpdate()
        build, version = int(raw_build), int(raw_version or 0)
        if build != self.build or full:
            # Version first: a change racing this read moves it again and is diffed next time.
            self.build, self.version = build, version
            self.raw, self._absent = await self._read_all(build), frozenset()
            return ItemUpdate(rebuilt=True)
        if version == self.version:
            return ItemUpdate()
        wait = self._last_diff + self._diff_gap_s - time.monotonic()
        if wait > 0:
            return ItemUpdate(deferred_s=wait)
        self.version, self._last_diff = version, time.monotonic()
        fresh = await self._read_all(build)
        changed = {c: v for c, v in fresh.items() if self.raw.get(c) != v}
        removed = frozenset(self.raw.keys() - fresh.keys())
        self.raw, self._absent = fresh, frozenset()
        return ItemUpdate(changed=changed, removed=removed)

    async def fetch(self, car_ids: Iterable[int]) -> dict[int, bytes]:
        """Memberships of these ids: from the copy, else with one HMGET. Ids not in the index
        are remembered as absent until the index changes, so a stale candidate list cannot
        cause a fetch per request."""
        ids = set(car_ids)
        found = {c: self.raw[c] for c in ids if c in self.raw}
        wanted = sorted(ids - found.keys() - self._absent)
        if self.build is None or not wanted:
            return found
        values = await self._client.hmget(keys.memberships(self.build), [str(c) for c in wanted])
        fetched = {c: v for c, v in zip(wanted, values, strict=True) if v is not None}
        self._absent = self._absent | (set(wanted) - fetched.keys())
        self.raw = {**self.raw, **fetched}
        return {**found, **fetched}
