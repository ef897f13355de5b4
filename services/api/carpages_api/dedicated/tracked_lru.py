"""A bounded LRU of values derived from Valkey keys, forgotten the moment any of those keys
changes (pure: the tracking connection feeds it key names and resets).

The one race that matters is a fill that reads a key, then the key changes, then the fill stores
what it read. Every fill is therefore registered before its read is sent; a change to one of its
keys (or a reset) while it is in flight marks it stale, and a stale fill is not stored. Because
Valkey reports a change only after executing it, a fill whose read ran before the change always
sees the report before it stores, as long as the reader drains the tracker first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(eq=False)  # identity: two fills of one id are different fills
class Fill(Generic[K]):
    """One read in flight for `ident`; `stale` once any of its keys changed meanwhile."""

    ident: K
    stale: bool = False


class TrackedLru(Generic[K, V]):
    """Values by id, each made from the Valkey keys `keys_of(id)` names."""

    def __init__(self, capacity: int, keys_of: Callable[[K], Iterable[bytes]]) -> None:
        self.capacity = capacity
        self.keys_of = keys_of
        self._entries: OrderedDict[K, tuple[V, float | None]] = OrderedDict()
        self._owner: dict[bytes, K] = {}
        self._fills: dict[K, list[Fill[K]]] = {}
        self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, ident: K) -> V | None:
        """The cached value, or None (absent or past the deadline its keys' TTLs set)."""
        found = self._entries.get(ident)
        if found is None:
            return None
        value, deadline = found
        if deadline is not None and time.monotonic() >= deadline:
            self._forget(ident)
            return None
        self._entries.move_to_end(ident)
        return value

    def begin(self, ident: K) -> Fill[K]:
        """Register a fill before its read is sent."""
        fill = Fill(ident)
        fills = self._fills.setdefault(ident, [])
        if not fills and ident not in self._entries:
            self._own(ident)
        fills.append(fill)
        return fill

    def finish(self, fill: Fill[K], value: V | None, deadline: float | None = None) -> bool:
        """End a fill; store `value` unless the fill went stale (None stores nothing)."""
        fills = self._fills.get(fill.ident, [])
        if fill in fills:
            fills.remove(fill)
            if not fills:
                del self._fills[fill.ident]
        stored = value is not None and not fill.stale
        if stored:
            assert value is not None
            if fill.ident not in self._entries:
                self._own(fill.ident)
            self._entries[fill.ident] = (value, deadline)
            self._entries.move_to_end(fill.ident)
            while len(self._entries) > self.capacity:
                self._forget(next(iter(self._entries)))
        else:
            self._release(fill.ident)
        return stored

    def changed(self, names: Iterable[bytes]) -> None:
        """These keys changed: drop what was made from them, spoil fills reading them."""
        owner = self._owner
        for name in names:
            ident = owner.get(name)
            if ident is None:
                continue
            self.invalidations += 1
            for fill in self._fills.get(ident, ()):
                fill.stale = True
            self._forget(ident)

    def reset(self) -> None:
        """Forget everything and spoil every fill in flight."""
        for fills in self._fills.values():
            for fill in fills:
                fill.stale = True
        self._entries.clear()
        self._owner = {name: ident for ident in self._fills for name in self.keys_of(ident)}

    def _forget(self, ident: K) -> None:
        self._entries.pop(ident, None)
        self._release(ident)

    def _own(self, ident: K) -> None:
        for name in self.keys_of(ident):
            self._owner[name] = ident

    def _release(self, ident: K) -> None:
        """Stop listening for `ident`'s keys once nothing cached or in flight needs them."""
        if ident in self._entries or ident in self._fills:
            return
        for name in self.keys_of(ident):
            self._owner.pop(name, None)
