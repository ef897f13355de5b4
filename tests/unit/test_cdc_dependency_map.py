"""Dependency map: every table's row changes map to the right cars, buyers, slugs, selectors;
a batch coalesces into one Work with the newest fencing token per entity."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
from carpages_cdc import event_codec
from carpages_cdc.apply import dependency_map
from carpages_cdc.apply.dependency_map import Affected, CarsWhere, affected
from carpages_cdc.apply.plan import plan
from carpages_cdc.apply.work import Work
from carpages_cdc.position import fence_token
from carpages_shared.payloads import RowChanged, SourcePosition


@pytest.mark.parametrize(("table", "column"), sorted(dependency_map.LOOKUPS.items()))
def test_lookup_rows_select_the_cars_that_reference_them(table: str, column: str) -> None:
    before = {"id": 4, "name": "Old", "date_created": "2024-01-01T00:00:00"}
    after = {"id": 4, "name": "New", "date_created": "2024-01-01T00:00:00"}
    assert affected(table, before, after) == Affected(selectors={CarsWhere(column, 4)})
    assert affected(table, None, after).selectors == {CarsWhere(column, 4)}
    assert affected(table, before, None).selectors == {CarsWhere(column, 4)}


def test_lookup_update_of_columns_no_page_shows_is_a_no_op() -> None:
    before = {"id": 4, "name": "Tata", "date_created": "2024-01-01T00:00:00"}
    after = {**before, "date_created": "2024-06-01T00:00:00"}
    assert affected("make", before, after).is_empty()


def test_car_rows_affect_the_car() -> None:
    assert affected("car", {"id": 9, "price": 1}, {"id": 9, "price": 2}).cars == {9}
    assert affected("car", None, {"id": 9}).cars == {9}
    assert affected("car", {"id": 9}, None).cars == {9}


@pytest.mark.parametrize("table", sorted(dependency_map.CAR_CHILDREN))
def test_child_rows_affect_their_car_both_before_and_after_a_move(table: str) -> None:
    assert affected(table, {"id": 1, "car_id": 3}, {"id": 1, "car_id": 5}) == Affected(cars={3, 5})
    assert affected(table, None, {"id": 1, "car_id": 3}) == Affected(cars={3})
    assert affected(table, {"id": 1, "car_id": 3}, None) == Affected(cars={3})


@pytest.mark.parametrize("table", sorted(dependency_map.CAR_AND_BUYER))
def test_interactions_affect_the_car_and_the_buyer(table: str) -> None:
    row = {"id": 1, "car_id": 3, "buyer_id": 8, "status": "open"}
    assert affected(table, None, row) == Affected(cars={3}, buyers={8})
    assert affected(table, row, {**row, "status": "withdrawn"}) == Affected(cars={3}, buyers={8})
    assert affected(table, row, None) == Affected(cars={3}, buyers={8})


def test_buyer_and_slug_rows() -> None:
    assert affected("buyer", None, {"id": 2, "paid_until": None}) == Affected(buyers={2})
    assert affected("slug", {"id": 1, "value": "nexon"}, None) == Affected(slugs=True)


def test_every_table_of_the_cache_is_mapped() -> None:
    assert {
        "car", "car_image", "car_feature", "variant", "model", "make", "feature", "color",
        "locality", "city", "seller", "inspection_report", "buyer", "interaction", "test_drive",
        "offer", "slug"} == dependency_map.TABLES


def test_unknown_tables_and_missing_columns_are_errors() -> None:
    with pytest.raises(dependency_map.UnknownTable):
        affected("schema_migrations", None, {"version": 1})
    with pytest.raises(dependency_map.MissingColumn):
        affected("car_image", None, {"id": 1})
    with pytest.raises(dependency_map.MissingColumn):
        affected("car", None, None)
    with pytest.raises(dependency_map.MissingColumn):
        affected("car", None, {"id": "seven"})


def test_work_keeps_the_newest_token_per_entity_and_resolves_selectors() -> None:
    work = Work()
    old, new = fence_token("binlog.000001", 500), fence_token("binlog.000002", 4)
    work.add(Affected(cars={1, 2}, buyers={7}), new)
    work.add(Affected(cars={2, 3}, slugs=True, selectors={CarsWhere("make_id", 5)}), old)
    assert work.cars == {1: new, 2: new, 3: old}
    assert (work.buyers, work.slugs) == ({7: new}, old)
    work.resolve({CarsWhere("make_id", 5): {3, 4, 1}})
    assert work.cars == {1: new, 2: new, 3: old, 4: old}
    assert work.selectors == {}


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _record(offset: int, database: str, table: str, after: dict[str, object] | None,
            pos: int = 100) -> Record:
    change = RowChanged(op="insert", database=database, table=table, before=None, after=after,
                        source=SourcePosition(file="binlog.000001", pos=pos, server_id=1,
                                              ts_ms=1000))
    return Record(f"{database}.{table}", 0, offset, None, event_codec.encode(change))


def test_plan_coalesces_and_sorts_out_dead_letters_and_heartbeats() -> None:
    records = [
        _record(0, "shop", "offer", {"id": 1, "car_id": 3, "buyer_id": 8}, pos=100),
        _record(1, "shop", "car", {"id": 3}, pos=200),
        Record("shop.car", 0, 2, None, b"\xff not json"),
        _record(3, "other", "car", {"id": 3}),
        _record(4, "shop", "nope", {"id": 3}),
        _record(5, "carpages_cdc", "heartbeat", {"name": "p1", "ts": "2024-05-01T10:00:00.5"}),
        _record(6, "carpages_cdc", "heartbeat", {"name": "someone-else", "ts": "2030-01-01"}),
        Record("shop.car", 0, 7, b'{"id":3}', None),
        Record("shop.car", 0, 8, None, orjson.dumps({
            "op": "d", "before": {"id": 4}, "after": None,
            "source": {"db": "shop", "table": "car", "file": "binlog.000001", "pos": 300}})),
    ]
    batch = plan(records, "shop", "p1")
    assert batch.work.cars == {3: fence_token("binlog.000001", 200),
                               4: fence_token("binlog.000001", 300)}
    assert batch.work.buyers == {8: fence_token("binlog.000001", 100)}
    assert [(d.message.offset, d.reason) for d in batch.dead] == [
        (2, "undecodable"), (3, "foreign database"), (4, "UnknownTable")]
    assert batch.heartbeat is not None
    assert batch.heartbeat.microsecond == 500_000
    assert batch.tables == {"offer": 1, "car": 2}
