"""In-process copies of immutable listing data, so a warm listing request is one round trip.

What is kept, and why each copy is exact:

- `results`: a query result's ids (the whole reco candidate set with its popularity scores, or
  the first `page_window` ids of an ordered result), keyed by the result's key name. The name
  carries (build, version, order, query hash), and the version moves whenever a membership or an
  order changes, so a name's members never change while the key lives. The popularity scores
  stored with the reco members are a snapshot taken when the key was composed (that is already
  true of the Valkey copy: counts change without a version bump). A copy expires with the key
  it was read from (its PTTL, read in the same pipeline), so it never outlives what Valkey holds.
- `orders`: what a ranker made of one cached candidate set for one viewer, keyed by the result
  copy's serial number (a re-read copy never reuses one), the ranker's `order_key` (equal keys
  promise equal orders for equal inputs; rankers without one are not cached) and the viewer.
- `pins`: pinned orders this process wrote, by key name. A pin key's content never changes (its
  name is the hash of its bytes, or a random token): the copy lets a pinned page read its ids
  locally, with an EXISTS check in Valkey in the same pipeline as the cards, and tells when the
  key was last (re)written, so identical viewers do not rewrite one pin per request.
- `facets`: facet-count bodies, by key name (build, version and the facet's filters), expiring
  with the Valkey key.
- `slugs`: what a slug resolved to, by (slug, the slug map's token). The builder writes a new
  random token into `meta` with every slug map, in the same MULTI, so a token names one map's
  contents on any server, across restarts; a reader that used a memo checks the token its own
  meta read returned and resolves again if it moved (listing.reader).

Every table is an LRU bounded by a weight (ids or bytes); a reset (the build number moved
backwards, i.e. Valkey lost its data and numbers restart) drops everything.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Generic, TypeVar

import numpy as np

from carpages_api.listing import pinning
from carpages_api.listing.members import Members
from carpages_api.listing.query import Filters

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")
_ABSENT: Final = object()

MAX_RESULT_IDS: Final = 4_000_000
"""Ids across cached results (16 MB as uint32 plus the reco candidates' Python lists)."""
MAX_ORDER_IDS: Final = 4_000_000
"""Ids across kept orders, counting each order's snapshots at a full window apiece."""
MAX_PINS: Final = 4096
MAX_FACET_BYTES: Final = 8_000_000
MAX_SLUGS: Final = 20_000
SLUG_MEMO_S: Final = 3600.0
"""A memo is exact while its token holds; the expiry only lets a quiet slug's entry go."""
MEMO_SIZE: Final = 64
SNAPSHOTS_PER_ORDER: Final = 8
PIN_REFRESH_S: Final = 30.0
"""A pin this process wrote is rewritten (same bytes, fresh TTL) after this long, so every link
it hands out points to a key with at least PIN_TTL - PIN_REFRESH_S seconds left."""

_serials = itertools.count(1)


class Lru(Generic[K, V]):
    """A dict bounded by total weight, least recently used out first; entries may expire."""

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
        self.weight = 0
        self._data: OrderedDict[K, tuple[V, float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K, now: float | None = None) -> V | None:
        """The live value for `key` (None when absent or expired)."""
        found = self._data.get(key)
        if found is None:
            return None
        value, deadline, _ = found
        if deadline <= (time.monotonic() if now is None else now):
            self.pop(key)
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V, deadline: float, weight: int = 1) -> None:
        """Store `value` until the monotonic `deadline`; evict the oldest beyond the bound."""
        self.pop(key)
        if weight > self.max_weight:
            return
        self._data[key] = (value, deadline, weight)
        self.weight += weight
        while self.weight > self.max_weight:
            _, (_, _, dropped) = self._data.popitem(last=False)
            self.weight -= dropped

    def pop(self, key: K) -> None:
        """Forget `key`."""
        found = self._data.pop(key, None)
        if found is not None:
            self.weight -= found[2]

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()
        self.weight = 0


@dataclass(frozen=True, eq=False)
class Candidates:
    """A reco result: its members in ZRANGE order and their popularity (sentinel dropped)."""

    ids: list[int]
    popularity: dict[int, float]
    deadline: float
    """Monotonic time the copy expires (0: not kept); orders made from it expire with it."""
    serial: int = field(default_factory=lambda: next(_serials))

    @cached_property
    def array(self) -> np.ndarray:
        """`ids` as int64, made once per copy: array rankers take it without a conversion.
        Read-only, so a ranker may keep what it derives from it (the model ranker keeps its
        table rows: reco.candidate_rows)."""
        array = np.asarray(self.ids, dtype=np.int64)
        array.flags.writeable = False
        return array

    @cached_property
    def members(self) -> Members:
        """`array` sorted and prepared for checking that an order is a permutation of it, once
        per copy (pinning.ordered)."""
        return Members.of(np.sort(self.array))


@dataclass(frozen=True, eq=False)
class Window:
    """An ordered result: its size and its first ids in the requested direction."""

    count: int
    ids: list[int]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A viewer's order as stored in a pin: the total count and the first `window` ids."""

    count: int
    ids: np.ndarray
    """uint32, at most page_window ids."""
    token: str
    """Hash of the packed bytes: names the pin, so equal orders share one key."""
    memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    """Derived per-request values (a page's encoded ids, a viewer's pin key), computed once."""

    @classmethod
    def of(cls, order: np.ndarray, window: int) -> Snapshot:
        """The snapshot of a full order (any integer array)."""
        head = np.ascontiguousarray(order[:window], dtype="<u4")
        return cls(len(order), head, pinning.content_token(pinning.pack_array(len(order), head)))

    def packed(self) -> bytes:
        """The pin's stored value."""
        return pinning.pack_array(self.count, self.ids)

    def page(self, start: int, stop: int) -> list[bytes]:
        """Ids at positions start..stop (inclusive), encoded as Valkey fields."""
        return self.remember(("page", start, stop),
                             lambda: [b"%d" % i for i in self.ids[start:stop + 1]])

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` remembered under `key` for this snapshot (a few dozen at most)."""
        found = self.memo.get(key, _ABSENT)
        if found is _ABSENT:
            if len(self.memo) >= MEMO_SIZE:
                self.memo.clear()
            found = self.memo[key] = compute()
        value: T = found
        return value


Stored = frozenset[bytes] | None
"""A signed-in buyer's seen set as Valkey returned it (None: not read, an anonymous viewer)."""


@dataclass(eq=False)
class Ranked:
    """A ranker's order of one candidate set for one viewer (distinct ids), and the snapshots
    made from it: the viewer's own `seen_ids` plus, for a signed-in buyer, their stored seen
    set moved last."""

    order: np.ndarray
    snapshots: dict[Stored, Snapshot] = field(default_factory=dict)
    last: Stored = None
    """The stored seen set of the latest request (a buyer's next request likely has it too)."""
    _index: tuple[np.ndarray, np.ndarray] | None = None

    def snapshot(self, seen_ids: tuple[int, ...], stored: Stored, window: int) -> Snapshot:
        """The snapshot for this seen set (made once per distinct stored set)."""
        found = self.snapshots.get(stored)
        if found is None:
            seen = [*seen_ids, *(int(c) for c in stored or ())]
            found = Snapshot.of(self.seen_last(seen), window)
            if len(self.snapshots) >= SNAPSHOTS_PER_ORDER:
                self.snapshots.clear()
            self.snapshots[stored] = found
        self.last = stored
        return found

    def seen_last(self, seen: list[int]) -> np.ndarray:
        """The order with the `seen` ids moved to the end (each part keeps its order); a
        binary search per seen id instead of a pass over the whole order."""
        order = self.order
        if not seen or not len(order):
            return order
        if self._index is None:
            by_id = np.argsort(order, kind="stable")
            self._index = (order[by_id], by_id)
        ids, by_id = self._index
        wanted = np.asarray(seen, dtype=np.int64)
        pos = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
        found = by_id[pos[ids[pos] == wanted]]
        if not len(found):
            return order
        mask = np.zeros(len(order), dtype=bool)
        mask[found] = True
        moved: np.ndarray = np.concatenate([order[~mask], order[mask]])
        return moved


@dataclass(frozen=True, eq=False)
class Pinned:
    """A pin this process wrote: its snapshot and when to rewrite it."""

    snapshot: Snapshot
    refresh_at: float


class ListingCache:
    """The four tables of the module docstring, one instance per ListingReader."""

    def __init__(self) -> None:
        self.results: Lru[tuple[str, bool], Candidates | Window] = Lru(MAX_RESULT_IDS)
        self.orders: Lru[tuple[int, Hashable, Hashable], Ranked] = Lru(MAX_ORDER_IDS)
        self.pins: Lru[str, Pinned] = Lru(MAX_PINS)
        self.facets: Lru[str, bytes] = Lru(MAX_FACET_BYTES)
        self.slugs: Lru[tuple[str, bytes], Filters] = Lru(MAX_SLUGS)

    def clear(self) -> None:
        """Drop every copy (Valkey's numbering restarted)."""
        for table in (self.results, self.orders, self.pins, self.facets, self.slugs):
            table.clear()


def deadline(started: float, pttl_ms: int | None, default_s: float) -> float | None:
    """When a copy read at monotonic `started` must expire: with its key (PTTL, ms), or after
    `default_s` for a key without expiry; None when the key was gone (nothing to keep)."""
    if pttl_ms is None or pttl_ms == -2:
        return None
    return started + (default_s if pttl_ms < 0 else pttl_ms / 1000)
