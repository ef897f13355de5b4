"""Aggregated child reads (one JSON array / id list per car or buyer) give exactly what reading
the rows gives, and an aggregate cut short by group_concat_max_len is read again row by row:
with the statements sent one by one, and in one round trip (a multi-statements connection)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import pymysql
import pytest
from carpages_local import stack
from carpages_shared import car_rows
from pymysql.constants import CLIENT


class Reader:
    """Runs statements on one connection one by one, counting them."""

    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.query = car_rows.connection_query(conn)
        self.statements = 0

    def __call__(self, sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
        self.statements += 1
        return self.query(sql, params)


class OneRoundTrip(Reader):
    """Also sends a load's statements together (`many`), counting each and the round trips."""

    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        super().__init__(conn)
        self.round_trips = 0

    def many(self, statements: Sequence[car_rows.Statement]) -> list[car_rows.Rows]:
        assert self.query.multi
        self.statements += len(statements)
        self.round_trips += 1
        return self.query.many(statements)


@pytest.fixture(params=["one by one", "one round trip"])
def reader(request: pytest.FixtureRequest, stack_env: stack.StackEnv,
           seeded_db: str) -> Iterator[Reader]:
    multi = request.param == "one round trip"
    conn = stack.connect(stack_env.mysql_port, database=seeded_db, autocommit=True,
                         client_flag=CLIENT.MULTI_STATEMENTS if multi else 0)
    yield OneRoundTrip(conn) if multi else Reader(conn)
    conn.close()


def ids(reader: Reader, sql: str) -> list[int]:
    return [int(r[0]) for r in reader(sql, ())]


def test_aggregated_children_equal_the_rows(reader: Reader) -> None:
    car_ids = ids(reader, "SELECT id FROM car ORDER BY id")
    cars = car_rows.load_cars(reader, car_ids)
    images: dict[int, list[tuple[Any, ...]]] = {c: [] for c in car_ids}
    for car_id, *image in reader(car_rows.IMAGES_ROWS_SQL, (tuple(car_ids),)):
        images[car_id].append(tuple(image))
    features: dict[int, list[tuple[Any, ...]]] = {c: [] for c in car_ids}
    for car_id, *feature in reader(car_rows.FEATURES_ROWS_SQL, (tuple(car_ids),)):
        features[car_id].append(tuple(feature))
    assert sum(len(v) for v in images.values()) > len(car_ids)
    for car_id, car in cars.items():
        assert car.images == images[car_id], car_id
        assert car.features == features[car_id], car_id


def test_aggregated_seen_cars_equal_the_rows(reader: Reader) -> None:
    buyer_ids = ids(reader, car_rows.ALL_BUYER_IDS_SQL)
    buyers = car_rows.load_buyers(reader, buyer_ids)
    seen: dict[int, set[int]] = {b: set() for b in buyer_ids}
    for buyer_id, car_id in reader(car_rows.BUYER_SEEN_ROWS_SQL, (tuple(buyer_ids),)):
        seen[buyer_id].add(car_id)
    assert any(seen.values())
    assert {b: r.seen for b, r in buyers.items()} == seen


def test_aggregates_cut_short_are_read_again_row_by_row(reader: Reader) -> None:
    car_ids = ids(reader, "SELECT id FROM car ORDER BY id LIMIT 300")
    buyer_ids = ids(reader, "SELECT buyer_id FROM interaction GROUP BY buyer_id "
                            "ORDER BY COUNT(DISTINCT car_id) DESC LIMIT 300")
    whole_cars = car_rows.load_cars(reader, car_ids)
    whole_buyers = car_rows.load_buyers(reader, buyer_ids)
    before = reader.statements
    # Room for a few elements only: most aggregates are truncated, some at an element
    # boundary (still valid JSON), some inside a number ("35" -> "3").
    reader("SET SESSION group_concat_max_len = 20", ())
    try:
        cut_cars = car_rows.load_cars(reader, car_ids)
        cut_buyers = car_rows.load_buyers(reader, buyer_ids)
    finally:
        reader("SET SESSION group_concat_max_len = DEFAULT", ())
    # 6 + 4 statements, plus the row-by-row re-reads of images, features and seen cars.
    assert reader.statements - before - 2 == 10 + 3
    if isinstance(reader, OneRoundTrip):
        assert reader.round_trips == 2 * 2  # one per load, whole and cut
    assert {c: asdict(r) for c, r in cut_cars.items()} == {
        c: asdict(r) for c, r in whole_cars.items()}
    assert {b: asdict(r) for b, r in cut_buyers.items()} == {
        b: asdict(r) for b, r in whole_buyers.items()}
