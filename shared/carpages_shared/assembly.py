"""Pure assembly: a car's rows become its page, card, private data and index entries."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Final

import orjson

from carpages_shared.car_rows import CarRecord
from carpages_shared.payloads import (
    CARD_SCHEMA_VERSION,
    PAGE_SCHEMA_VERSION,
    ColorRef,
    DedicatedPage,
    FeatureRef,
    Image,
    InspectionSummary,
    ListingCard,
    ModelRef,
    Named,
    car_link,
    owner_label,
)

CARD_IMAGES = 4
PRIVATE_FIELDS: Final = ("seller_mobile_no", "inspection_report")
"""Every paid-only field a car's private hash can hold (private_fields writes a subset)."""


def iso(moment: dt.datetime) -> str:
    """Naive datetimes in the DB are UTC (the server runs with time_zone=+00:00)."""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"  # the common case, without building a new datetime
    return moment.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def epoch(moment: dt.datetime) -> int:
    """Seconds since the epoch for a naive UTC datetime."""
    return calendar.timegm(moment.utctimetuple())


def page(car: CarRecord) -> DedicatedPage:
    """The public dedicated page (no seller mobile, no full inspection report)."""
    inspection = None
    if car.inspection is not None:
        score, summary, _report, inspected_at = car.inspection
        inspection = InspectionSummary(score=float(score), summary=summary,
                                       inspected_at=iso(inspected_at))
    return DedicatedPage(
        id=car.id, link=car_link(car.id), price=car.price, year=car.year,
        km_driven=car.km_driven, fuel_type=car.fuel_type, transmission=car.transmission,
        owner_count=car.owner_count, owner=owner_label(car.owner_count),
        rating=float(car.rating), registration_state=car.registration_state,
        make=Named(id=car.make[0], name=car.make[1]),
        model=ModelRef(id=car.model[0], name=car.model[1], body_type=car.model[2]),
        variant=Named(id=car.variant[0], name=car.variant[1]),
        color=ColorRef(id=car.color[0], name=car.color[1], hex=car.color[2]),
        city=Named(id=car.city[0], name=car.city[1]),
        locality=Named(id=car.locality[0], name=car.locality[1]),
        seller_kind=car.seller_kind,
        images=[Image(position=p, url=u, tag=t) for p, u, t in car.images],
        features=[FeatureRef(id=i, name=n, category=c) for i, n, c in car.features],
        inspection=inspection, date_created=iso(car.date_created),
        date_updated=iso(car.date_updated),
    )


def page_json(car: CarRecord) -> bytes:
    """`page(car).model_dump_json()`, byte for byte, without building the pydantic models.

    The builder writes thousands of pages per second during a bulk change or a rebuild; plain
    dicts dumped by orjson cost a fraction of the model construction and validation. The keys
    follow the model's field order, so the bytes are identical (tests/unit/test_assembly_json).
    """
    inspection = None
    if car.inspection is not None:
        score, summary, _report, inspected_at = car.inspection
        inspection = {"score": float(score), "summary": summary,
                      "inspected_at": iso(inspected_at)}
    return orjson.dumps({
        "schema_version": PAGE_SCHEMA_VERSION, "id": car.id, "link": car_link(car.id),
        "status": "live", "price": car.price, "year": car.year, "km_driven": car.km_driven,
        "fuel_type": car.fuel_type, "transmission": car.transmission,
        "owner_count": car.owner_count, "owner": owner_label(car.owner_count),
        "rating": float(car.rating), "registration_state": car.registration_state,
        "make": {"id": car.make[0], "name": car.make[1]},
        "model": {"id": car.model[0], "name": car.model[1], "body_type": car.model[2]},
        "variant": {"id": car.variant[0], "name": car.variant[1]},
        "color": {"id": car.color[0], "name": car.color[1], "hex": car.color[2]},
        "city": {"id": car.city[0], "name": car.city[1]},
        "locality": {"id": car.locality[0], "name": car.locality[1]},
        "seller_kind": car.seller_kind,
        "images": [{"position": p, "url": u, "tag": t} for p, u, t in car.images],
        "features": [{"id": i, "name": n, "category": c} for i, n, c in car.features],
        "inspection": inspection, "date_created": iso(car.date_created),
        "date_updated": iso(car.date_updated),
    })


def card(car: CarRecord) -> ListingCard:
    """The listing card (seed 002's response item)."""
    return ListingCard(
        id=car.id, images=[u for _, u, _ in car.images[:CARD_IMAGES]], price=car.price,
        make_name=car.make[1], model_name=car.model[1], variant_name=car.variant[1],
        link=car_link(car.id), city_name=car.city[1], owner=owner_label(car.owner_count),
        year=car.year, km_driven=car.km_driven, fuel_type=car.fuel_type,
        transmission=car.transmission,
    )


def card_json(car: CarRecord) -> bytes:
    """`card(car).model_dump_json()`, byte for byte, without the pydantic model (as page_json)."""
    return orjson.dumps({
        "schema_version": CARD_SCHEMA_VERSION, "id": car.id,
        "images": [u for _, u, _ in car.images[:CARD_IMAGES]], "price": car.price,
        "make_name": car.make[1], "model_name": car.model[1], "variant_name": car.variant[1],
        "link": car_link(car.id), "city_name": car.city[1], "owner": owner_label(car.owner_count),
        "year": car.year, "km_driven": car.km_driven, "fuel_type": car.fuel_type,
        "transmission": car.transmission,
    })


def private_fields(car: CarRecord) -> dict[str, bytes]:
    """Paid-only data, stored apart from the public page."""
    fields = {"seller_mobile_no": car.seller_mobile_no.encode()}
    if car.inspection is not None:
        # Re-serialise through orjson so the stored report is compact, canonical JSON.
        fields["inspection_report"] = orjson.dumps(orjson.loads(car.inspection[2]))
    return fields


@dataclass(frozen=True)
class CarEntries:
    """What a live car's own cache keys hold (not its listing index): both writers of those
    keys — the API's miss fill and the worker — write exactly this."""

    page: bytes
    """The public dedicated page JSON."""
    private: dict[str, bytes]
    """Paid-only fields the car has."""
    stale_private: tuple[str, ...]
    """Paid-only fields it lacks (to delete from a hash that may still hold them)."""
    interested: tuple[int, ...]
    """Buyer ids interested in the car."""


def car_entries(car: CarRecord) -> CarEntries:
    """A live car's page bytes, private fields and interested buyer ids."""
    private = private_fields(car)
    return CarEntries(page_json(car), private,
                      tuple(f for f in PRIVATE_FIELDS if f not in private),
                      tuple(sorted(car.interested)))


@dataclass(frozen=True)
class IndexEntry:
    """The listing-index memberships of one live car."""

    sets: tuple[tuple[str, str], ...]
    scores: tuple[tuple[str, float], ...]

    def to_json(self) -> bytes:
        return orjson.dumps({"s": self.sets, "n": self.scores})

    @classmethod
    def from_json(cls, raw: bytes) -> IndexEntry:
        data = orjson.loads(raw)
        # map(tuple): each element is a 2-item JSON array, so this is the (field, value) pair.
        return cls(tuple(map(tuple, data["s"])), tuple(map(tuple, data["n"])))


def index_entry(car: CarRecord) -> IndexEntry:
    """Which set indexes a live car belongs to and its sorted-set scores."""
    sets = [
        ("city_id", str(car.city[0])), ("make_id", str(car.make[0])),
        ("model_id", str(car.model[0])), ("variant_id", str(car.variant[0])),
        ("color_id", str(car.color[0])), ("fuel_type", car.fuel_type),
        ("transmission", car.transmission), ("owner", str(car.owner_count)),
    ]
    sets += [("feature", str(fid)) for fid, _, _ in car.features]
    scores = (
        ("price", float(car.price)), ("year", float(car.year)), ("km", float(car.km_driven)),
        ("created", float(epoch(car.date_created))), ("rating", float(car.rating)),
    )
    return IndexEntry(tuple(sets), scores)
