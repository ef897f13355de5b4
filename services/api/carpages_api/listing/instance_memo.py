"""Values derived from frozen objects, remembered per instance (bounded; pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class InstanceMemo:
    """Values derived from frozen models, remembered per instance (bounded, oldest out first).

    Keyed by `id()` with the instance held beside the value, so an id is never reused while its
    entry lives; the models are frozen, so the value cannot go stale. (A cached_property would
    leak into `model_copy` and iteration.)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: dict[tuple[int, str], tuple[object, Any]] = {}

    def get(self, owner: object, name: str, compute: Callable[[], T]) -> T:
        """`compute()` for this owner, remembered."""
        key = (id(owner), name)
        found = self._data.get(key)
        if found is not None and found[0] is owner:
            value: T = found[1]
            return value
        value = compute()
        if len(self._data) >= self.size:
            del self._data[next(iter(self._data))]
        self._data[key] = (owner, value)
        return value
