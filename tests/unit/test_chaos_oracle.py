"""The chaos oracle's pure parts: the expected page from rows, and the field diff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tests.chaos.oracle import CarFacts, diff_page, expected_page, owner_label


def _car(**over: Any) -> dict[str, Any]:
    row = {"id": 42, "status": "live", "price": 850000, "year": 2020, "km_driven": 32000,
           "fuel_type": "petrol", "transmission": "manual", "owner_count": 1,
           "rating": Decimal("4.5"), "registration_state": "MH",
           "date_created": dt.datetime(2024, 5, 30, 8, 12), "date_updated":
           dt.datetime(2024, 6, 1, 10, 0), "variant_id": 3, "variant_name": "XZ Plus",
           "model_id": 2, "model_name": "Nexon", "body_type": "suv", "make_id": 1,
           "make_name": "Tata", "color_id": 5, "color_name": "White", "hex": "#FFFFFF",
           "locality_id": 9, "locality_name": "Andheri", "city_id": 1, "city_name": "Mumbai",
           "seller_kind": "individual"}
    row.update(over)
    return row


def test_live_car_page_matches_the_documented_shape() -> None:
    facts = CarFacts(_car(), images=[(1, "b.webp", "rear"), (0, "a.webp", "front")],
                     features=[(7, "ABS", "safety"), (2, "Airbags", "safety")],
                     inspection=(Decimal("8.5"), "clean car", dt.datetime(2024, 6, 1, 10)),
                     interested=3)
    page = expected_page(facts)
    assert page is not None
    assert page["images"] == [{"position": 0, "url": "a.webp", "tag": "front"},
                              {"position": 1, "url": "b.webp", "tag": "rear"}]
    assert [f["id"] for f in page["features"]] == [2, 7]
    assert page["inspection"] == {"score": 8.5, "summary": "clean car",
                                  "inspected_at": "2024-06-01T10:00:00Z"}
    assert page["make"] == {"id": 1, "name": "Tata"}
    assert page["model"] == {"id": 2, "name": "Nexon", "body_type": "suv"}
    assert page["city"] == {"id": 1, "name": "Mumbai"}
    assert page["locality"] == {"id": 9, "name": "Andheri"}
    assert page["rating"] == 4.5
    assert page["owner"] == "1st"
    assert page["date_created"] == "2024-05-30T08:12:00Z"
    assert page["interested_people"] == 3
    assert page["is_seen"] is False
    assert page["offer_amount"] is None
    assert page["seller_mobile_no"] is None
    assert page["inspection_report"] is None


def test_a_car_that_is_not_live_is_a_404() -> None:
    for status in ("sold", "withdrawn", "draft"):
        assert expected_page(CarFacts(_car(status=status))) is None


def test_owner_labels() -> None:
    assert [owner_label(n) for n in (1, 2, 3, 4, 9)] == ["1st", "2nd", "3rd", "4th+", "4th+"]


def test_no_inspection_is_null() -> None:
    page = expected_page(CarFacts(_car()))
    assert page is not None
    assert page["inspection"] is None
    assert page["images"] == []


def test_diff_names_the_fields_that_differ() -> None:
    want = expected_page(CarFacts(_car(), features=[(1, "A", "x"), (2, "B", "y")]))
    assert want is not None
    body = dict(want, price=1, features=list(reversed(want["features"])))
    assert diff_page(want, 200, body) == ["price"]  # feature order is not part of the contract
    assert diff_page(want, 200, dict(want)) == []
    assert diff_page(want, 404, None) == ["http_status"]
    assert diff_page(want, 503, {"error": "cache unavailable"}) == ["http_status"]
    assert diff_page(None, 404, {"error": "car not found"}) == []
    assert diff_page(None, 200, want) == ["http_status"]
    images = dict(want, images=[{"position": 1, "url": "u", "tag": "t"}])
    assert diff_page(want, 200, images) == ["images"]
