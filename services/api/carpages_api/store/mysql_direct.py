"""The benchmark's DB-direct baseline: the same responses built per request from MariaDB.

This is the seed's old design done well (joined queries, no N+1), served by the same app so the
benchmark compares like with like. It is mounted only when `API_BENCH_BASELINE=true`.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pymysql
from carpages_shared import assembly, car_rows
from carpages_shared.dsn import mysql_params
from carpages_shared.payloads import owner_label

CARDS_SQL = """
SELECT c.id, c.price, mk.name, md.name, v.name, ci.name, c.owner_count, c.year, c.km_driven,
       c.fuel_type, c.transmission
FROM car c
JOIN variant v ON v.id = c.variant_id JOIN model md ON md.id = v.model_id
JOIN make mk ON mk.id = md.make_id JOIN locality l ON l.id = c.locality_id
JOIN city ci ON ci.id = l.city_id
WHERE c.status = 'live' AND l.city_id = %s
ORDER BY c.price, c.id LIMIT %s OFFSET %s
"""
COUNT_SQL = """
SELECT COUNT(*) FROM car c JOIN locality l ON l.id = c.locality_id
WHERE c.status = 'live' AND l.city_id = %s
"""
CARD_IMAGES_SQL = """
SELECT car_id, url FROM car_image WHERE car_id IN %s AND position < 4 ORDER BY car_id, position
"""


class MysqlPool:
    """A fixed set of blocking connections used from worker threads."""

    def __init__(self, url: str, size: int = 8) -> None:
        params = mysql_params(url)
        self._idle: queue.Queue[pymysql.connections.Connection[Any]] = queue.Queue()
        for _ in range(size):
            self._idle.put(pymysql.connect(autocommit=True, **params))

    @contextmanager
    def connection(self) -> Iterator[pymysql.connections.Connection[Any]]:
        conn = self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


def _page(pool: MysqlPool, car_id: int) -> bytes | None:
    with pool.connection() as conn:
        cars = car_rows.load_cars(car_rows.connection_query(conn), [car_id])
    car = cars.get(car_id)
    if car is None or car.status != car_rows.LIVE:
        return None
    return assembly.page(car).model_dump_json().encode()


def _listing(pool: MysqlPool, city_id: int, page_size: int, page_no: int) -> bytes:
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(COUNT_SQL, (city_id,))
        count = int(cur.fetchone()[0])
        cur.execute(CARDS_SQL, (city_id, page_size, (page_no - 1) * page_size))
        rows = cur.fetchall()
        images: dict[int, list[str]] = {r[0]: [] for r in rows}
        if rows:
            cur.execute(CARD_IMAGES_SQL, (tuple(images),))
            for car_id, url in cur.fetchall():
                images[car_id].append(url)
    results = [{"id": r[0], "images": images[r[0]], "price": r[1], "make_name": r[2],
                "model_name": r[3], "variant_name": r[4], "city_name": r[5],
                "owner": owner_label(r[6]), "year": r[7], "km_driven": r[8], "fuel_type": r[9],
                "transmission": r[10], "link": f"/user-cars/{r[0]}"} for r in rows]
    return orjson.dumps({"count": count, "page_count": -(-count // page_size),
                         "next": None, "previous": None, "results": results})


async def page(pool: MysqlPool, car_id: int) -> bytes | None:
    """A dedicated page built from MySQL (six batched statements, then assembly)."""
    return await asyncio.to_thread(_page, pool, car_id)


async def listing(pool: MysqlPool, city_id: int, page_size: int, page_no: int) -> bytes:
    """A city listing page built from MySQL (count, joined cards, images)."""
    return await asyncio.to_thread(_listing, pool, city_id, page_size, page_no)
