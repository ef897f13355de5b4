"""Resolves the dependency map's selectors to car ids: one SQL statement per selector column and
batch, whatever the number of changed lookup rows (a make rename reaches all its cars)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Final

from carpages_shared.car_rows import Query

from carpages_cdc.apply.dependency_map import CarsWhere, SelectorColumn

# Only live cars: they are the only ones with cache entries (a car leaving the market is
# handled by its own row change).
SELECTOR_SQL: Final[dict[SelectorColumn, str]] = {
    "variant_id": "SELECT variant_id, id FROM car WHERE status = 'live' AND variant_id IN %s",
    "color_id": "SELECT color_id, id FROM car WHERE status = 'live' AND color_id IN %s",
    "locality_id": "SELECT locality_id, id FROM car WHERE status = 'live' AND locality_id IN %s",
    "seller_id": "SELECT seller_id, id FROM car WHERE status = 'live' AND seller_id IN %s",
    "model_id": """
        SELECT v.model_id, c.id FROM car c JOIN variant v ON v.id = c.variant_id
        WHERE c.status = 'live' AND v.model_id IN %s""",
    "make_id": """
        SELECT md.make_id, c.id FROM car c JOIN variant v ON v.id = c.variant_id
        JOIN model md ON md.id = v.model_id
        WHERE c.status = 'live' AND md.make_id IN %s""",
    "city_id": """
        SELECT l.city_id, c.id FROM car c JOIN locality l ON l.id = c.locality_id
        WHERE c.status = 'live' AND l.city_id IN %s""",
    "feature_id": """
        SELECT cf.feature_id, c.id FROM car_feature cf JOIN car c ON c.id = cf.car_id
        WHERE c.status = 'live' AND cf.feature_id IN %s""",
}


def resolve(query: Query, selectors: Iterable[CarsWhere]) -> dict[CarsWhere, set[int]]:
    """The live cars each selector matches."""
    values: dict[SelectorColumn, set[int]] = defaultdict(set)
    for selector in selectors:
        values[selector.column].add(selector.value)
    found: dict[CarsWhere, set[int]] = defaultdict(set)
    for column, wanted in values.items():
        for value, car_id in query(SELECTOR_SQL[column], (tuple(sorted(wanted)),)):
            found[CarsWhere(column, int(value))].add(int(car_id))
    return dict(found)
