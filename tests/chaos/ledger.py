"""What the writer committed, kept apart from MySQL: the "lost update" check.

The oracle compares the API with MySQL as it is; the ledger compares it with what the writer
*knows* it committed (a transaction whose COMMIT outcome was unknown is only recorded once its
marker row is found). A committed value missing from the page is a lost update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Effect = tuple[str, Any, Any]
"""(kind, key, value): ("price", car, 750000), ("live", car, True), ("image+", car, url),
("image-", car, url), ("feature+", car, feature_id), ("feature-", car, feature_id),
("name", ("make", 7), "Tata v2")."""

NAMED = ("make", "model", "variant", "color", "city", "locality")
"""Lookup tables whose names a page shows as `{table: {id, name}}` (features are a list)."""


@dataclass
class LostUpdate:
    car_id: int
    what: str
    expected: Any
    seen: Any


@dataclass
class Ledger:
    """The newest committed value of everything the writer changed, in commit order."""

    price: dict[int, int] = field(default_factory=dict)
    live: dict[int, bool] = field(default_factory=dict)
    images: dict[int, dict[str, bool]] = field(default_factory=dict)  # url -> present
    features: dict[int, dict[int, bool]] = field(default_factory=dict)  # feature -> present
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    commits: int = 0

    def apply(self, effects: Iterable[Effect]) -> None:
        """Record one committed transaction's effects."""
        self.commits += 1
        for kind, key, value in effects:
            if kind == "price":
                self.price[key] = value
            elif kind == "live":
                self.live[key] = value
            elif kind in ("image+", "image-"):
                self.images.setdefault(key, {})[value] = kind == "image+"
            elif kind in ("feature+", "feature-"):
                self.features.setdefault(key, {})[value] = kind == "feature+"
            elif kind == "name":
                self.names[key] = value
            else:
                raise ValueError(f"unknown effect {kind}")

    def cars(self) -> set[int]:
        """Cars with a recorded car-level expectation."""
        return set(self.price) | set(self.live) | set(self.images) | set(self.features)

    def check(self, pages: Mapping[int, tuple[int, dict[str, Any] | None]]) -> list[LostUpdate]:
        """Committed values not on the pages (`pages`: car -> (HTTP status, JSON or None))."""
        lost: list[LostUpdate] = []
        for car_id in sorted(self.cars()):
            if car_id not in pages:
                continue
            status, body = pages[car_id]
            live = self.live.get(car_id)
            if live is False:
                if status != 404:
                    lost.append(LostUpdate(car_id, "status", 404, status))
                continue
            if status != 200 or body is None:
                if live:  # only a car known live must show; others may be drafts etc.
                    lost.append(LostUpdate(car_id, "status", 200, status))
                continue
            if car_id in self.price and body.get("price") != self.price[car_id]:
                lost.append(LostUpdate(car_id, "price", self.price[car_id], body.get("price")))
            urls = {img.get("url") for img in body.get("images", [])}
            for url, present in self.images.get(car_id, {}).items():
                if (url in urls) != present:
                    lost.append(LostUpdate(car_id, "images", (url, present), not present))
            feats = {f.get("id") for f in body.get("features", [])}
            for feature_id, present in self.features.get(car_id, {}).items():
                if (feature_id in feats) != present:
                    lost.append(LostUpdate(car_id, "features", (feature_id, present),
                                           not present))
        for car_id, (status, body) in sorted(pages.items()):
            if status != 200 or body is None:
                continue
            lost.extend(self._names(car_id, body))
        return lost

    def _names(self, car_id: int, body: dict[str, Any]) -> list[LostUpdate]:
        out = []
        for table in NAMED:
            part = body.get(table) or {}
            want = self.names.get((table, int(part.get("id") or 0)))
            if want is not None and part.get("name") != want:
                out.append(LostUpdate(car_id, f"{table}.name", want, part.get("name")))
        for feat in body.get("features", []):
            want = self.names.get(("feature", int(feat.get("id") or 0)))
            if want is not None and feat.get("name") != want:
                out.append(LostUpdate(car_id, "feature.name", want, feat.get("name")))
        return out
