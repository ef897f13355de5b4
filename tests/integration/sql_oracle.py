"""An independent reading of what a car's cache entries must contain, straight from the schema.

Deliberately naive — one small query at a time, lookups read whole, no shared code with
carpages_shared.car_rows or assembly — so a bug in the batched SQL or the assembly cannot hide by
being reproduced here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pymysql

OWNER = {1: "1st", 2: "2nd", 3: "3rd"}


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SqlOracle:
    """Expected page, card, private data and dynamic sets of one car or buyer."""

    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.conn = conn
        self.make = {r[0]: r for r in self._all("SELECT id, name FROM make")}
        self.model = {r[0]: r for r in self._all("SELECT id, name, body_type, make_id FROM model")}
        self.variant = {r[0]: r for r in self._all("SELECT id, name, model_id FROM variant")}
        self.color = {r[0]: r for r in self._all("SELECT id, name, hex FROM color")}
        self.city = {r[0]: r for r in self._all("SELECT id, name FROM city")}
        self.locality = {r[0]: r for r in self._all("SELECT id, name, city_id FROM locality")}
        self.seller = {r[0]: r for r in self._all("SELECT id, kind, mobile_no FROM seller")}
        self.feature = {r[0]: r for r in self._all("SELECT id, name, category FROM feature")}

    def _all(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def ids(self, where: str) -> list[int]:
        return [r[0] for r in self._all(f"SELECT id FROM car WHERE {where} ORDER BY id")]

    def _car(self, car_id: int) -> tuple[Any, ...]:
        (row,) = self._all(
            "SELECT id, price, year, km_driven, fuel_type, transmission, owner_count, rating, "
            "registration_state, date_created, date_updated, variant_id, color_id, "
            "locality_id, seller_id FROM car WHERE id = %s", car_id)
        return row

    def _images(self, car_id: int) -> list[tuple[Any, ...]]:
        return self._all("SELECT position, url, tag FROM car_image WHERE car_id = %s "
                         "ORDER BY position", car_id)

    def page(self, car_id: int) -> dict[str, Any]:
        """The public dedicated page JSON (as parsed)."""
        (cid, price, year, km, fuel, gearbox, owners, rating, state, created, updated,
         variant_id, color_id, locality_id, seller_id) = self._car(car_id)
        variant = self.variant[variant_id]
        model = self.model[variant[2]]
        make = self.make[model[3]]
        color = self.color[color_id]
        locality = self.locality[locality_id]
        city = self.city[locality[2]]
        feature_ids = sorted(r[0] for r in self._all(
            "SELECT feature_id FROM car_feature WHERE car_id = %s", car_id))
        inspections = self._all("SELECT score, summary, inspected_at FROM inspection_report "
                                "WHERE car_id = %s", car_id)
        inspection = None
        if inspections:
            score, summary, inspected_at = inspections[0]
            inspection = {"score": float(score), "summary": summary,
                          "inspected_at": stamp(inspected_at)}
        return {
            "schema_version": 1, "id": cid, "link": f"/user-cars/{cid}", "status": "live",
            "price": price, "year": year, "km_driven": km, "fuel_type": fuel,
            "transmission": gearbox, "owner_count": owners, "owner": OWNER.get(owners, "4th+"),
            "rating": float(rating), "registration_state": state,
            "make": {"id": make[0], "name": make[1]},
            "model": {"id": model[0], "name": model[1], "body_type": model[2]},
            "variant": {"id": variant[0], "name": variant[1]},
            "color": {"id": color[0], "name": color[1], "hex": color[2]},
            "city": {"id": city[0], "name": city[1]},
            "locality": {"id": locality[0], "name": locality[1]},
            "seller_kind": self.seller[seller_id][1],
            "images": [{"position": p, "url": u, "tag": t} for p, u, t in self._images(car_id)],
            "features": [{"id": f, "name": self.feature[f][1], "category": self.feature[f][2]}
                         for f in feature_ids],
            "inspection": inspection,
            "date_created": stamp(created), "date_updated": stamp(updated),
        }

    def card(self, car_id: int) -> dict[str, Any]:
        """The listing card JSON (as parsed)."""
        full = self.page(car_id)
        return {
            "schema_version": 1, "id": car_id,
            "images": [i["url"] for i in full["images"][:4]], "price": full["price"],
            "make_name": full["make"]["name"], "model_name": full["model"]["name"],
            "variant_name": full["variant"]["name"], "link": full["link"],
            "city_name": full["city"]["name"], "owner": full["owner"], "year": full["year"],
            "km_driven": full["km_driven"], "fuel_type": full["fuel_type"],
            "transmission": full["transmission"],
        }

    def private(self, car_id: int) -> dict[str, Any]:
        """Paid-only data: the seller's mobile and the parsed full report (if any)."""
        seller_id = self._car(car_id)[14]
        out: dict[str, Any] = {"seller_mobile_no": self.seller[seller_id][2]}
        reports = self._all("SELECT report FROM inspection_report WHERE car_id = %s", car_id)
        if reports:
            out["inspection_report"] = json.loads(reports[0][0])
        return out

    def interested(self, car_id: int) -> set[int]:
        """Distinct buyers with a live offer or a booked/completed test drive."""
        offers = self._all("SELECT buyer_id FROM offer WHERE car_id = %s "
                           "AND status IN ('open', 'accepted')", car_id)
        drives = self._all("SELECT buyer_id FROM test_drive WHERE car_id = %s "
                           "AND status IN ('booked', 'completed')", car_id)
        return {r[0] for r in offers} | {r[0] for r in drives}

    def buyer(self, buyer_id: int) -> dict[str, Any]:
        """Seen car ids, booked test drives, latest live offer per car, paid-until epoch."""
        seen = {r[0] for r in self._all("SELECT car_id FROM interaction WHERE buyer_id = %s",
                                        buyer_id)}
        drives = {r[0] for r in self._all(
            "SELECT car_id FROM test_drive WHERE buyer_id = %s AND status = 'booked'", buyer_id)}
        offers: dict[int, int] = {}
        for car_id, amount in self._all(
                "SELECT car_id, amount FROM offer WHERE buyer_id = %s "
                "AND status IN ('open', 'accepted') ORDER BY id", buyer_id):
            offers[car_id] = amount  # ascending ids: the newest wins
        (paid_until,) = self._all("SELECT paid_until FROM buyer WHERE id = %s", buyer_id)[0]
        epoch = None
        if paid_until is not None:
            epoch = int(paid_until.replace(tzinfo=dt.UTC).timestamp())
        return {"seen": seen, "test_drives": drives, "offers": offers, "paid_until": epoch}
