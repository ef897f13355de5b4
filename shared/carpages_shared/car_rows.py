"""Batched SQL for everything a car's cache entries are made of, and the row shapes it returns.

Seed 003's lesson: a constant number of statements per batch, whatever the batch size — one
joined query for the car and its lookups, one per child table. The statements are plain text
here; the caller executes them on its own connection (the worker's or the API's), so this module
stays free of I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import orjson

Query = Callable[[str, Sequence[Any]], Sequence[tuple[Any, ...]]]
"""Runs one SQL statement with parameters and returns all rows (the caller owns the cursor)."""

Statement = tuple[str, Sequence[Any]]
Rows = Sequence[tuple[Any, ...]]


class Cursors(Protocol):
    """A DB-API connection (pymysql's, or one lent by a pool): all `connection_query` needs."""

    def cursor(self) -> Any: ...


MULTI_STATEMENTS = 1 << 16
"""pymysql's CLIENT.MULTI_STATEMENTS flag (kept here so this module imports no driver)."""


class ConnectionQuery:
    """Runs statements on `conn`, each in a fresh cursor (no I/O until called).

    `many` sends several statements in one round trip when the connection was opened with
    MULTI_STATEMENTS (every parameter is escaped by the driver's `mogrify`, never spliced): a
    car's six reads were six waits on MariaDB, most of a small CDC batch's time. Without the
    flag it runs them one by one. The statements run in order on the same connection, so they
    read the same snapshot exactly as separate calls would inside its transaction.
    """

    def __init__(self, conn: Cursors) -> None:
        self.conn = conn
        self.multi = bool(getattr(conn, "client_flag", 0) & MULTI_STATEMENTS)

    def __call__(self, sql: str, params: Sequence[Any]) -> Rows:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def many(self, statements: Sequence[Statement]) -> list[Rows]:
        """Every statement's rows, in order."""
        if not self.multi or len(statements) < 2:
            return [self(sql, params) for sql, params in statements]
        with self.conn.cursor() as cur:
            cur.execute(";\n".join(cur.mogrify(sql, params) for sql, params in statements))
            results: list[Rows] = [list(cur.fetchall())]
            while cur.nextset():
                results.append(list(cur.fetchall()))
        if len(results) != len(statements):
            raise RuntimeError(f"{len(statements)} statements gave {len(results)} results")
        return results


def connection_query(conn: Cursors) -> ConnectionQuery:
    """The Query running each statement in a fresh cursor of `conn` (no I/O until called)."""
    return ConnectionQuery(conn)


def run_all(query: Query, statements: Sequence[Statement]) -> list[Rows]:
    """Every statement's rows: in one round trip when `query` can (`many`), else one by one."""
    many = getattr(query, "many", None)
    if many is not None:
        return list(many(statements))
    return [query(sql, params) for sql, params in statements]


LIVE = "live"

# FORCE INDEX (PRIMARY): MariaDB turns an IN list of 1,000 values or more into a derived table,
# and then its optimizer may drive the join from a small lookup table (colors, makes) and reach
# the cars through that table's index: every car in the catalogue read for each batch, so a full
# rebuild grew with the square of the catalogue (0.8 s per 2,000-car batch at 100k cars, 0.09 s
# at 10k). Reaching cars by primary key only leaves the id list as the driver, whatever its size.
CAR_SQL = """
SELECT c.id, c.status, c.price, c.year, c.km_driven, c.fuel_type, c.transmission, c.owner_count,
       c.rating, c.registration_state, c.date_created, c.date_updated,
       mk.id, mk.name, md.id, md.name, md.body_type, v.id, v.name,
       co.id, co.name, co.hex, ci.id, ci.name, l.id, l.name, s.kind, s.mobile_no
FROM car c FORCE INDEX (PRIMARY)
JOIN variant v ON v.id = c.variant_id
JOIN model md ON md.id = v.model_id
JOIN make mk ON mk.id = md.make_id
JOIN color co ON co.id = c.color_id
JOIN locality l ON l.id = c.locality_id
JOIN city ci ON ci.id = l.city_id
JOIN seller s ON s.id = c.seller_id
WHERE c.id IN %s
"""
# Many-per-car (and per-buyer) rows come back aggregated, one row per owner: pymysql decodes
# every row in Python, and a car's dozen images and features (a buyer's seen cars) as rows were
# most of a batch's read time; orjson parses the arrays in C. No ORDER BY inside the aggregate
# (MySQL 8 has none): the loader sorts, by position and by feature id, both unique per car. The
# element count comes along: an aggregate cut short by group_concat_max_len (MariaDB truncates
# with a warning, sometimes at an element boundary, so it can still parse) is detected by it and
# that owner is read again row by row (the *_ROWS_SQL statements), so nothing is ever dropped.
IMAGES_SQL = """
SELECT car_id, COUNT(*), JSON_ARRAYAGG(JSON_ARRAY(position, url, tag)) FROM car_image
WHERE car_id IN %s GROUP BY car_id
"""
# STRAIGHT_JOIN: drive from the batch's car_feature rows. Left to itself the optimizer may scan
# `feature` (a few dozen rows) and join every car_feature row of each feature: 150 ms for any
# batch of more than one car instead of under 1 ms, whatever the batch size.
FEATURES_SQL = """
SELECT cf.car_id, COUNT(*), JSON_ARRAYAGG(JSON_ARRAY(f.id, f.name, f.category))
FROM car_feature cf STRAIGHT_JOIN feature f ON f.id = cf.feature_id
WHERE cf.car_id IN %s GROUP BY cf.car_id
"""
IMAGES_ROWS_SQL = """
SELECT car_id, position, url, tag FROM car_image WHERE car_id IN %s ORDER BY car_id, position
"""
FEATURES_ROWS_SQL = """
SELECT cf.car_id, f.id, f.name, f.category
FROM car_feature cf STRAIGHT_JOIN feature f ON f.id = cf.feature_id
WHERE cf.car_id IN %s ORDER BY cf.car_id, f.id
"""
INSPECTION_SQL = """
SELECT car_id, score, summary, report, inspected_at FROM inspection_report WHERE car_id IN %s
"""
POPULARITY_SQL = "SELECT car_id, COUNT(*) FROM interaction WHERE car_id IN %s GROUP BY car_id"
# Interested people (seed 001): distinct buyers who made an offer or scheduled a test drive.
INTERESTED_SQL = """
SELECT car_id, buyer_id FROM offer WHERE car_id IN %s AND status IN ('open', 'accepted')
UNION
SELECT car_id, buyer_id FROM test_drive WHERE car_id IN %s AND status IN ('booked', 'completed')
"""
LIVE_IDS_SQL = "SELECT id FROM car WHERE status = 'live' ORDER BY id"
NOT_LIVE_SQL = "SELECT id FROM car WHERE status <> 'live' ORDER BY id"

BUYER_SEEN_SQL = """
SELECT buyer_id, COUNT(DISTINCT car_id), SUM(DISTINCT car_id), GROUP_CONCAT(DISTINCT car_id)
FROM interaction WHERE buyer_id IN %s GROUP BY buyer_id
"""
BUYER_SEEN_ROWS_SQL = "SELECT DISTINCT buyer_id, car_id FROM interaction WHERE buyer_id IN %s"
BUYER_TEST_DRIVES_SQL = """
SELECT DISTINCT buyer_id, car_id FROM test_drive WHERE buyer_id IN %s AND status = 'booked'
"""
# The latest live offer per (buyer, car): ids grow with time, so the max id is the newest.
BUYER_OFFERS_SQL = """
SELECT o.buyer_id, o.car_id, o.amount FROM offer o
JOIN (SELECT MAX(id) AS id FROM offer WHERE buyer_id IN %s AND status IN ('open', 'accepted')
      GROUP BY buyer_id, car_id) latest ON latest.id = o.id
"""
BUYER_PAID_SQL = "SELECT id, paid_until FROM buyer WHERE id IN %s"
# Every buyer, not only those with live data: a full rebuild must also clear keys that went
# stale (a refunded subscription, a cancelled test drive) while no change event covered them.
ALL_BUYER_IDS_SQL = "SELECT id FROM buyer ORDER BY id"
SLUGS_SQL = "SELECT value, type, filter FROM slug"


@dataclass
class CarRecord:
    """One car with everything its page, card, index entries and private data need."""

    id: int
    status: str
    price: int
    year: int
    km_driven: int
    fuel_type: str
    transmission: str
    owner_count: int
    rating: Decimal
    registration_state: str
    date_created: dt.datetime
    date_updated: dt.datetime
    make: tuple[int, str]
    model: tuple[int, str, str]
    variant: tuple[int, str]
    color: tuple[int, str, str]
    city: tuple[int, str]
    locality: tuple[int, str]
    seller_kind: str
    seller_mobile_no: str
    images: list[tuple[int, str, str]] = field(default_factory=list)
    features: list[tuple[int, str, str]] = field(default_factory=list)
    inspection: tuple[Decimal, str, str, dt.datetime] | None = None
    popularity: int = 0
    interested: set[int] = field(default_factory=set)


@dataclass
class BuyerRecord:
    """One buyer's dynamic data: seen cars, booked test drives, offers, subscription end."""

    id: int
    seen: set[int] = field(default_factory=set)
    test_drives: set[int] = field(default_factory=set)
    offers: dict[int, int] = field(default_factory=dict)
    paid_until: dt.datetime | None = None


def load_cars(query: Query, car_ids: Sequence[int]) -> dict[int, CarRecord]:
    """Read the given cars (any status) with six statements, in one round trip where the query
    can; absent ids are simply missing."""
    if not car_ids:
        return {}
    ids = tuple(car_ids)
    car_rows, images, features, inspections, popularity, interested = run_all(query, [
        (CAR_SQL, (ids,)), (IMAGES_SQL, (ids,)), (FEATURES_SQL, (ids,)), (INSPECTION_SQL, (ids,)),
        (POPULARITY_SQL, (ids,)), (INTERESTED_SQL, (ids, ids))])
    cars: dict[int, CarRecord] = {}
    for r in car_rows:
        cars[r[0]] = CarRecord(
            id=r[0], status=r[1], price=r[2], year=r[3], km_driven=r[4], fuel_type=r[5],
            transmission=r[6], owner_count=r[7], rating=r[8], registration_state=r[9],
            date_created=r[10], date_updated=r[11], make=(r[12], r[13]),
            model=(r[14], r[15], r[16]), variant=(r[17], r[18]), color=(r[19], r[20], r[21]),
            city=(r[22], r[23]), locality=(r[24], r[25]), seller_kind=r[26],
            seller_mobile_no=r[27],
        )
    for car_id, children in _children(query, images, IMAGES_ROWS_SQL).items():
        if car_id in cars:
            cars[car_id].images = children
    for car_id, children in _children(query, features, FEATURES_ROWS_SQL).items():
        if car_id in cars:
            cars[car_id].features = children
    for car_id, score, summary, report, inspected_at in inspections:
        if car_id in cars:
            text = report.decode() if isinstance(report, bytes) else str(report)
            cars[car_id].inspection = (score, summary, text, inspected_at)
    for car_id, count in popularity:
        if car_id in cars:
            cars[car_id].popularity = int(count)
    for car_id, buyer_id in interested:
        if car_id in cars:
            cars[car_id].interested.add(int(buyer_id))
    return cars


def _children(query: Query, aggregated: Rows, rows: str) -> dict[int, list[tuple[Any, str, str]]]:
    """Each car's (key, text, text) child tuples from an aggregate's rows, sorted by key (see
    IMAGES_SQL); owners whose aggregate was cut short are read again with `rows`."""
    found: dict[int, list[tuple[Any, str, str]]] = {}
    retry: list[int] = []
    for car_id, count, raw in aggregated:
        try:
            # map(tuple): each element is a 3-item JSON_ARRAY, so this is the (k, a, b) tuple
            # without unpacking it in Python (a rebuild sorts a million of them).
            children = sorted(map(tuple, orjson.loads(raw)))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            children = []
        if len(children) == count:
            found[car_id] = children
        else:
            retry.append(car_id)
    if retry:
        for car_id, key, a, b in query(rows, (tuple(retry),)):
            found.setdefault(car_id, []).append((key, a, b))
    return found


def _id_list(raw: str | bytes | None) -> set[int]:
    """A GROUP_CONCAT of integers (text or, on some servers, a binary string) as a set."""
    if not raw:
        return set()
    text = raw.decode() if isinstance(raw, bytes) else raw
    return {int(v) for v in text.split(",") if v}


def load_buyers(query: Query, buyer_ids: Sequence[int]) -> dict[int, BuyerRecord]:
    """Read the dynamic data of the given buyers with four statements (one round trip where
    the query can)."""
    if not buyer_ids:
        return {}
    ids = tuple(buyer_ids)
    buyers = {b: BuyerRecord(b) for b in ids}
    retry: list[int] = []
    seen, test_drives, offers, paid = run_all(query, [
        (BUYER_SEEN_SQL, (ids,)), (BUYER_TEST_DRIVES_SQL, (ids,)), (BUYER_OFFERS_SQL, (ids,)),
        (BUYER_PAID_SQL, (ids,))])
    for buyer_id, count, total, raw in seen:
        cars = _id_list(raw)
        # A cut can also shorten the last id ("35" -> "3"), which only the sum notices.
        if len(cars) == count and sum(cars) == total:
            buyers[buyer_id].seen = cars
        else:
            retry.append(buyer_id)  # cut short by group_concat_max_len (see IMAGES_SQL)
    if retry:
        for buyer_id, car_id in query(BUYER_SEEN_ROWS_SQL, (tuple(retry),)):
            buyers[buyer_id].seen.add(car_id)
    for buyer_id, car_id in test_drives:
        buyers[buyer_id].test_drives.add(car_id)
    for buyer_id, car_id, amount in offers:
        buyers[buyer_id].offers[car_id] = int(amount)
    for buyer_id, paid_until in paid:
        buyers[buyer_id].paid_until = paid_until
    return buyers
