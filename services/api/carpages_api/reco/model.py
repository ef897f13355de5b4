"""The model-backed Ranker: the published LightFM model ordering listing candidates in-process.

`rank` is synchronous numpy on the event loop (< 1 ms for 10,000 candidates): one matrix-vector
product over the precomputed item table (kept per table for the generic viewer), a gather and a
stable sort (of the page window's head only, for very large sets). Everything slow happens in a
background task that keeps two things current and swaps each in with one reference assignment:

- the model: loaded at start-up, then on `keys.reco_published()` or, if a message is lost, on
  the next poll of `keys.reco_current()`; a version that fails verification is refused and the
  one serving keeps serving;
- the item table: vectors of the live cars of the current listing build, computed from the
  index memberships (`keys.memberships(build)`). When the index's version moves (announced on
  `keys.invalidations()`, or seen by the poll) the memberships are diffed; ids `rank` meets that
  the table lacks are fetched with one HMGET at once.

Until a model is available, or if loading fails, the fallback ranker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from carpages_shared import keys
from carpages_shared.reco_format import BadModel

from carpages_api.reco.items import item_vectors
from carpages_api.reco.loader import LoadedModel
from carpages_api.reco.ranking import Ranker, Viewer, order_key
from carpages_api.reco.scoring import Serving, order, user_vector
from carpages_api.reco.sync import ItemSync, build_table

__all__ = ["ModelRanker", "Serving", "order", "start_model_ranker", "user_vector"]

log = logging.getLogger(__name__)

CHANNELS = (keys.reco_published(), keys.invalidations())
"""A new model version is current; the listing index changed."""


class ModelRanker:
    """Ranker backed by the current published model; see the module docstring."""

    def __init__(self, client: Any, fallback: Ranker, *, poll_interval_s: float = 10.0,
                 resync_interval_s: float = 300.0, min_sync_gap_s: float = 0.05,
                 diff_gap_s: float = 5.0, sorted_prefix: int | None = None,
                 subscriber: Any = None) -> None:
        self._client = client
        # Pub/sub needs a plain client: valkey-py's asyncio cluster client has none (classic
        # PUBLISH reaches every node, so a plain client of one node hears it).
        self._subscriber = subscriber if subscriber is not None else client
        self._sorted_prefix = sorted_prefix
        self._fallback = fallback
        self._serving: Serving | None = None
        self._items = ItemSync(client, diff_gap_s)
        self._next_wait_s = poll_interval_s
        self._refused: set[str] = set()
        self._missing: set[int] = set()
        self._wake = asyncio.Event()
        self._poll_interval_s = poll_interval_s
        self._resync_interval_s = resync_interval_s
        self._min_sync_gap_s = min_sync_gap_s
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Loading a model and updating items both rebuild the table: one at a time, so neither
        # publishes a table computed from data the other has already replaced.
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ Ranker protocol
    @property
    def version(self) -> str:
        """The serving model version (the fallback's while no model serves)."""
        serving = self._serving
        return serving.model.version if serving is not None else self._fallback.version

    @property
    def order_key(self) -> Hashable | None:
        """Moves with every swap of the model or the item table (the fallback's while no model
        serves): orders computed under one key stay valid while it holds."""
        serving = self._serving
        if serving is None:
            fallback = order_key(self._fallback)
            return None if fallback is None else ("fallback", fallback)
        return ("model", serving.serial, self._sorted_prefix)

    def rank(self, candidates: Sequence[int], viewer: Viewer,
             popularity: dict[int, float] | None = None) -> list[int]:
        """Order `candidates` for `viewer` with the current model."""
        if self._serving is None:
            return self._fallback.rank(candidates, viewer, popularity)
        ids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        ranked: list[int] = self.rank_array(ids, viewer, popularity).tolist()
        return ranked

    def rank_array(self, candidates: np.ndarray, viewer: Viewer,
                   popularity: dict[int, float] | None = None) -> np.ndarray:
        """`rank` for int64 arrays in and out (the listing keeps its candidates as one)."""
        serving = self._serving  # one read: a concurrent swap cannot mix two models
        if serving is None:
            fallback = self._fallback.rank(candidates.tolist(), viewer, popularity)
            return np.asarray(fallback, dtype=np.int64)
        # Kept per candidate array (the listing ranks one array for viewer after viewer).
        rows, complete = serving.candidate_rows.of(candidates)
        if not complete and len(self._missing) < 100_000:
            # Scored with the table's mean vector this time; fetched right after.
            self._missing.update(candidates[rows == 0].tolist())
            self._wake.set()
        return order(serving, candidates, user_vector(serving, viewer), rows,
                     self._sorted_prefix)

    # ------------------------------------------------------------------ state
    @property
    def serving(self) -> Serving | None:
        """The current model and item table (None while the fallback answers)."""
        return self._serving

    def knows(self, car_id: int) -> bool:
        """Whether the item table has a vector for this car."""
        serving = self._serving
        return serving is not None and serving.table.knows(car_id)

    async def load_current(self) -> bool:
        """Swap in `reco_current` if it is new and valid; True when a new model now serves."""
        async with self._lock:
            raw = await self._client.get(keys.reco_current())
            if raw is None:
                return False
            version = raw.decode()
            serving = self._serving
            if version in self._refused or (
                    serving is not None and serving.model.version == version):
                return False
            fields = await self._client.hgetall(keys.reco_model(version))
            try:
                model = await asyncio.to_thread(LoadedModel.from_fields, fields)
            except BadModel as exc:
                self._refused.add(version)
                log.error("refused model %s: %s; still serving %s", version, exc, self.version)
                return False
            table = await asyncio.to_thread(build_table, model, self._items.entries())
            self._serving = Serving(model, table)
            log.info("serving model %s (%d cars)", version, len(table))
            return True

    async def sync_items(self, full: bool = False) -> None:
        """Bring the item table in step with the listing index (all of it when `full`)."""
        async with self._lock:
            update = await self._items.sync(full=full)
            self._next_wait_s = min(update.deferred_s or self._poll_interval_s,
                                    self._poll_interval_s)
            missing, self._missing = self._missing, set()
            serving = self._serving
            if serving is None:
                return
            if update.rebuilt:
                table = await asyncio.to_thread(build_table, serving.model,
                                                self._items.entries())
            else:
                fetched = await self._items.fetch(missing) if missing else {}
                changed = sorted({**update.changed, **fetched}.items())
                if not changed and not update.removed:
                    return
                vectors, known = item_vectors(serving.model, changed)
                ids = np.asarray([c for c, _ in changed], dtype=np.int64)
                table = serving.table.changed(ids, vectors, known, sorted(update.removed))
            self._serving = Serving(serving.model, table)

    async def refresh(self, full: bool = False) -> bool:
        """One maintenance pass: items, then the model; True if both steps succeeded (a failure
        is logged, not raised: the ranker keeps serving what it has)."""
        ok = True
        for step in (lambda: self.sync_items(full=full), self.load_current):
            try:
                await step()
            except Exception as exc:  # Valkey down or a bad payload
                log.warning("reco refresh failed: %r", exc)
                ok = False
        return ok

    # ------------------------------------------------------------------ background
    async def _subscribe(self) -> Any:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(*CHANNELS)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    async def start(self) -> None:
        """Subscribe, load what is there now, then start the listener and maintenance tasks.

        Subscribing first means no announcement made after start-up is missed; one made while
        subscribing is caught by the first maintenance pass (it compares index versions).
        """
        pubsub = None
        try:
            pubsub = await self._subscribe()
        except Exception as exc:
            log.warning("reco pub/sub unavailable at start-up: %r; polling", exc)
        await self.refresh()
        self._tasks = [asyncio.create_task(self._listen(pubsub), name="reco-listen"),
                       asyncio.create_task(self._maintain(), name="reco-maintain")]

    async def aclose(self) -> None:
        """Stop the background tasks (and wait until they have really stopped)."""
        self._stopping.set()
        for task in self._tasks:
            # A cancel that lands together with a read timeout can surface as TimeoutError
            # inside valkey-py (Python 3.11's asyncio.timeout) and be swallowed: re-cancel until
            # the task is done; the loops also check `_stopping`.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        self._tasks = []

    async def _listen(self, pubsub: Any) -> None:
        """Wake the maintenance loop on every announcement (what changed it finds out itself)."""
        try:
            while not self._stopping.is_set():
                try:
                    if pubsub is None:
                        pubsub = await self._subscribe()
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=0.2)
                    if message is not None:
                        self._wake.set()
                except Exception as exc:
                    if self._stopping.is_set():
                        return
                    # Polling covers the gap; resubscribe after a pause.
                    log.warning("reco pub/sub lost: %r; resubscribing", exc)
                    if pubsub is not None:
                        with contextlib.suppress(Exception):
                            await pubsub.aclose()
                    pubsub = None
                    await asyncio.sleep(self._poll_interval_s / 2)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _maintain(self) -> None:
        last_full = time.monotonic()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait_s)
            self._wake.clear()
            full = time.monotonic() - last_full >= self._resync_interval_s
            if await self.refresh(full=full) and full:
                last_full = time.monotonic()
            # Debounce: a burst of wake-ups (requests meeting new cars) becomes one pass.
            await asyncio.sleep(self._min_sync_gap_s)


async def start_model_ranker(valkey_client: Any, fallback: Ranker,
                             **options: Any) -> ModelRanker:
    """Create the ranker, load what is available now, start its background refresh.

    Never fails for lack of a model: until one is published the fallback answers.
    Call `aclose()` on shutdown. Options: see ModelRanker (e.g. `sorted_prefix=page_window`:
    only the positions a page can reach are fully sorted, which halves the cost of `rank`).
    """
    ranker = ModelRanker(valkey_client, fallback, **options)
    await ranker.start()
    return ranker
