"""Rebuild time, Valkey memory per car and reco rank time, at 10k and (full runs) 100k cars."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pymysql
import valkey
from carpages_cdc.cache.builder import CacheBuilder
from carpages_local import servers, stack
from carpages_local.migrator import migrate
from carpages_local.seeder import seed
from carpages_shared.dsn import mysql_params

from bench import ranking


def _used_memory(client: valkey.Valkey) -> int:
    return int(client.info("memory")["used_memory"])


def _build_into_fresh_valkey(root: Path, mysql: dict[str, Any], name: str) -> dict[str, Any]:
    """Full rebuild into an empty private Valkey: seconds, statements, bytes per live car."""
    server = servers.start_valkey(root / f"valkey-{name}")
    try:
        client = valkey.Valkey.from_url(f"valkey://127.0.0.1:{server.port}/0")
        before = _used_memory(client)
        builder = CacheBuilder(lambda: pymysql.connect(**mysql), client)
        stats = builder.full_rebuild()
        # Let the rebuild's expiries of nothing settle; measure what stays resident.
        after = _used_memory(client)
        client.close()
    finally:
        server.stop()
    return {"cars": stats.cars_written, "buyers": stats.buyers_written,
            "rebuild_s": round(stats.seconds, 3), "sql_statements": stats.statements,
            "valkey_bytes": after - before,
            "bytes_per_car": round((after - before) / max(1, stats.cars_written))}


def _big_catalogue(env: stack.StackEnv, cars: int) -> dict[str, Any]:
    """Create (once) a separate database holding a generated catalogue of `cars` cars."""
    database = f"carpages_bench{cars}"
    admin = pymysql.connect(host="127.0.0.1", port=env.mysql_port, user="root",
                            password="root-local", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    admin.close()
    conn = stack.connect(env.mysql_port, database=database)
    migrate(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM car")
        empty = cur.fetchone()[0] == 0
    if empty:
        started = time.monotonic()
        seed(conn, cars=cars)
        print(f"  generated {cars} cars in {time.monotonic() - started:.0f}s", flush=True)
    conn.close()
    return mysql_params(env.variables()["MYSQL_URL"].rsplit("/", 1)[0] + "/" + database)


def measure(root: Path, env: stack.StackEnv, quick: bool) -> dict[str, Any]:
    """All scale figures for this run."""
    out: dict[str, Any] = {}
    mysql = mysql_params(env.variables()["MYSQL_URL"])
    out["10k"] = _build_into_fresh_valkey(root, mysql, "10k")
    print(f"  10k: rebuild {out['10k']['rebuild_s']} s, {out['10k']['bytes_per_car']} B/car",
          flush=True)
    out["rank_10k"] = ranking.measure(10_000)
    if not quick:
        big = _big_catalogue(env, 100_000)
        out["100k"] = _build_into_fresh_valkey(root, big, "100k")
        print(f"  100k: rebuild {out['100k']['rebuild_s']} s, "
              f"{out['100k']['bytes_per_car']} B/car", flush=True)
        out["rank_100k"] = ranking.measure(100_000)
    return out
