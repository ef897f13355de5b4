"""The fenced batch's CommandList queues exactly the argument tuples valkey-py's pipeline would
(so the fence's Lua receives byte-identical arguments), for each helper and for whole batches
the cache writer composes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import valkey
from carpages_cdc.cache import writer
from carpages_cdc.cache.command_list import CommandList
from carpages_shared.assembly import IndexEntry, index_entry
from carpages_shared.car_rows import CarRecord
from carpages_shared.valkey_internals import queued_commands


def _pipeline() -> Any:
    # Never connects: queuing commands needs no server.
    return valkey.Valkey(host="127.0.0.1", port=1).pipeline(transaction=False)


def _queued(pipe: Any) -> list[tuple[Any, ...]]:
    return [tuple(args) for args, _options in queued_commands(pipe)]


def _both(calls: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    pipe, ours = _pipeline(), CommandList()
    calls(pipe)
    calls(ours)
    return _queued(pipe), ours.commands


def test_each_helper_queues_what_valkey_py_queues() -> None:
    def calls(p: Any) -> None:
        p.set("dp:{1}", b'{"a":1}')
        p.delete("dp:{1}:missing")
        p.delete("a{1}", "b{1}")
        p.hset("dp:{1}:paid", mapping={"seller_mobile_no": b"98", "inspection_report": b"{}"})
        p.hdel("dp:{1}:paid", "inspection_report")
        p.hincrby("{cp}:meta", "version", 1)
        p.sadd("{cp}:s", 5, 6)
        p.sadd("{cp}:v", "petrol")
        p.srem("{cp}:s", 5)
        p.zadd("{cp}:price", {"5": 1250000.0, "6": 99.5})
        p.zadd("{cp}:live", {"5": 5})
        p.zrem("{cp}:price", "5")
        p.execute_command("RENAME", "x{1}", "y{1}")
        p.execute_command("PUBLISH", "{cp}:inv", 7)

    theirs, ours = _both(calls)
    assert ours == theirs
    assert [type(x) for c in ours for x in c] == [type(x) for c in theirs for x in c]


def _car(car_id: int, **overrides: Any) -> CarRecord:
    base: dict[str, Any] = dict(
        id=car_id, status="live", price=1_250_000 + car_id, year=2019, km_driven=41_200,
        fuel_type="petrol", transmission="manual", owner_count=1, rating=Decimal("4.5"),
        registration_state="MH", date_created=dt.datetime(2024, 1, 2, 3, 4, 5),
        date_updated=dt.datetime(2024, 6, 7, 8, 9, 10), make=(3, "Maruti"),
        model=(30, "Swift", "hatchback"), variant=(300, "VXi"), color=(7, "White", "#FFF"),
        city=(1, "Mumbai"), locality=(11, "Andheri"), seller_kind="dealer",
        seller_mobile_no="+919800000000",
        images=[(p, f"https://cdn.example/{car_id}/{p}.webp", "front") for p in range(6)],
        features=[(1, "ABS", "safety"), (9, "Sunroof", "comfort")],
        inspection=(Decimal("8.5"), "Good", '{"engine": "ok"}', dt.datetime(2024, 5, 1)),
        popularity=12, interested={5, 6})
    base.update(overrides)
    return CarRecord(**base)


def test_a_writer_batch_queues_what_valkey_py_queues() -> None:
    cars = {
        1: _car(1),  # index entry unchanged
        2: _car(2),  # price moved
        3: _car(3, interested=set(), inspection=None),  # new in the index, empty sets
        4: _car(4, features=[(2, "Airbags", "safety")], color=(8, "Red", "#F00")),  # moved
        5: _car(5, status="sold"),  # leaves the market
    }
    old: dict[int, IndexEntry | None] = {
        1: index_entry(cars[1]),
        2: dataclasses.replace(index_entry(cars[2]), scores=(("price", 1.0),)),
        3: None,
        4: index_entry(_car(4)),
        5: index_entry(_car(5)),
        6: None,  # gone from MySQL
    }

    def calls(p: Any) -> None:
        writer.write_cars(p, 17, [1, 2, 3, 4, 5, 6], cars, old)
        p.hincrby("{cp}:meta", "version", 1)
        p.execute_command("PUBLISH", "{cp}:invalidations", 17)

    theirs, ours = _both(calls)
    assert len(ours) > 30
    # Staging keys carry a per-process counter: the same calls give the same words otherwise.
    assert [_unstaged(c) for c in ours] == [_unstaged(c) for c in theirs]


def _unstaged(command: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("<staging>" if isinstance(x, str) and ":next:" in x else x for x in command)
