"""The demo catalogue generator: deterministic, complete, referentially sound and learnable."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest
from carpages_local import catalogue_data as data
from carpages_local.catalogue import (
    ANCHOR,
    COLUMNS,
    IMAGE_BASE,
    NEXON_MIN_SHARE,
    PRICE_BANDS,
    SUV_BODY_TYPE,
    SUV_CITY_BUYER_IDS,
    SUV_CITY_NAME,
    Catalogue,
    _slugs,
    buyer_count,
    generate,
)

CARS = 1500

FOREIGN_KEYS = {
    "model": {"make_id": "make"},
    "variant": {"model_id": "model"},
    "locality": {"city_id": "city"},
    "car": {"variant_id": "variant", "color_id": "color", "locality_id": "locality",
            "seller_id": "seller"},
    "car_feature": {"car_id": "car", "feature_id": "feature"},
    "car_image": {"car_id": "car"},
    "inspection_report": {"car_id": "car"},
    "buyer": {"city_id": "city"},
    "interaction": {"buyer_id": "buyer", "car_id": "car"},
    "test_drive": {"buyer_id": "buyer", "car_id": "car"},
    "offer": {"buyer_id": "buyer", "car_id": "car"},
}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return generate(cars=CARS, seed=42)


def col(table: str, name: str) -> int:
    return COLUMNS[table].index(name)


def car_facts(cat: Catalogue) -> dict[int, dict[str, Any]]:
    """car id -> make, model, body type, city and the model's reference spec."""
    makes = {r[0]: r[1] for r in cat.make}
    models = {r[0]: r for r in cat.model}
    variants = {r[0]: r[1] for r in cat.variant}
    cities = {r[0]: r[1] for r in cat.city}
    locality_city = {r[0]: cities[r[1]] for r in cat.locality}
    specs = {(make, spec.name): spec for make, specs in data.MAKES for spec in specs}
    facts = {}
    for row in cat.car:
        model = models[variants[row[1]]]
        make = makes[model[1]]
        facts[row[0]] = {"make": make, "model": model[2], "body": model[3],
                         "city": locality_city[row[3]], "spec": specs[make, model[2]],
                         "status": row[col("car", "status")], "created": row[14]}
    return facts


def test_same_seed_same_catalogue_different_seed_different() -> None:
    first, again, other = generate(300, seed=7), generate(300, seed=7), generate(300, seed=8)
    assert first == again
    assert first.car != other.car
    assert first.interaction != other.interaction


def test_rows_match_columns_and_ids_are_contiguous(cat: Catalogue) -> None:
    for table, rows in cat.tables():
        assert rows, table
        assert all(len(r) == len(COLUMNS[table]) for r in rows), table
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), table


def test_promised_counts(cat: Catalogue) -> None:
    status = Counter(r[col("car", "status")] for r in cat.car)
    assert status["live"] == CARS
    assert status["sold"] == pytest.approx(CARS * 0.08, abs=2)
    assert status["withdrawn"] == pytest.approx(CARS * 0.04, abs=2)
    assert 1 <= status["draft"] <= 20
    assert len(cat.make) >= 25
    assert len(cat.city) >= 15
    assert 35 <= len(cat.feature) <= 45
    assert 10 <= len(cat.color) <= 14
    per_city = Counter(r[1] for r in cat.locality)
    assert all(4 <= n <= 8 for n in per_city.values())
    assert len(cat.buyer) == buyer_count(CARS)
    assert buyer_count(10000) >= 20000
    assert {r[1] for r in cat.model} == {r[0] for r in cat.make}  # every make has models


def test_every_foreign_key_resolves(cat: Catalogue) -> None:
    ids = {table: {r[0] for r in rows} for table, rows in cat.tables()}
    for table, refs in FOREIGN_KEYS.items():
        for column, target in refs.items():
            index = col(table, column)
            values = {r[index] for r in getattr(cat, table)} - {None}
            assert values <= ids[target], f"{table}.{column} -> {target}"


def test_images_are_ordered_and_complete(cat: Catalogue) -> None:
    positions: defaultdict[int, list[int]] = defaultdict(list)
    for _, car_id, position, url, tag, _ in cat.car_image:
        positions[car_id].append(position)
        assert url == f"{IMAGE_BASE}/{car_id}/{position:02d}-{tag}.webp"
    assert set(positions) == {r[0] for r in cat.car}
    for found in positions.values():
        assert 10 <= len(found) <= 14
        assert sorted(found) == list(range(len(found)))


def test_features_per_car(cat: Catalogue) -> None:
    per_car: defaultdict[int, list[int]] = defaultdict(list)
    for _, car_id, feature_id in cat.car_feature:
        per_car[car_id].append(feature_id)
    assert set(per_car) == {r[0] for r in cat.car}
    assert all(3 <= len(f) <= 15 and len(set(f)) == len(f) for f in per_car.values())


def test_car_fields_are_plausible(cat: Catalogue) -> None:
    facts = car_facts(cat)
    for row in cat.car:
        car = dict(zip(COLUMNS["car"], row, strict=True))
        spec = facts[car["id"]]["spec"]
        assert spec.lo * 100_000 <= car["price"] <= spec.hi * 100_000
        assert car["price"] % 1000 == 0
        assert spec.first <= car["year"] <= spec.last
        assert 2008 <= car["year"] <= 2024
        assert car["fuel_type"] in {fuel for fuel, _ in spec.variants}
        assert car["transmission"] in data.TRANSMISSIONS
        assert isinstance(car["rating"], Decimal)
        assert Decimal("2.0") <= car["rating"] <= 5
        assert car["rating"] == round(car["rating"], 1)
        assert 1 <= car["owner_count"] <= 4
        assert car["date_created"] <= car["date_updated"] <= ANCHOR
        assert car["date_created"] >= ANCHOR.replace(year=ANCHOR.year - 2)
        assert car["date_created"].tzinfo is None
    owners = Counter(r[col("car", "owner_count")] for r in cat.car)
    assert owners.most_common(1)[0][0] == 1


def test_electric_models_are_electric_and_automatic(cat: Catalogue) -> None:
    facts = car_facts(cat)
    evs = [r for r in cat.car if facts[r[0]]["model"] in ("Nexon EV", "Tiago EV", "ZS EV")]
    assert evs
    assert all(r[col("car", "fuel_type")] == "electric" for r in evs)
    assert all(r[col("car", "transmission")] == "automatic" for r in evs)


def test_nexon_is_plentiful(cat: Catalogue) -> None:
    facts = car_facts(cat)
    nexons = [c for c in facts.values()
              if (c["make"], c["model"], c["status"]) == ("Tata", "Nexon", "live")]
    assert len(nexons) >= CARS * max(0.01, NEXON_MIN_SHARE)


def test_slugs_are_unique_and_cover_every_filter(cat: Catalogue) -> None:
    values = [r[1] for r in cat.slug]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", v) and len(v) <= 64 for v in values)
    by_type: defaultdict[str, set[str]] = defaultdict(set)
    for _, _, kind, flt in cat.slug:
        by_type[kind].add(flt)
    assert by_type["make"] == {str(r[0]) for r in cat.make}
    assert by_type["model"] == {str(r[0]) for r in cat.model}
    assert by_type["city"] == {str(r[0]) for r in cat.city}
    assert by_type["fuel_type"] == set(data.FUEL_TYPES)
    assert by_type["transmission"] == {"manual", "automatic"}
    assert by_type["price"] == {str(limit) for _, limit in PRICE_BANDS}
    slug = {r[1]: (r[2], r[3]) for r in cat.slug}
    tata = next(r[0] for r in cat.make if r[1] == "Tata")
    nexon = next(r[0] for r in cat.model if r[1] == tata and r[2] == "Nexon")
    assert slug["tata"] == ("make", str(tata))
    assert slug["nexon"] == ("model", str(nexon))
    assert slug["maruti-suzuki"][0] == slug["land-rover"][0] == "make"
    assert slug["xuv700"][0] == slug["creta"][0] == "model"
    assert slug["mumbai"][0] == "city"
    assert slug["under-5-lakh"] == ("price", "500000")


def test_colliding_model_tokens_are_qualified_by_make() -> None:
    cat = Catalogue(make=[(1, "Tata", None), (2, "Land Rover", None)],
                    model=[(1, 1, "Sierra", "suv", None), (2, 2, "Sierra", "suv", None),
                           (3, 2, "Pune", "suv", None), (4, 1, "Go+", "muv", None)],
                    city=[(1, "Pune", "Maharashtra")])
    _slugs(cat)
    models = {r[1]: r[3] for r in cat.slug if r[2] == "model"}
    assert models == {"tata-sierra": "1", "land-rover-sierra": "2", "land-rover-pune": "3",
                      "go-plus": "4"}


def test_suv_city_personas_stick_to_suvs_in_their_city(cat: Catalogue) -> None:
    facts = car_facts(cat)
    live_suvs = [c for c in facts.values() if c["status"] == "live"
                 and c["body"] == SUV_BODY_TYPE and c["city"] == SUV_CITY_NAME]
    assert len(live_suvs) >= max(12, CARS // 100)
    city_id = next(r[0] for r in cat.city if r[1] == SUV_CITY_NAME)
    buyers = {r[0]: r for r in cat.buyer}
    total = on_taste = 0
    for buyer_id in SUV_CITY_BUYER_IDS:
        assert buyers[buyer_id][col("buyer", "city_id")] == city_id
        cars = [facts[r[2]] for r in cat.interaction if r[1] == buyer_id]
        assert len(cars) >= 20
        mine = sum(c["body"] == SUV_BODY_TYPE and c["city"] == SUV_CITY_NAME for c in cars)
        assert mine / len(cars) >= 0.85
        total, on_taste = total + len(cars), on_taste + mine
    assert on_taste / total >= 0.95


def test_ordinary_buyers_have_learnable_tastes(cat: Catalogue) -> None:
    facts = car_facts(cat)
    seen: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for _, buyer_id, car_id, _, _ in cat.interaction:
        if buyer_id not in SUV_CITY_BUYER_IDS:
            seen[buyer_id].append(facts[car_id])
    city_focus, taste_focus = [], []
    for cars in seen.values():
        if len(cars) >= 10:
            top = max(Counter(c["make"] for c in cars).most_common(1)[0][1],
                      Counter(c["body"] for c in cars).most_common(1)[0][1])
            city_focus.append(Counter(c["city"] for c in cars).most_common(1)[0][1] / len(cars))
            taste_focus.append(top / len(cars))
    # A random buyer would spread over ~18 cities and ~28 makes; ours concentrate.
    assert sum(city_focus) / len(city_focus) >= 0.6
    assert sum(taste_focus) / len(taste_focus) >= 0.6
    assert 15 <= len(cat.interaction) / len(cat.buyer) <= 25


def test_activity_funnel_and_timing(cat: Catalogue) -> None:
    facts = car_facts(cat)
    kinds = Counter(r[3] for r in cat.interaction)
    assert kinds["view"] > 5 * kinds["lead"]
    assert kinds["lead"] > len(cat.test_drive) > len(cat.offer) > 0
    recent = 0
    for _, _, car_id, _, when in cat.interaction:
        assert facts[car_id]["created"] <= when <= ANCHOR
        recent += (ANCHOR - when).days <= 190
    assert recent / len(cat.interaction) >= 0.95
    prices = {r[0]: r[col("car", "price")] for r in cat.car}
    for _, _, car_id, amount, status, when in cat.offer:
        assert 0 < amount < prices[car_id]
        assert when <= ANCHOR
        assert status in {"open", "accepted", "rejected", "withdrawn"}
    for _, _, car_id, scheduled, status, created in cat.test_drive:
        assert facts[car_id]["created"] <= created < scheduled
        assert created <= ANCHOR
        assert (status == "booked") == (scheduled > ANCHOR)


def test_paid_buyers(cat: Catalogue) -> None:
    paid = [r[col("buyer", "paid_until")] for r in cat.buyer]
    active = sum(p is not None and p > ANCHOR for p in paid) / len(paid)
    lapsed = sum(p is not None and p <= ANCHOR for p in paid) / len(paid)
    assert active == pytest.approx(0.15, abs=0.03)
    assert lapsed == pytest.approx(0.05, abs=0.02)
    assert all(re.fullmatch(r"\+91[6-9]\d{9}", r[2]) for r in cat.buyer + cat.seller)
    assert {r[3] for r in cat.seller} == {"individual", "dealer", "inventory"}


def test_inspection_reports(cat: Catalogue) -> None:
    listed = {r[0] for r in cat.car if r[col("car", "status")] != "draft"}
    inspected = [r[1] for r in cat.inspection_report]
    assert len(set(inspected)) == len(inspected)
    assert set(inspected) <= listed
    assert len(inspected) / len(listed) == pytest.approx(0.9, abs=0.03)
    for _, _, score, summary, report, _ in cat.inspection_report:
        assert isinstance(score, Decimal)
        assert 0 <= score <= 10
        assert score == round(score, 1)
        assert 0 < len(summary) <= 255
        sections = json.loads(report)["sections"]
        assert len(sections) >= 5
        assert all(i["status"] in {"ok", "minor", "major"} for s in sections for i in s["items"])
