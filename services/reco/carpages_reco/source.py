"""What the trainer reads from MySQL: every car's attributes and the buyers' weighted signals.

Four statements, whatever the data size. Only the history window counts: signals older than it
are ignored, and the cars are the live ones plus those with signals in the window, so the model
stays the size of the current market however many cars were ever sold. Signals are counted per
(buyer, car, kind) and split into before / inside the holdout window by MySQL itself, so a
million views arrive as a few hundred thousand grouped rows instead of a million timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Query = Callable[[str, Sequence[Any]], Sequence[tuple[Any, ...]]]
"""Runs one SQL statement with parameters and returns all rows (the caller owns the cursor)."""

SIGNALS_SINCE = """
SELECT buyer_id, car_id, CAST(kind AS CHAR) AS kind, date_created FROM interaction
WHERE date_created >= %s
UNION ALL SELECT buyer_id, car_id, 'test_drive', date_created FROM test_drive
WHERE date_created >= %s
UNION ALL SELECT buyer_id, car_id, 'offer', date_created FROM offer WHERE date_created >= %s
"""
CARS_SQL = f"""
SELECT c.id, c.status, c.price, c.year, c.km_driven, c.fuel_type, c.transmission,
       md.make_id, v.model_id, l.city_id
FROM car c
JOIN variant v ON v.id = c.variant_id
JOIN model md ON md.id = v.model_id
JOIN locality l ON l.id = c.locality_id
WHERE c.status = 'live' OR c.id IN (SELECT car_id FROM ({SIGNALS_SINCE}) s)
ORDER BY c.id
"""
BODY_TYPES_SQL = "SELECT id, body_type FROM model"
LATEST_SQL = """
SELECT GREATEST(COALESCE((SELECT MAX(date_created) FROM interaction), '1970-01-01'),
                COALESCE((SELECT MAX(date_created) FROM test_drive), '1970-01-01'),
                COALESCE((SELECT MAX(date_created) FROM offer), '1970-01-01'))
"""
# `late` = inside the holdout window (date_created >= cutoff).
SIGNALS_SQL = f"""
SELECT buyer_id, car_id, kind, date_created >= %s AS late, COUNT(*)
FROM ({SIGNALS_SINCE}) e
GROUP BY buyer_id, car_id, kind, late
"""

KINDS = ("view", "lead", "test_drive", "offer")


@dataclass(frozen=True)
class CarAttributes:
    """A car's attributes in the listing index's membership shape (what the API sees)."""

    car_id: int
    live: bool
    sets: tuple[tuple[str, str], ...]
    scores: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Signal:
    """How many times a buyer showed one kind of interest in a car, before or in the holdout."""

    buyer_id: int
    car_id: int
    kind: str
    late: bool
    count: int


@dataclass(frozen=True)
class Snapshot:
    """Everything one training run reads."""

    cars: list[CarAttributes]
    body_types: dict[str, str]
    signals: list[Signal]
    latest: dt.datetime
    cutoff: dt.datetime


def car_attributes(row: tuple[Any, ...]) -> CarAttributes:
    """A CARS_SQL row in the same (field, value) form as `assembly.index_entry`."""
    car_id, status, price, year, km, fuel, transmission, make_id, model_id, city_id = row
    sets = (("city_id", str(city_id)), ("make_id", str(make_id)), ("model_id", str(model_id)),
            ("fuel_type", str(fuel)), ("transmission", str(transmission)))
    scores = (("price", float(price)), ("year", float(year)), ("km", float(km)))
    return CarAttributes(int(car_id), status == "live", sets, scores)


def read_snapshot(query: Query, holdout: dt.timedelta, history: dt.timedelta) -> Snapshot:
    """Read the window's cars, body types and grouped signals; the holdout is its last part."""
    latest_raw = query(LATEST_SQL, ())[0][0]
    latest = (latest_raw if isinstance(latest_raw, dt.datetime)
              else dt.datetime.fromisoformat(str(latest_raw)))
    cutoff, since = latest - holdout, latest - history
    cars = [car_attributes(r) for r in query(CARS_SQL, (since, since, since))]
    body_types = {str(mid): str(body) for mid, body in query(BODY_TYPES_SQL, ())}
    signals = [Signal(int(b), int(c), str(k), bool(late), int(n))
               for b, c, k, late, n in query(SIGNALS_SQL, (cutoff, since, since, since))
               if str(k) in KINDS]
    return Snapshot(cars, body_types, signals, latest, cutoff)
