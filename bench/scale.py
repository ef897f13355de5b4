"""Rebuild time, Valkey memory per car and reco rank time, at 10k and (full runs) 100k cars;
while the 100k build is still up, the caller's HTTP scenarios against it (bench.scale_http)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import valkey
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import servers, stack
from carpages_local.migrator import migrate
from carpages_local.seeder import seed
from carpages_shared.dsn import mysql_params

from bench import ranking, valkey_memory


def _used_memory(client: valkey.Valkey) -> int:
    return int(client.info("memory")["used_memory"])


@contextmanager
def _fresh_build(root: Path, mysql: dict[str, Any], name: str, memory: bool = False) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """Full rebuild into an empty private Valkey; yield (its URL, seconds, statements, bytes
    per live car, and with `memory` where those bytes go: bench.valkey_memory) while it still
    runs. The server stops when the block ends."""
    server = servers.start_valkey(root / f"valkey-{name}")
    try:
        url = f"valkey://127.0.0.1:{server.port}/0"
        client = valkey.Valkey.from_url(url)
        before = _used_memory(client)
        builder = CacheBuilder(lambda: pymysql.connect(**mysql), client)
        stats = builder.full_rebuild()
        # Let the rebuild's expiries of nothing settle; measure what stays resident.
        after = _used_memory(client)
        figures: dict[str, Any] = {
            "cars": stats.cars_written, "buyers": stats.buyers_written,
            "rebuild_s": round(stats.seconds, 3), "sql_statements": stats.statements,
            "valkey_bytes": after - before,
            "bytes_per_car": round((after - before) / max(1, stats.cars_written))}
        if memory:
            figures["memory"] = valkey_memory.measure(client, after - before, stats.cars_written)
        client.close()
        yield url, figures
    finally:
        server.stop()


BIG_CARS = 100_000
"""The 10x catalogue of full runs."""


def big_catalogue(env: stack.StackEnv, cars: int = BIG_CARS) -> str:
    """Create (once) a separate database holding a generated catalogue of `cars` cars; its
    URL (the stack's application user). The seed is one transaction, so a run interrupted
    while loading leaves the database empty and the next run loads it again."""
    database = f"carpages_bench{cars}"
    admin = pymysql.connect(host="127.0.0.1", port=env.mysql_port, user="root",
                            password="root-local", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    admin.close()
    conn = stack.connect(env.mysql_port, database=database, local_infile=True)
    migrate(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM car")
        empty = cur.fetchone()[0] == 0
    if empty:
        started = time.monotonic()
        seed(conn, cars=cars)
        print(f"  generated {cars} cars in {time.monotonic() - started:.0f}s", flush=True)
    conn.close()
    return env.variables()["MYSQL_URL"].rsplit("/", 1)[0] + "/" + database


Serve = Callable[[str, str], dict[str, Any]]
"""Given a built Valkey's URL and its catalogue's MySQL URL, HTTP figures served from it."""


def measure(root: Path, env: stack.StackEnv, big: bool,
            serve_big: Serve | None = None) -> dict[str, Any]:
    """All scale figures for this run; the 100k catalogue only when `big`, and then
    `serve_big`'s figures as "http_100k" (measured before the 100k Valkey stops)."""
    out: dict[str, Any] = {}
    mysql = mysql_params(env.variables()["MYSQL_URL"])
    with _fresh_build(root, mysql, "10k", memory=True) as (_, figures):
        out["10k"] = figures
    print(f"  10k: rebuild {out['10k']['rebuild_s']} s, {out['10k']['bytes_per_car']} B/car",
          flush=True)
    out["rank_10k"] = ranking.measure(10_000)
    if big:
        url = big_catalogue(env)
        with _fresh_build(root, mysql_params(url), "100k") as (valkey_url, out["100k"]):
            print(f"  100k: rebuild {out['100k']['rebuild_s']} s, "
                  f"{out['100k']['bytes_per_car']} B/car", flush=True)
            if serve_big is not None:
                try:
                    out["http_100k"] = serve_big(valkey_url, url)
                except Exception as exc:
                    # Every other part has run by now: a failure here must not lose their figures.
                    print(f"  100k HTTP part failed: {exc!r}", flush=True)
                    out["http_100k"] = {"error": repr(exc)}
        out["rank_100k"] = ranking.measure(BIG_CARS)
    return out
