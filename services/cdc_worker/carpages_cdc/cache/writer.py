"""Valkey writes for built cars and buyers: pages, private data, cards and listing indexes.

Every write here is idempotent (SET, HSET, ZADD, staged SADD+RENAME): replaying a batch leaves the
same state, which is what at-least-once delivery from Kafka needs. No write empties a key that
readers use before refilling it (a set or hash is staged and RENAMEd over), so a reader — or a
replica applying the stream — never sees a live car's interested count or a buyer's keys blank.
Multi-key commands stay within one hash tag and are issued one key at a time where valkey-py's
cluster pipeline refuses the multi-key form (DEL), so the same writes run on Valkey Cluster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import secrets
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson
from carpages_shared import keys
from carpages_shared.assembly import (
    IndexEntry,
    car_entries,
    card_json,
    epoch,
    index_entry,
)
from carpages_shared.car_rows import LIVE, BuyerRecord, CarRecord

Pipeline = Any  # valkey.client.Pipeline; untyped upstream
_STAGING_PREFIX = secrets.token_hex(4)
_staging_ids = itertools.count()


def _staging_token() -> str:
    """Unique per write: a random per-process prefix and a counter (no syscall per key)."""
    return f"{_STAGING_PREFIX}{next(_staging_ids):x}"


def _rename(pipe: Pipeline, source: str, dest: str) -> None:
    # Raw command: valkey-py's cluster pipeline blocks its rename() helper although a RENAME
    # within one hash tag (as every staging key is) is valid on Valkey Cluster.
    pipe.execute_command("RENAME", source, dest)


def delete_keys(pipe: Pipeline, names: list[str]) -> None:
    """One DEL for keys of one hash tag (a car's or a buyer's: one slot, valid on a cluster)."""
    if names:
        pipe.execute_command("DEL", *names)  # raw: the cluster pipeline refuses delete(*keys)


def replace_set(pipe: Pipeline, key: str, members: Iterable[int | str],
                gone: list[str] | None = None) -> None:
    """Make the set `key` hold exactly `members`, atomically for readers (staged, RENAMEd).

    An empty set is deleted, or added to `gone` for the caller's single DEL (fewer commands).
    """
    values = list(members)
    if not values:
        _drop(pipe, key, gone)
        return
    scratch = keys.staging(key, _staging_token())
    pipe.sadd(scratch, *values)
    _rename(pipe, scratch, key)


def replace_hash(pipe: Pipeline, key: str, mapping: dict[str, Any],
                 gone: list[str] | None = None) -> None:
    """Make the hash `key` hold exactly `mapping` (staged and RENAMEd, as replace_set)."""
    if not mapping:
        _drop(pipe, key, gone)
        return
    scratch = keys.staging(key, _staging_token())
    pipe.hset(scratch, mapping=mapping)
    _rename(pipe, scratch, key)


def _drop(pipe: Pipeline, key: str, gone: list[str] | None) -> None:
    """Delete `key` now, or add it to `gone` for the caller's single DEL."""
    if gone is None:
        pipe.delete(key)
    else:
        gone.append(key)


@dataclasses.dataclass
class ListingRows:
    """A batch's rows of the four listing keys every written car touches (universe, memberships,
    cards, popularity), sent as one command per key instead of four per car: the applier's
    fenced batch runs each command through Lua, where the per-command cost dominates."""

    live: dict[str, int] = dataclasses.field(default_factory=dict)
    memberships: dict[str, bytes] = dataclasses.field(default_factory=dict)
    cards: dict[str, bytes] = dataclasses.field(default_factory=dict)
    popularity: dict[str, int] = dataclasses.field(default_factory=dict)

    def queue(self, pipe: Pipeline, build: int) -> None:
        """Queue what was collected (one ZADD or HSET per key)."""
        if self.live:
            pipe.zadd(keys.live_cars(build), self.live)
        if self.memberships:
            pipe.hset(keys.memberships(build), mapping=self.memberships)
        if self.cards:
            pipe.hset(keys.cards(build), mapping=self.cards)
        if self.popularity:
            pipe.zadd(keys.popularity(build), self.popularity)


def _index_keys(build: int, entry: IndexEntry) -> tuple[list[str], list[str]]:
    sets = [keys.set_index(build, f, v) for f, v in entry.sets]
    nums = [keys.numeric_index(build, f) for f, _ in entry.scores]
    return sets, nums


def add_index(pipe: Pipeline, build: int, car_id: int, entry: IndexEntry,
              rows: ListingRows | None = None) -> None:
    """Add a car to every index of its entry and record the keys in the build registry
    (universe and membership rows go to `rows` when the caller batches them)."""
    sets, _ = _index_keys(build, entry)
    for key in sets:
        pipe.sadd(key, car_id)
    for field, value in entry.sets:
        pipe.sadd(keys.set_values(build, field), value)
    for field, score in entry.scores:
        pipe.zadd(keys.numeric_index(build, field), {str(car_id): score})
    _member_rows(pipe, build, car_id, entry, rows)
    registry = sets + [keys.set_values(build, f) for f, _ in entry.sets]
    pipe.sadd(keys.build_registry(build), *registry)


def _member_rows(pipe: Pipeline, build: int, car_id: int, entry: IndexEntry,
                 rows: ListingRows | None) -> None:
    own = rows if rows is not None else ListingRows()
    own.live[str(car_id)] = car_id
    own.memberships[str(car_id)] = entry.to_json()
    if rows is None:
        own.queue(pipe, build)


def update_index(pipe: Pipeline, build: int, car_id: int, old: IndexEntry,
                 new: IndexEntry, rows: ListingRows | None = None) -> None:
    """Move a car from its recorded entry `old` to `new`, touching only what differs.

    Same end state as remove_index + add_index (the universe, the card and popularity are
    rewritten by the caller anyway), but a price change costs one ZADD instead of ~50 commands.
    """
    added: list[tuple[str, str]] = []
    if old.sets != new.sets:  # most changes (a price, a km reading) move no set membership
        old_sets, new_sets = set(old.sets), set(new.sets)
        for field, value in old_sets - new_sets:
            pipe.srem(keys.set_index(build, field, value), car_id)
        added = [(field, value) for field, value in new.sets if (field, value) not in old_sets]
        for field, value in added:
            pipe.sadd(keys.set_index(build, field, value), car_id)
        for field, value in added:
            pipe.sadd(keys.set_values(build, field), value)
    old_scores, new_scores = dict(old.scores), dict(new.scores)
    for field in old_scores.keys() - new_scores.keys():
        pipe.zrem(keys.numeric_index(build, field), str(car_id))
    for field, score in new.scores:
        if old_scores.get(field) != score:
            pipe.zadd(keys.numeric_index(build, field), {str(car_id): score})
    _member_rows(pipe, build, car_id, new, rows)
    if added:
        pipe.sadd(keys.build_registry(build),
                  *(keys.set_index(build, f, v) for f, v in added),
                  *(keys.set_values(build, f) for f, _ in added))


def remove_index(pipe: Pipeline, build: int, car_id: int, entry: IndexEntry | None) -> None:
    """Remove a car from the indexes it was recorded in (and from the universe and cards)."""
    if entry is not None:
        sets, nums = _index_keys(build, entry)
        for key in sets:
            pipe.srem(key, car_id)
        for key in nums:
            pipe.zrem(key, str(car_id))
    pipe.zrem(keys.live_cars(build), str(car_id))
    pipe.zrem(keys.popularity(build), str(car_id))
    pipe.hdel(keys.memberships(build), str(car_id))
    pipe.hdel(keys.cards(build), str(car_id))


def write_entries(pipe: Pipeline, car: CarRecord) -> None:
    """Write a live car's own keys: page, paid-only hash, interested set (not the index)."""
    entries = car_entries(car)
    pipe.set(keys.dedicated_page(car.id), entries.page)
    # Overwrite first, then drop fields the car no longer has: a paid buyer never catches the
    # hash without the seller's number.
    pipe.hset(keys.car_private(car.id), mapping=entries.private)
    if entries.stale_private:
        pipe.hdel(keys.car_private(car.id), *entries.stale_private)
    gone = [keys.car_missing(car.id)]
    replace_set(pipe, keys.car_interested(car.id), entries.interested, gone)
    delete_keys(pipe, gone)


def write_car(pipe: Pipeline, build: int, car: CarRecord, old: IndexEntry | None,
              rows: ListingRows | None = None) -> bool:
    """Write a live car everywhere; return True when its index membership or order changed.
    With `rows`, its universe/membership/card/popularity rows are left there for the caller."""
    new = index_entry(car)
    write_entries(pipe, car)
    own = rows if rows is not None else ListingRows()
    changed = old != new
    if changed:
        if old is None:
            add_index(pipe, build, car.id, new, own)
        else:
            update_index(pipe, build, car.id, old, new, own)
    own.cards[str(car.id)] = card_json(car)
    own.popularity[str(car.id)] = car.popularity
    if rows is None:
        own.queue(pipe, build)
    return changed


def remove_car(pipe: Pipeline, build: int, car_id: int, old: IndexEntry | None) -> bool:
    """Remove a car that is not live (sold, withdrawn, deleted) from every key."""
    for key in (keys.dedicated_page(car_id), keys.car_private(car_id),
                keys.car_interested(car_id)):
        pipe.delete(key)
    remove_index(pipe, build, car_id, old)
    return old is not None


def write_cars(pipe: Pipeline, build: int, car_ids: Iterable[int], cars: dict[int, CarRecord],
               old_entries: dict[int, IndexEntry | None]) -> bool:
    """Write or remove each id; return True if any membership or order changed."""
    changed = False
    rows = ListingRows()
    for car_id in car_ids:
        car = cars.get(car_id)
        old = old_entries.get(car_id)
        if car is not None and car.status == LIVE:
            changed |= write_car(pipe, build, car, old, rows)
        else:
            changed |= remove_car(pipe, build, car_id, old)
    rows.queue(pipe, build)  # other ids than any removal above: order does not matter
    return changed


def write_new_generation(pipe: Pipeline, build: int, cars: Iterable[CarRecord]) -> int:
    """Full-rebuild path: add live cars to a generation nobody reads yet; return how many.

    Same end state as write_car for each car, but one command per index key per batch instead
    of ~25 per car (the new generation starts empty, so there is nothing to remove first).
    """
    sets: dict[str, list[int]] = defaultdict(list)
    values: dict[str, set[str]] = defaultdict(set)
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    universe: dict[str, int] = {}
    members: dict[str, bytes] = {}
    cards: dict[str, bytes] = {}
    popularity: dict[str, int] = {}
    for car in cars:
        if car.status != LIVE:
            continue
        write_entries(pipe, car)
        entry = index_entry(car)
        for field, value in entry.sets:
            sets[keys.set_index(build, field, value)].append(car.id)
            values[keys.set_values(build, field)].add(value)
        for field, score in entry.scores:
            scores[keys.numeric_index(build, field)][str(car.id)] = score
        universe[str(car.id)] = car.id
        members[str(car.id)] = entry.to_json()
        cards[str(car.id)] = card_json(car)
        popularity[str(car.id)] = car.popularity
    if not universe:
        return 0
    for key, ids in sets.items():
        pipe.sadd(key, *ids)
    for key, vals in values.items():
        pipe.sadd(key, *vals)
    for key, mapping in scores.items():
        pipe.zadd(key, mapping)
    pipe.zadd(keys.live_cars(build), universe)
    pipe.hset(keys.memberships(build), mapping=members)
    pipe.hset(keys.cards(build), mapping=cards)
    pipe.zadd(keys.popularity(build), popularity)
    pipe.sadd(keys.build_registry(build), *sets, *values)
    return len(universe)


def write_buyer(pipe: Pipeline, buyer: BuyerRecord) -> None:
    """Replace a buyer's dynamic keys (seen, booked test drives, offers, paid_until)."""
    seen, tds = keys.buyer_seen(buyer.id), keys.buyer_test_drives(buyer.id)
    offers, paid = keys.buyer_offers(buyer.id), keys.buyer_paid_until(buyer.id)
    gone: list[str] = []
    replace_set(pipe, seen, buyer.seen, gone)
    replace_set(pipe, tds, buyer.test_drives, gone)
    replace_hash(pipe, offers, {str(c): a for c, a in buyer.offers.items()}, gone)
    if buyer.paid_until is not None:
        pipe.set(paid, epoch(buyer.paid_until))
    else:
        gone.append(paid)
    delete_keys(pipe, gone)


def slug_map(rows: Iterable[tuple[Any, ...]]) -> dict[str, bytes]:
    """Slug table rows -> the `{cp}:slugs` hash contents."""
    return {str(value): orjson.dumps({"type": kind, "filter": str(flt)})
            for value, kind, flt in rows}


def utc_now() -> dt.datetime:
    """Naive UTC now, matching the DB's DATETIME convention."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
