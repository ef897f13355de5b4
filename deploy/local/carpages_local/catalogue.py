"""The deterministic demo catalogue behind `make seed`: every table's rows, generated without I/O.

`generate(cars, seed)` returns identical rows for identical arguments on every machine: all
randomness comes from one `random.Random(seed)` and every timestamp is relative to ANCHOR.
Buyers carry latent tastes (one or two makes or body types, a home city, a price band, a fuel)
that steer ~80% of their activity, so a recommender has real structure to learn. Planted for
the recommender's tests:

- SUV_CITY_BUYER_IDS: buyers whose interactions are almost all (~98%+) with live
  SUV_BODY_TYPE cars in SUV_CITY_NAME, which holds at least max(12, cars // 100) of them
  (for catalogues of 20+ cars);
- Tata Nexon: at least NEXON_MIN_SHARE of the live cars.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from carpages_local import catalogue_data as data

Row = tuple[Any, ...]
_T = TypeVar("_T")

ANCHOR = datetime(2026, 11, 1)
"""'Now' for the catalogue: every timestamp is placed relative to it (naive UTC)."""
SUV_CITY_NAME = "Pune"
SUV_BODY_TYPE = "suv"
SUV_CITY_BUYER_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
NEXON_MIN_SHARE = 0.015
PRICE_BANDS: tuple[tuple[str, int], ...] = (
    ("under-3-lakh", 300_000), ("under-5-lakh", 500_000), ("under-10-lakh", 1_000_000),
    ("under-20-lakh", 2_000_000), ("under-50-lakh", 5_000_000), ("under-1-crore", 10_000_000))
"""Price slugs: (value, max price in INR)."""
IMAGE_BASE = "https://cdn.carpages.example/cars"
"""Image urls are f"{IMAGE_BASE}/{car_id}/{position:02d}-{tag}.webp"."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "make": ("id", "name", "date_created"),
    "model": ("id", "make_id", "name", "body_type", "date_created"),
    "variant": ("id", "model_id", "name", "date_created"),
    "color": ("id", "name", "hex"),
    "city": ("id", "name", "state"),
    "locality": ("id", "city_id", "name"),
    "seller": ("id", "name", "mobile_no", "kind", "date_created"),
    "feature": ("id", "name", "category", "date_created"),
    "car": ("id", "variant_id", "color_id", "locality_id", "seller_id", "price", "year",
            "km_driven", "fuel_type", "transmission", "owner_count", "rating",
            "registration_state", "status", "date_created", "date_updated"),
    "car_feature": ("id", "car_id", "feature_id"),
    "car_image": ("id", "car_id", "position", "url", "tag", "date_created"),
    "inspection_report": ("id", "car_id", "score", "summary", "report", "inspected_at"),
    "buyer": ("id", "name", "mobile_no", "city_id", "paid_until", "date_created"),
    "interaction": ("id", "buyer_id", "car_id", "kind", "date_created"),
    "test_drive": ("id", "buyer_id", "car_id", "scheduled_at", "status", "date_created"),
    "offer": ("id", "buyer_id", "car_id", "amount", "status", "date_created"),
    "slug": ("id", "value", "type", "filter"),
}
"""Column order of each table's row tuples."""

_DAY = 86_400
_WINDOW = 180 * _DAY  # buyer activity spans the last ~6 months
_LISTED = 540 * _DAY  # cars were listed over the last ~18 months
_BUDGETS = (300_000, 500_000, 800_000, 1_200_000, 2_000_000, 3_500_000, 6_000_000)


@dataclass
class Catalogue:
    """Row tuples per table (columns as in COLUMNS), fields in foreign-key order."""

    make: list[Row] = field(default_factory=list)
    model: list[Row] = field(default_factory=list)
    variant: list[Row] = field(default_factory=list)
    color: list[Row] = field(default_factory=list)
    city: list[Row] = field(default_factory=list)
    locality: list[Row] = field(default_factory=list)
    seller: list[Row] = field(default_factory=list)
    feature: list[Row] = field(default_factory=list)
    car: list[Row] = field(default_factory=list)
    car_feature: list[Row] = field(default_factory=list)
    car_image: list[Row] = field(default_factory=list)
    inspection_report: list[Row] = field(default_factory=list)
    buyer: list[Row] = field(default_factory=list)
    interaction: list[Row] = field(default_factory=list)
    test_drive: list[Row] = field(default_factory=list)
    offer: list[Row] = field(default_factory=list)
    slug: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[Row]]]:
        """(table, rows) in foreign-key order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(rows) for name, rows in self.tables()}


class _Car(NamedTuple):
    id: int
    make_id: int
    body: str
    city_id: int
    price: int
    fuel: str
    created: int  # seconds relative to ANCHOR (negative = before)
    until: int  # when it stopped being listed (ANCHOR for live cars)
    status: str


@dataclass
class _Ref:
    """Reference ids and lookup tables the generators share."""

    models: list[tuple[int, int, data.ModelSpec]] = field(default_factory=list)
    variants: dict[tuple[int, str], list[tuple[int, bool]]] = field(default_factory=dict)
    fuels: dict[int, tuple[list[str], list[float]]] = field(default_factory=dict)  # cum weights
    cities: list[tuple[int, str, int]] = field(default_factory=list)  # (id, RTO code, size)
    localities: dict[int, list[int]] = field(default_factory=dict)
    features: list[list[int]] = field(default_factory=list)  # ids usable at tier 0, 1, 2
    colors: list[int] = field(default_factory=list)
    sellers: dict[int, tuple[list[int], list[float]]] = field(default_factory=dict)


def _at(seconds: int) -> datetime:
    return ANCHOR + timedelta(seconds=seconds)


def _one(rng: random.Random, seq: Sequence[_T]) -> _T:
    # rng.choice rejection-samples with getrandbits; one random() call is 3x cheaper here.
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: random.Random, seq: Sequence[_T], cum: Sequence[float]) -> _T:
    return seq[bisect.bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]


def slugify(text: str) -> str:
    """URL token for a name: lowercase, '+' spelt 'plus', other punctuation to single hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("+", " plus")).strip("-")


def buyer_count(cars: int) -> int:
    """Buyers generated for `cars` live cars."""
    return max(2000, cars * 2)


def generate(cars: int = 10000, seed: int = 42) -> Catalogue:
    """Build the demo catalogue with `cars` live cars (plus sold, withdrawn and draft ones)."""
    if cars < 1:
        raise ValueError("cars must be positive")
    rng = random.Random(seed)
    cat = Catalogue()
    ref = _reference(cat)
    _sellers(cat, ref, rng, cars)
    listed = _cars(cat, ref, rng, cars)
    _car_details(cat, ref, rng, listed)
    _activity(cat, rng, listed, buyer_count(cars))
    _slugs(cat)
    return cat


def _reference(cat: Catalogue) -> _Ref:
    ref, created = _Ref(), ANCHOR - timedelta(days=1500)
    for make_id, (make, specs) in enumerate(data.MAKES, 1):
        cat.make.append((make_id, make, created))
        for spec in specs:
            model_id = len(cat.model) + 1
            cat.model.append((model_id, make_id, spec.name, spec.body, created))
            ref.models.append((model_id, make_id, spec))
            names: dict[str, int] = {}
            fuels = [fuel for fuel, _ in spec.variants]
            ref.fuels[model_id] = (fuels, list(itertools.accumulate(
                4.0 if i == 0 else data.FUEL_WEIGHTS[f] for i, f in enumerate(fuels))))
            for fuel, variants in spec.variants:
                for name in variants:
                    if name not in names:
                        names[name] = len(cat.variant) + 1
                        cat.variant.append((names[name], model_id, name, created))
                    auto = (spec.body.startswith("luxury") or fuel in ("electric", "hybrid")
                            or not data.AUTO_TOKENS.isdisjoint(name.split()))
                    ref.variants.setdefault((model_id, fuel), []).append((names[name], auto))
    for color_id, (name, hex_, _) in enumerate(data.COLORS, 1):
        cat.color.append((color_id, name, hex_))
    ref.colors = list(range(1, len(data.COLORS) + 1))
    for city_id, (name, state, rto, size, localities) in enumerate(data.CITIES, 1):
        cat.city.append((city_id, name, state))
        ref.cities.append((city_id, rto, size))
        for loc in localities:
            cat.locality.append((len(cat.locality) + 1, city_id, loc))
            ref.localities.setdefault(city_id, []).append(len(cat.locality))
    for feature_id, (name, category, _) in enumerate(data.FEATURES, 1):
        cat.feature.append((feature_id, name, category, created))
    ref.features = [[i for i, (*_, t) in enumerate(data.FEATURES, 1) if t <= tier]
                    for tier in range(3)]
    return ref


def _mobile(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"
        if number not in taken:
            taken.add(number)
            return number


def _person(rng: random.Random) -> str:
    return f"{rng.choice(data.FIRST_NAMES)} {rng.choice(data.LAST_NAMES)}"


def _sellers(cat: Catalogue, ref: _Ref, rng: random.Random, cars: int) -> None:
    total, size_sum = max(60, cars // 4), sum(c[2] for c in ref.cities)
    taken: set[str] = set()
    for city_id, _, size in ref.cities:
        ids, weights = [], []
        locs = data.CITIES[city_id - 1][4]
        for _ in range(max(3, round(total * size / size_sum))):
            kind = rng.choices(("individual", "dealer", "inventory"), (65, 28, 7))[0]
            if kind == "individual":
                name = _person(rng)
            elif kind == "dealer":
                name = f"{rng.choice(data.DEALER_PREFIXES)} {rng.choice(data.DEALER_SUFFIXES)}"
            else:
                name = f"CarPages Assured Hub, {rng.choice(locs)}"
            seller_id = len(cat.seller) + 1
            created = _at(-rng.randint(560, 1500) * _DAY - rng.randrange(_DAY))
            cat.seller.append((seller_id, name, _mobile(rng, taken), kind, created))
            # Dealers and inventory hubs list many cars each; individuals one or two.
            ids.append(seller_id)
            weights.append({"individual": 1.0, "dealer": 10.0, "inventory": 25.0}[kind])
        ref.sellers[city_id] = (ids, list(itertools.accumulate(weights)))


def _cars(cat: Catalogue, ref: _Ref, rng: random.Random, live: int) -> list[_Car]:
    statuses = (["live"] * live + ["sold"] * round(live * 0.08)
                + ["withdrawn"] * round(live * 0.04) + ["draft"] * max(3, live // 1000))
    nexon = next(m for m in ref.models if m[2].name == "Nexon" and cat.make[m[1] - 1][1] == "Tata")
    suv_models = [m for m in ref.models if m[2].body == SUV_BODY_TYPE]
    suv_city = next(c for c in ref.cities if cat.city[c[0] - 1][1] == SUV_CITY_NAME)
    nexon_quota = min(live, max(5, math.ceil(live * NEXON_MIN_SHARE)))
    suv_quota = min(live, nexon_quota + max(12, live // 100))
    model_w = list(itertools.accumulate(m[2].weight for m in ref.models))
    suv_w = list(itertools.accumulate(m[2].weight for m in suv_models))
    city_w = list(itertools.accumulate(c[2] for c in ref.cities))
    color_w = list(itertools.accumulate(c[2] for c in data.COLORS))
    rtos = sorted({c[1] for c in ref.cities})
    pending: list[tuple[int, int, Row, _Car]] = []
    for i, status in enumerate(statuses):
        # The first live cars are the planted quotas; every other car is drawn by popularity.
        if i < nexon_quota:
            model_id, make_id, spec = nexon
        elif i < suv_quota:
            model_id, make_id, spec = _weighted(rng, suv_models, suv_w)
        else:
            model_id, make_id, spec = _weighted(rng, ref.models, model_w)
        city_id, rto, _ = (suv_city if nexon_quota <= i < suv_quota
                           else _weighted(rng, ref.cities, city_w))
        fuel = _weighted(rng, *ref.fuels[model_id])
        variant_id, auto = _one(rng, ref.variants[model_id, fuel])
        year = spec.first + min(spec.last - spec.first, int(rng.triangular(
            0, spec.last - spec.first + 1, (spec.last - spec.first) * 0.7)))
        age = ANCHOR.year - year
        per_year = min(30_000, max(2_500, rng.gauss(11_000, 3_500)))
        per_year *= 1.35 if fuel == "diesel" else 0.8 if fuel == "electric" else 1.0
        km = max(300, int((age - 0.5 + rng.random()) * per_year))
        span = spec.last - spec.first
        value = 0.12 + 0.72 * ((year - spec.first) / span if span else 1.0)
        value = min(1.0, max(0.0, value + rng.uniform(-0.12, 0.12) - min(0.1, km / 1_000_000)))
        price = round((spec.lo + (spec.hi - spec.lo) * value) * 100) * 1000
        owners = _weighted(rng, (1, 2, 3, 4), (70, 92, 98, 100) if age < 7 else (48, 81, 95, 100))
        rating = Decimal(f"{rng.triangular(2.0, 5.0, 4.3):.1f}")
        reg = rto if rng.random() < 0.9 else _one(rng, rtos)
        seller_id = _weighted(rng, *ref.sellers[city_id])
        if status == "live":  # skewed recent: older listings have mostly sold already
            created = -int(_LISTED * rng.random() ** 1.6) - 3600
            until = 0
            updated = created + int((until - created) * rng.random() ** 3)
        elif status == "draft":
            created = -rng.randrange(3600, 10 * _DAY)
            until = updated = min(-60, created + rng.randrange(600, 3 * 3600))
        else:
            created = -rng.randrange(15 * _DAY, _LISTED)
            until = updated = min(created + rng.randrange(7 * _DAY, 120 * _DAY), -3600)
        row = (variant_id, _weighted(rng, ref.colors, color_w),
               _one(rng, ref.localities[city_id]), seller_id, price, year, km, fuel,
               "automatic" if auto else "manual", owners, rating, reg, status, _at(created),
               _at(updated))
        info = _Car(0, make_id, spec.body, city_id, price, fuel, created, until, status)
        pending.append((created, i, row, info))
    pending.sort(key=lambda p: (p[0], p[1]))  # ids follow listing time, as AUTO_INCREMENT would
    listed = []
    for car_id, (_, _, row, info) in enumerate(pending, 1):
        cat.car.append((car_id, *row))
        listed.append(info._replace(id=car_id))
    return listed


def _car_details(cat: Catalogue, ref: _Ref, rng: random.Random, listed: list[_Car]) -> None:
    for car, row in zip(listed, cat.car, strict=True):
        created: datetime = row[14]
        for position, tag in enumerate(data.IMAGE_TAGS[:rng.randint(10, 14)]):
            url = f"{IMAGE_BASE}/{car.id}/{position:02d}-{tag}.webp"
            cat.car_image.append((len(cat.car_image) + 1, car.id, position, url, tag, created))
        tier = 0 if car.price < 600_000 else 1 if car.price < 1_500_000 else 2
        eligible = ref.features[tier]
        low, high = ((3, 9), (6, 13), (9, 15))[tier]
        for feature_id in sorted(rng.sample(eligible, min(len(eligible), rng.randint(low, high)))):
            cat.car_feature.append((len(cat.car_feature) + 1, car.id, feature_id))
        if car.status != "draft" and rng.random() < 0.9:
            score, summary, report = _inspection(rng, ANCHOR.year - row[6], row[7], car.fuel)
            inspected = created - timedelta(seconds=rng.randrange(3600, 5 * _DAY))
            cat.inspection_report.append((len(cat.inspection_report) + 1, car.id, score, summary,
                                          report, inspected))


def _inspection(rng: random.Random, age: int, km: int, fuel: str) -> tuple[Decimal, str, str]:
    wear = min(0.95, max(0.05, age / 20 + km / 300_000 + rng.gauss(0, 0.1)))
    sections, minor, major = [], 0, []
    for name, items in data.INSPECTION_SECTIONS:
        if name.startswith("Engine") and fuel == "electric":
            name, items = data.EV_SECTION
        minor_notes, major_notes = (data.DOCUMENT_NOTES if name == "Documents"
                                    else (data.MINOR_NOTES, data.MAJOR_NOTES))
        checked = []
        for item in items:
            r = rng.random()
            if r < wear * 0.12:
                major.append(item)
                checked.append({"item": item, "status": "major",
                                "note": _one(rng, major_notes)})
            elif r < wear * 0.6:
                minor += 1
                checked.append({"item": item, "status": "minor",
                                "note": _one(rng, minor_notes)})
            else:
                checked.append({"item": item, "status": "ok"})
        sections.append({"name": name, "items": checked})
    score = min(9.9, max(3.0, 10 - 0.3 * minor - 1.1 * len(major) - rng.random() * 0.4))
    grade = ("Excellent condition" if score >= 8.5 else "Good condition" if score >= 7
             else "Fair condition" if score >= 5.5 else "Needs work")
    summary = f"{grade}: {minor} minor and {len(major)} major observations"
    if major:
        summary += f"; {', '.join(major[:3])} need attention"
    report = {"version": 1, "odometer_km": km, "accident_free": len(major) < 2,
              "tyre_tread_pct": rng.randint(35, 95), "sections": sections}
    return Decimal(f"{score:.1f}"), summary, json.dumps(report, separators=(",", ":"))


class _Buyer(NamedTuple):
    id: int
    created: int
    home: int
    tastes: tuple[tuple[str, Any], ...]  # ("make", make_id) or ("body", body type)
    band: int
    fuel: str
    focus: float  # share of picks steered by taste
    loose: bool  # planted persona: taste and city only, no band or fuel


def _activity(cat: Catalogue, rng: random.Random, listed: list[_Car], buyers: int) -> None:
    live = [c for c in listed if c.status == "live"]
    pools: defaultdict[tuple[Any, ...], list[_Car]] = defaultdict(list)
    pools[()] = live
    for car in live:
        band = bisect.bisect(_BUDGETS, car.price)
        for taste in (("make", car.make_id), ("body", car.body)):
            pools[(taste,)].append(car)
            pools[(taste, car.city_id)].append(car)
            pools[(taste, car.city_id, band)].append(car)
            pools[(taste, car.city_id, band, car.fuel)].append(car)
    suv_city = next(r[0] for r in cat.city if r[1] == SUV_CITY_NAME)
    people: list[_Buyer] = []
    by_city: defaultdict[int, list[_Buyer]] = defaultdict(list)
    taken: set[str] = set()
    for buyer_id in range(1, buyers + 1):
        created = -rng.randrange(7 * _DAY, 1000 * _DAY)
        muse = _one(rng, live)  # a car typical of the market anchors each buyer's taste
        if buyer_id in SUV_CITY_BUYER_IDS:
            b = _Buyer(buyer_id, created, suv_city, (("body", SUV_BODY_TYPE),), 0, "", 0.99, True)
        else:
            kind, value = (("make", "make_id") if rng.random() < 0.55 else ("body", "body"))
            tastes = [(kind, getattr(muse, value))]
            if rng.random() < 0.35:
                tastes.append((kind, getattr(_one(rng, live), value)))
            b = _Buyer(buyer_id, created, muse.city_id, tuple(dict.fromkeys(tastes)),
                       bisect.bisect(_BUDGETS, muse.price), muse.fuel, 0.8, False)
            by_city[b.home].append(b)
        people.append(b)
        r = rng.random()
        paid = (None if r >= 0.2 else _at(rng.randint(1, 365) * _DAY) if r < 0.15
                else _at(created + int(-created * rng.uniform(0.2, 0.99))))  # lapsed
        city = None if rng.random() < 0.04 and not b.loose else b.home  # profile left blank
        cat.buyer.append((buyer_id, _person(rng), _mobile(rng, taken), city, paid, _at(created)))
    events: list[Row] = []  # (seconds, buyer id, car id, kind) until they become rows
    drives: list[tuple[int, int, int, int, str]] = []
    offers: list[tuple[int, int, int, int, str]] = []
    rand = rng.random
    for b in people:
        target = rng.randint(25, 40) if b.loose else 1 + int(rng.gammavariate(2.0, 9.5))
        done = 0
        while done < target:
            steered = rand() < b.focus
            car = _pick(rng, b, pools) if steered else _one(rng, live)
            lo = max(-_WINDOW, car.created, b.created)
            t = lo + int((car.until - lo) * rand())
            for _ in range(1 + (rand() < 0.35) + (rand() < 0.12)):
                events.append((t, b.id, car.id, "view"))
                t = min(car.until, t + 60 + int(rand() * 2 * _DAY))
                done += 1
            if rand() >= (0.13 if steered else 0.03):
                continue
            events.append((t, b.id, car.id, "lead"))
            done += 1
            if rand() < 0.4:
                booked = t + rng.randrange(600, 6 * 3600)
                when = booked + rng.randint(1, 6) * _DAY
                status = ("booked" if when > 0 else "completed" if rand() < 0.7
                          else "cancelled")
                drives.append((min(booked, 0), b.id, car.id, when, status))
                offered = when + rng.randrange(3600, 2 * _DAY)
                if status == "completed" and offered < 0 and rand() < 0.45:
                    amount = int(round(car.price * rng.uniform(0.82, 0.97), -3))
                    offers.append((offered, b.id, car.id, amount, rng.choices(
                        ("open", "rejected", "withdrawn"), (50, 35, 15))[0]))
    _closings(rng, listed, by_city, events, drives, offers)
    events.sort()  # ids follow time, as AUTO_INCREMENT would
    drives.sort()
    offers.sort()
    for i, (t, buyer_id, car_id, kind) in enumerate(events):
        events[i] = (i + 1, buyer_id, car_id, kind, _at(t))  # in place: halves peak memory
    cat.interaction = events
    cat.test_drive = [(i, b, c, _at(w), s, _at(t)) for i, (t, b, c, w, s) in enumerate(drives, 1)]
    cat.offer = [(i, b, c, a, s, _at(t)) for i, (t, b, c, a, s) in enumerate(offers, 1)]


def _pick(rng: random.Random, b: _Buyer, pools: dict[tuple[Any, ...], list[_Car]]) -> _Car:
    taste, r = _one(rng, b.tastes), rng.random()
    near: list[tuple[Any, ...]] = [(taste, b.home), (taste,), ()]
    # Mostly within budget (and fuel), sometimes only within taste and city, rarely in any city;
    # each key falls back to the next, wider one when its pool is empty (() = every live car).
    keys = (near if b.loose
            else [(taste, b.home, b.band, b.fuel), (taste, b.home, b.band), *near] if r < 0.5
            else [(taste, b.home, b.band), *near] if r < 0.75
            else near if r < 0.92 else near[1:])
    return _one(rng, next(pool for pool in map(pools.get, keys) if pool))


def _closings(rng: random.Random, listed: list[_Car], by_city: dict[int, list[_Buyer]],
              events: list[Row], drives: list[tuple[int, int, int, int, str]],
              offers: list[tuple[int, int, int, int, str]]) -> None:
    """Each sold car was bought by a local buyer: views, a lead, a test drive, an accepted offer."""
    for car in listed:
        if car.status != "sold" or not by_city.get(car.city_id):
            continue
        buyer = rng.choice(by_city[car.city_id])
        if buyer.created > car.until - 2 * _DAY:
            continue  # this sale went to someone off the platform
        t = max(car.created, buyer.created, car.until - rng.randrange(3 * _DAY, 15 * _DAY))
        events.extend([(t, buyer.id, car.id, "view"), (t + 600, buyer.id, car.id, "view"),
                       (t + 3600, buyer.id, car.id, "lead")])
        drives.append((t + 7200, buyer.id, car.id, t + _DAY, "completed"))
        amount = int(round(car.price * rng.uniform(0.9, 0.99), -3))
        offers.append((car.until - 6 * 3600, buyer.id, car.id, amount, "accepted"))


def _slugs(cat: Catalogue) -> None:
    makes = {make_id: slugify(name) for make_id, name, _ in cat.make}
    entries = [(slugify(name), "make", str(i)) for i, name, _ in cat.make]
    entries += [(slugify(name), "city", str(i)) for i, name, _ in cat.city]
    entries += [(f, "fuel_type", f) for f in data.FUEL_TYPES]
    entries += [(t, "transmission", t) for t in data.TRANSMISSIONS]
    entries += [(value, "price", str(limit)) for value, limit in PRICE_BANDS]
    taken = {e[0] for e in entries}
    tokens = [slugify(name) for _, _, name, _, _ in cat.model]
    for (model_id, make_id, *_), token in zip(cat.model, tokens, strict=True):
        # A model token shared with any other slug is qualified by its make ("tata-sierra").
        if token in taken or tokens.count(token) > 1:
            token = f"{makes[make_id]}-{token}"
        entries.append((token, "model", str(model_id)))
    if len({e[0] for e in entries}) != len(entries):
        raise ValueError("slug values collide; fix catalogue_data")
    cat.slug = [(i, *entry) for i, entry in enumerate(entries, 1)]
