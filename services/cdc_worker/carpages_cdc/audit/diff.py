"""What a fresh build says a car's or buyer's cache entries should be, compared with what Valkey
holds (pure; the reconciler does the reads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from carpages_shared import keys
from carpages_shared.assembly import card, epoch, index_entry, page, private_fields
from carpages_shared.car_rows import BuyerRecord, CarRecord


@dataclass
class CarExpectation:
    """The keys and values one live car must have in `build`."""

    page: bytes
    card: bytes
    private: dict[str, bytes]
    interested: set[int]
    entry: bytes
    popularity: float
    sets: list[str]
    scores: dict[str, float]


def expect_car(build: int, car: CarRecord) -> CarExpectation:
    """A live car's expected cache entries (what cache_writer.write_car would write)."""
    entry = index_entry(car)
    return CarExpectation(
        page=page(car).model_dump_json().encode(), card=card(car).model_dump_json().encode(),
        private=private_fields(car), interested=set(car.interested), entry=entry.to_json(),
        popularity=float(car.popularity),
        sets=[keys.set_index(build, f, v) for f, v in entry.sets],
        scores={keys.numeric_index(build, f): s for f, s in entry.scores})


@dataclass
class CarCache:
    """What Valkey holds for one car (read in one pipeline)."""

    page: bytes | None
    card: bytes | None
    private: dict[str, bytes]
    interested: set[int]
    entry: bytes | None
    universe: float | None
    popularity: float | None
    members: dict[str, bool] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)


def car_diff(car_id: int, want: CarExpectation, got: CarCache) -> list[str]:
    """Names of the entries that differ (empty = in step)."""
    diffs = []
    if got.page != want.page:
        diffs.append("page")
    if got.card != want.card:
        diffs.append("card")
    if got.private != want.private:
        diffs.append("private")
    if got.interested != want.interested:
        diffs.append("interested")
    if got.entry != want.entry:
        diffs.append("memberships")
    if got.universe != float(car_id):
        diffs.append("universe")
    if got.popularity != want.popularity:
        diffs.append("popularity")
    diffs += [f"index {k}" for k in want.sets if not got.members.get(k)]
    diffs += [f"score {k}" for k, s in want.scores.items() if got.scores.get(k) != s]
    return diffs


@dataclass
class BuyerCache:
    """What Valkey holds for one buyer."""

    seen: set[int]
    test_drives: set[int]
    offers: dict[int, int]
    paid_until: int | None


def buyer_diff(buyer: BuyerRecord, got: BuyerCache) -> list[str]:
    """Names of the buyer's keys that differ."""
    paid = epoch(buyer.paid_until) if buyer.paid_until is not None else None
    checks = {"seen": got.seen == buyer.seen, "test_drives": got.test_drives == buyer.test_drives,
              "offers": got.offers == buyer.offers, "paid_until": got.paid_until == paid}
    return [name for name, ok in checks.items() if not ok]
