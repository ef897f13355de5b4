"""Second look at a divergent car, straight from MySQL and Valkey (not through the API).

Not part of the oracle: it tells where a divergence lives — the API's answer, the cached page
in Valkey (`keys.dedicated_page`), or neither — so a reported divergence is known to be real.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pymysql
import valkey
from carpages_local import stack
from carpages_shared import keys


def look(mysql: dict[str, Any], variables: Mapping[str, str],
         car_ids: Iterable[int]) -> dict[int, Any]:
    """car -> {"mysql": {status, price}, "valkey": {price, status, images, pos} or None}."""
    ids = sorted(set(car_ids))
    out: dict[int, Any] = {}
    if not ids:
        return out
    conn = pymysql.connect(**mysql, connect_timeout=5)
    client = stack.valkey_client(variables, socket_timeout=5)  # a cluster's, on a cluster
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, status, price, (SELECT COUNT(*) FROM car_image i "
                        "WHERE i.car_id = car.id) FROM car WHERE id IN %s", (ids,))
            rows = {int(r[0]): {"status": r[1], "price": r[2], "images": r[3]}
                    for r in cur.fetchall()}
        for car_id in ids:
            raw = client.get(keys.dedicated_page(car_id))
            cached = None
            if raw is not None:
                page = json.loads(raw)
                cached = {"status": page.get("status"), "price": page.get("price"),
                          "images": len(page.get("images") or [])}
            pos = client.get(keys.car_position(car_id))
            out[car_id] = {"mysql": rows.get(car_id), "valkey": cached,
                           "valkey_position": pos.decode() if pos else None}
    except (valkey.exceptions.ValkeyError, pymysql.err.MySQLError, ValueError) as exc:
        out[-1] = f"evidence unavailable: {exc!r}"
    finally:
        conn.close()
        client.close()
    return out
