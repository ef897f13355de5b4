"""The expected API answers, derived from MySQL with this module's own SQL.

Written from the documentation (docs/dedicated-page.md, docs/listing.md) and the schema only: it
imports nothing from the builder, the shared row/assembly code or the API, so a bug there cannot
hide by being reproduced here. One consistent snapshot per read.

Compared per car (anonymous request):
- HTTP status: 200 when `car.status = 'live'`, else 404;
- the car's own columns (price, year, km_driven, fuel_type, transmission, owner_count, rating,
  registration_state, status, dates as `YYYY-MM-DDTHH:MM:SSZ`), `owner` (1st/2nd/3rd/4th+);
- make, model (+ body_type), variant, color (+ hex), city, locality: `{id, name}` through
  car -> variant -> model -> make and car -> locality -> city;
- seller_kind; images `[{position, url, tag}]` in position order; features `{id, name,
  category}` (compared as a set: the order is not documented); inspection `{score, summary,
  inspected_at}` or null;
- interested_people: distinct buyers with an `open`/`accepted` offer or a `booked`/`completed`
  test drive on the car (interactions do not count);
- the anonymous overlay: is_seen false, test_drive_booked false, offer_amount,
  seller_mobile_no and inspection_report null.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pymysql

OWNER = {1: "1st", 2: "2nd", 3: "3rd"}
ANONYMOUS_OVERLAY: dict[str, Any] = {
    "overlay_version": 1, "is_seen": False, "test_drive_booked": False, "offer_amount": None,
    "seller_mobile_no": None, "inspection_report": None,
}
CHUNK = 1000

Expected = dict[str, Any] | None
"""The page JSON a car must answer with, or None for a 404."""


def stamp(moment: dt.datetime) -> str:
    """DATETIME (UTC by the schema's convention) as the API writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_label(count: int) -> str:
    return OWNER.get(count, "4th+")


@dataclass
class CarFacts:
    """Everything one car's page is made of, as read from MySQL."""

    car: dict[str, Any]
    images: list[tuple[int, str, str]] = field(default_factory=list)
    features: list[tuple[int, str, str]] = field(default_factory=list)
    inspection: tuple[Decimal, str, dt.datetime] | None = None
    interested: int = 0


def expected_page(facts: CarFacts) -> Expected:
    """The anonymous dedicated page of a car (None = 404). Pure."""
    c = facts.car
    if c["status"] != "live":
        return None
    inspection = None
    if facts.inspection is not None:
        score, summary, inspected_at = facts.inspection
        inspection = {"score": float(score), "summary": summary,
                      "inspected_at": stamp(inspected_at)}
    return {
        "schema_version": 1, "id": c["id"], "link": f"/user-cars/{c['id']}", "status": "live",
        "price": c["price"], "year": c["year"], "km_driven": c["km_driven"],
        "fuel_type": c["fuel_type"], "transmission": c["transmission"],
        "owner_count": c["owner_count"], "owner": owner_label(c["owner_count"]),
        "rating": float(c["rating"]), "registration_state": c["registration_state"],
        "make": {"id": c["make_id"], "name": c["make_name"]},
        "model": {"id": c["model_id"], "name": c["model_name"], "body_type": c["body_type"]},
        "variant": {"id": c["variant_id"], "name": c["variant_name"]},
        "color": {"id": c["color_id"], "name": c["color_name"], "hex": c["hex"]},
        "city": {"id": c["city_id"], "name": c["city_name"]},
        "locality": {"id": c["locality_id"], "name": c["locality_name"]},
        "seller_kind": c["seller_kind"],
        "images": [{"position": p, "url": u, "tag": t} for p, u, t in sorted(facts.images)],
        "features": [{"id": i, "name": n, "category": k} for i, n, k in sorted(facts.features)],
        "inspection": inspection,
        "date_created": stamp(c["date_created"]), "date_updated": stamp(c["date_updated"]),
        **ANONYMOUS_OVERLAY,
        "interested_people": facts.interested,
    }


def _normal(name: str, value: Any) -> Any:
    if name == "features" and isinstance(value, list):
        return sorted(value, key=lambda f: (f.get("id", 0) if isinstance(f, dict) else 0))
    return value


def diff_page(expected: Expected, status: int, body: dict[str, Any] | None) -> list[str]:
    """Names of the fields where the API's answer differs from the expectation ([] = same)."""
    if expected is None:
        return [] if status == 404 else ["http_status"]
    if status != 200 or body is None:
        return ["http_status"]
    return [name for name, want in expected.items()
            if _normal(name, body.get(name, "<missing>")) != _normal(name, want)]


_CAR_SQL = """
SELECT c.id, c.status, c.price, c.year, c.km_driven, c.fuel_type, c.transmission,
       c.owner_count, c.rating, c.registration_state, c.date_created, c.date_updated,
       v.id AS variant_id, v.name AS variant_name, mo.id AS model_id, mo.name AS model_name,
       mo.body_type, mk.id AS make_id, mk.name AS make_name, co.id AS color_id,
       co.name AS color_name, co.hex, lo.id AS locality_id, lo.name AS locality_name,
       ci.id AS city_id, ci.name AS city_name, se.kind AS seller_kind
FROM car c
JOIN variant v ON v.id = c.variant_id
JOIN model mo ON mo.id = v.model_id
JOIN make mk ON mk.id = mo.make_id
JOIN color co ON co.id = c.color_id
JOIN locality lo ON lo.id = c.locality_id
JOIN city ci ON ci.id = lo.city_id
JOIN seller se ON se.id = c.seller_id
"""

_INTERESTED_SQL = """
SELECT car_id, COUNT(DISTINCT buyer_id) FROM (
  SELECT car_id, buyer_id FROM offer WHERE status IN ('open', 'accepted') {offer_where}
  UNION
  SELECT car_id, buyer_id FROM test_drive WHERE status IN ('booked', 'completed') {drive_where}
) AS interested GROUP BY car_id
"""

REFERENCING = {
    "make": ("JOIN variant v ON v.id = c.variant_id JOIN model mo ON mo.id = v.model_id",
             "mo.make_id"),
    "model": ("JOIN variant v ON v.id = c.variant_id", "v.model_id"),
    "variant": ("", "c.variant_id"),
    "color": ("", "c.color_id"),
    "locality": ("", "c.locality_id"),
    "city": ("JOIN locality lo ON lo.id = c.locality_id", "lo.city_id"),
    "seller": ("", "c.seller_id"),
    "feature": ("JOIN car_feature cf ON cf.car_id = c.id", "cf.feature_id"),
}
"""How the cars showing a lookup row are found: (joins, column)."""


@dataclass(frozen=True)
class ListingQuery:
    """One listing filter combination: the API parameters and the equivalent SQL condition."""

    name: str
    params: tuple[tuple[str, str], ...]
    where: str
    args: tuple[Any, ...] = ()


class Oracle:
    """Reads MySQL (application user) and says what the API must answer."""

    def __init__(self, mysql: dict[str, Any]) -> None:
        self.mysql = mysql

    def _connect(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(**self.mysql, connect_timeout=5, read_timeout=60)

    def pages(self, car_ids: Iterable[int] | None = None) -> dict[int, Expected]:
        """Expected page of every car (None = all cars in MySQL), from one snapshot."""
        conn = self._connect()
        try:
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                ids = None if car_ids is None else sorted(set(car_ids))
                facts: dict[int, CarFacts] = {}
                for where, args in _chunks(ids, "c.id"):
                    cur.execute(_CAR_SQL + where, args)
                    for row in cur.fetchall():
                        facts[row["id"]] = CarFacts(dict(row))
                live = sorted(i for i, f in facts.items() if f.car["status"] == "live")
                self._details(cur, facts, live, ids is None)
            conn.commit()
        finally:
            conn.close()
        out: dict[int, Expected] = dict.fromkeys(ids or [])
        out.update({car_id: expected_page(f) for car_id, f in facts.items()})
        return out

    def _details(self, cur: Any, facts: dict[int, CarFacts], live: list[int],
                 everything: bool) -> None:
        subset = None if everything else live
        if not live:
            return
        for where, args in _chunks(subset, "car_id"):
            cur.execute(f"SELECT car_id, position, url, tag FROM car_image {where}", args)
            for row in cur.fetchall():
                if row["car_id"] in facts:
                    facts[row["car_id"]].images.append((row["position"], row["url"], row["tag"]))
        for where, args in _chunks(subset, "cf.car_id"):
            cur.execute("SELECT cf.car_id, f.id, f.name, f.category FROM car_feature cf "
                        f"JOIN feature f ON f.id = cf.feature_id {where}", args)
            for row in cur.fetchall():
                if row["car_id"] in facts:
                    facts[row["car_id"]].features.append((row["id"], row["name"],
                                                          row["category"]))
        for where, args in _chunks(subset, "car_id"):
            cur.execute("SELECT car_id, score, summary, inspected_at FROM inspection_report "
                        f"{where}", args)
            for row in cur.fetchall():
                if row["car_id"] in facts:
                    facts[row["car_id"]].inspection = (row["score"], row["summary"],
                                                       row["inspected_at"])
        for where, args in _chunks(subset, "car_id"):
            cond = where.replace("WHERE", "AND", 1)
            cur.execute(_INTERESTED_SQL.format(offer_where=cond, drive_where=cond), args + args)
            for row in cur.fetchall():
                car_id = row["car_id"]
                if car_id in facts:
                    facts[car_id].interested = int(row["COUNT(DISTINCT buyer_id)"])

    def cars_showing(self, refs: Iterable[tuple[str, int]]) -> set[int]:
        """Live cars whose page shows one of the lookup rows (e.g. ("make", 7))."""
        by_table: defaultdict[str, set[int]] = defaultdict(set)
        for table, row_id in refs:
            if table in REFERENCING:
                by_table[table].add(row_id)
        out: set[int] = set()
        if not by_table:
            return out
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                for table, ids in by_table.items():
                    joins, column = REFERENCING[table]
                    cur.execute(f"SELECT DISTINCT c.id FROM car c {joins} "
                                f"WHERE c.status = 'live' AND {column} IN %s", (sorted(ids),))
                    out.update(int(r[0]) for r in cur.fetchall())
        finally:
            conn.close()
        return out

    def counts(self, queries: Sequence[ListingQuery]) -> dict[str, int]:
        """Live cars matching each listing query, from one snapshot."""
        conn = self._connect()
        out = {}
        try:
            with conn.cursor() as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                for q in queries:
                    cur.execute(
                        "SELECT COUNT(*) FROM car c JOIN variant v ON v.id = c.variant_id "
                        "JOIN model mo ON mo.id = v.model_id "
                        "JOIN locality lo ON lo.id = c.locality_id "
                        f"WHERE c.status = 'live'{' AND ' + q.where if q.where else ''}",
                        q.args)
                    out[q.name] = int(cur.fetchone()[0])
            conn.commit()
        finally:
            conn.close()
        return out

    def listing_queries(self) -> list[ListingQuery]:
        """About twenty filter combinations over values present in the catalogue."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                return _queries(cur)
        finally:
            conn.close()


def _top(cur: Any, sql: str, n: int = 1) -> list[Any]:
    cur.execute(sql + f" ORDER BY COUNT(*) DESC, 1 LIMIT {n}")
    return [r[0] for r in cur.fetchall()]


def _queries(cur: Any) -> list[ListingQuery]:
    live = "FROM car c JOIN variant v ON v.id = c.variant_id JOIN model mo ON mo.id = v.model_id " \
           "JOIN locality lo ON lo.id = c.locality_id WHERE c.status = 'live'"
    cities = _top(cur, f"SELECT lo.city_id {live} GROUP BY lo.city_id", 2)
    makes = _top(cur, f"SELECT mo.make_id {live} GROUP BY mo.make_id", 3)
    (model,) = _top(cur, f"SELECT v.model_id {live} GROUP BY v.model_id")
    (variant,) = _top(cur, f"SELECT c.variant_id {live} GROUP BY c.variant_id")
    (color,) = _top(cur, f"SELECT c.color_id {live} GROUP BY c.color_id")
    feats = _top(cur, "SELECT cf.feature_id FROM car_feature cf JOIN car c ON c.id = cf.car_id "
                      "WHERE c.status = 'live' GROUP BY cf.feature_id", 6)
    rare = feats[3:5]

    def slug(kind: str, value: int | str) -> str:
        cur.execute("SELECT value FROM slug WHERE type = %s AND filter = %s", (kind, str(value)))
        row = cur.fetchone()
        return str(row[0]) if row else ""

    city, city2 = cities[0], cities[-1]
    make, make2 = makes[0], makes[1]
    q = ListingQuery
    out = [
        q("none", (), ""),
        q("city", (("city_id", str(city)),), "lo.city_id = %s", (city,)),
        q("two cities", (("city_id", f"{city},{city2}"),), "lo.city_id IN %s", ((city, city2),)),
        q("make", (("make_id", str(make)),), "mo.make_id = %s", (make,)),
        q("model", (("model_id", str(model)),), "v.model_id = %s", (model,)),
        q("variant", (("variant_id", str(variant)),), "c.variant_id = %s", (variant,)),
        q("color", (("color_id", str(color)),), "c.color_id = %s", (color,)),
        q("price range", (("price_min", "300000"), ("price_max", "800000")),
          "c.price BETWEEN %s AND %s", (300000, 800000)),
        q("price max", (("price_max", "450000"),), "c.price <= %s", (450000,)),
        q("owner 1", (("owner", "1"),), "c.owner_count = 1"),
        q("owner 2,3", (("owner", "2,3"),), "c.owner_count IN (2, 3)"),
        q("features", (("features", ",".join(map(str, rare))),),
          "(SELECT COUNT(DISTINCT cf.feature_id) FROM car_feature cf WHERE cf.car_id = c.id "
          "AND cf.feature_id IN %s) = %s", (tuple(rare), len(rare))),
        q("diesel automatic", (("fuel_type", "diesel"), ("transmission", "automatic")),
          "c.fuel_type = 'diesel' AND c.transmission = 'automatic'"),
        q("year km", (("year_min", "2019"), ("km_max", "40000")),
          "c.year >= 2019 AND c.km_driven <= 40000"),
        q("rating", (("rating_min", "4.5"),), "c.rating >= 4.5"),
        q("city make fuel price", (("city_id", str(city)), ("make_id", f"{make},{make2}"),
                                   ("fuel_type", "petrol"), ("price_max", "1000000")),
          "lo.city_id = %s AND mo.make_id IN %s AND c.fuel_type = 'petrol' AND c.price <= %s",
          (city, (make, make2), 1000000)),
    ]
    make_slug, city_slug, model_slug = slug("make", make), slug("city", city), slug("model", model)
    if make_slug and city_slug:
        out.append(q("slug make city", (("slug", f"used-{make_slug}-cars-in-{city_slug}"),),
                     "mo.make_id = %s AND lo.city_id = %s", (make, city)))
    if model_slug:
        out.append(q("slug model", (("slug", f"used-{model_slug}-cars"),), "v.model_id = %s",
                     (model,)))
    if city_slug:
        out.append(q("slug price city", (("slug", f"used-cars-under-5-lakh-in-{city_slug}"),),
                     "c.price <= 500000 AND lo.city_id = %s", (city,)))
        out.append(q("slug city + make param", (("slug", f"used-cars-in-{city_slug}"),
                                                ("make_id", str(make2))),
                     "lo.city_id = %s AND mo.make_id = %s", (city, make2)))
    return out


def _chunks(ids: Sequence[int] | None, column: str) -> Iterable[tuple[str, tuple[Any, ...]]]:
    if ids is None:
        yield "", ()
        return
    for start in range(0, len(ids), CHUNK):
        yield f"WHERE {column} IN %s", (tuple(ids[start:start + CHUNK]),)
