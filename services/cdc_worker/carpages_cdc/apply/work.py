"""A batch's coalesced work: each affected car, buyer and the slug map once, with the fencing
token of the newest change that touched it (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from carpages_cdc.apply.dependency_map import Affected, CarsWhere


def _newest(target: dict[int, str], ids: Iterable[int], token: str) -> None:
    for key in ids:
        if target.get(key, "") < token:
            target[key] = token


@dataclass
class Work:
    """Rebuilds owed by a batch of changes; tokens order writes (see carpages_cdc.apply.fencing)."""

    cars: dict[int, str] = field(default_factory=dict)
    buyers: dict[int, str] = field(default_factory=dict)
    slugs: str | None = None
    selectors: dict[CarsWhere, str] = field(default_factory=dict)

    def add(self, what: Affected, token: str) -> None:
        """Fold one change in."""
        _newest(self.cars, what.cars, token)
        _newest(self.buyers, what.buyers, token)
        if what.slugs and (self.slugs is None or self.slugs < token):
            self.slugs = token
        for selector in what.selectors:
            if self.selectors.get(selector, "") < token:
                self.selectors[selector] = token

    def resolve(self, found: Mapping[CarsWhere, Iterable[int]]) -> None:
        """Replace selectors by the cars they matched (each with its selector's token)."""
        for selector, token in self.selectors.items():
            _newest(self.cars, found.get(selector, ()), token)
        self.selectors = {}

    def is_empty(self) -> bool:
        """Nothing to do."""
        return not (self.cars or self.buyers or self.slugs or self.selectors)
