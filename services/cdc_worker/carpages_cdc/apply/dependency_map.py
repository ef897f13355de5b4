"""Which cache entries a row change affects (pure; no I/O).

Row changes of the 17 marketplace tables map to cars, buyers and the slug map. A change to a
lookup row (a make rename, a seller's new mobile number) affects every car that references it:
that is returned as a `CarsWhere` selector, which an adapter resolves with one SQL statement per
batch (carpages_cdc.apply.car_lookup), so this module never needs the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

SelectorColumn = Literal["variant_id", "model_id", "make_id", "color_id", "locality_id",
                         "city_id", "seller_id", "feature_id"]


@dataclass(frozen=True)
class CarsWhere:
    """Every live car whose `column` (through joins) equals `value`."""

    column: SelectorColumn
    value: int


@dataclass
class Affected:
    """What one row change touches."""

    cars: set[int] = field(default_factory=set)
    buyers: set[int] = field(default_factory=set)
    slugs: bool = False
    selectors: set[CarsWhere] = field(default_factory=set)

    def is_empty(self) -> bool:
        """Nothing to rebuild."""
        return not (self.cars or self.buyers or self.slugs or self.selectors)


class UnknownTable(LookupError):
    """A change to a table the cache does not know (a misrouted or foreign message)."""


class MissingColumn(ValueError):
    """A change without the column its table's mapping needs (e.g. a minimal row image)."""


Row = Mapping[str, Any] | None

LOOKUPS: Final[dict[str, SelectorColumn]] = {
    "variant": "variant_id", "model": "model_id", "make": "make_id", "color": "color_id",
    "locality": "locality_id", "city": "city_id", "seller": "seller_id",
    "feature": "feature_id",
}
"""Lookup tables: a change to row `id` affects the cars selected by this column."""
CAR_CHILDREN: Final = frozenset({"car_image", "car_feature", "inspection_report"})
"""Tables whose rows belong to one car (`car_id`)."""
CAR_AND_BUYER: Final = frozenset({"interaction", "test_drive", "offer"})
"""Tables that feed a car's popularity/interested people and a buyer's dynamic keys."""
TABLES: Final = frozenset({"car", "buyer", "slug", *LOOKUPS, *CAR_CHILDREN, *CAR_AND_BUYER})
"""Every table whose changes reach the cache."""
IGNORED_COLUMNS: Final = frozenset({"date_created"})
"""Lookup-table columns no cache entry shows: an update touching only these is a no-op."""


def _ids(column: str, before: Row, after: Row) -> set[int]:
    """The values of `column` in whichever images exist (both, when a row moves)."""
    found: set[int] = set()
    for image in (before, after):
        if image is None:
            continue
        value = image.get(column)
        if value is None:
            raise MissingColumn(f"row image without {column!r}")
        try:
            found.add(int(value))
        except (TypeError, ValueError):
            raise MissingColumn(f"{column!r} is not an integer: {value!r}") from None
    return found


def _only_ignored_changed(before: Row, after: Row) -> bool:
    if before is None or after is None:
        return False
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return changed <= IGNORED_COLUMNS


def affected(table: str, before: Row, after: Row) -> Affected:
    """The cache entries a change of one `table` row (before/after images) affects."""
    if before is None and after is None:
        raise MissingColumn("change without a row image")
    if table == "car":
        return Affected(cars=_ids("id", before, after))
    if table in CAR_CHILDREN:
        return Affected(cars=_ids("car_id", before, after))
    if table in CAR_AND_BUYER:
        return Affected(cars=_ids("car_id", before, after),
                        buyers=_ids("buyer_id", before, after))
    if table == "buyer":
        return Affected(buyers=_ids("id", before, after))
    if table == "slug":
        return Affected(slugs=True)
    if table in LOOKUPS:
        if _only_ignored_changed(before, after):
            return Affected()
        column = LOOKUPS[table]
        return Affected(selectors={CarsWhere(column, v) for v in _ids("id", before, after)})
    raise UnknownTable(f"no cache entry depends on table {table!r}")
