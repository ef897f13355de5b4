"""A tiny, hand-written catalogue whose every dynamic field is known in advance.

Cars 1-3 are live, 4 sold, 5 withdrawn, 6 a draft. Buyers: 1 paid (subscription runs a month
more), 2 never paid, 3 lapsed yesterday, 4 a bystander whose only offer was rejected.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pymysql

LIVE = (1, 2, 3)
SOLD, WITHDRAWN, DRAFT = 4, 5, 6
PAID, UNPAID, LAPSED, BYSTANDER = 1, 2, 3, 4
NONEXISTENT = 999_999

REPORT = '{"engine": "ok", "tyres": {"front": 7, "rear": 6}, "notes": ["minor scratch"]}'
MOBILE = {1: "+919800000001", 2: "+919800000002"}
SELLER_OF = {1: 1, 2: 2, 3: 1, 4: 2, 5: 1, 6: 2}

# Expected dynamic data of car 1 (the busy one).
CAR1_INTERESTED = {PAID, UNPAID, LAPSED}
"""Buyer 1: booked test drive; 2: open offers; 3: completed test drive; 4: rejected offer only."""
UNPAID_OFFER_ON_CAR1 = 520_000
"""Buyer 2's latest open offer (an older one was 500,000)."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def load(conn: pymysql.connections.Connection[Any]) -> None:
    """Insert the catalogue into a freshly migrated, empty database."""
    now = utc_now()
    rows: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("INSERT INTO make (id, name) VALUES (%s, %s)", [(1, "Tata"), (2, "Maruti")]),
        ("INSERT INTO model (id, make_id, name, body_type) VALUES (%s, %s, %s, %s)",
         [(1, 1, "Nexon", "suv"), (2, 2, "Swift", "hatchback")]),
        ("INSERT INTO variant (id, model_id, name) VALUES (%s, %s, %s)",
         [(1, 1, "XZ Plus"), (2, 2, "VXI")]),
        ("INSERT INTO color (id, name, hex) VALUES (%s, %s, %s)",
         [(1, "White", "#FFFFFF"), (2, "Red", "#FF0000")]),
        ("INSERT INTO city (id, name, state) VALUES (%s, %s, %s)", [(1, "Mumbai", "MH")]),
        ("INSERT INTO locality (id, city_id, name) VALUES (%s, %s, %s)", [(1, 1, "Andheri")]),
        ("INSERT INTO seller (id, name, mobile_no, kind) VALUES (%s, %s, %s, %s)",
         [(1, "Asha", MOBILE[1], "individual"), (2, "Wheels", MOBILE[2], "dealer")]),
        ("INSERT INTO car (id, variant_id, color_id, locality_id, seller_id, price, year, "
         "km_driven, fuel_type, transmission, owner_count, rating, status, date_created) "
         "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
         [(1, 1, 1, 1, 1, 850_000, 2020, 32_000, "petrol", "manual", 1, 4.5, "live", now),
          (2, 2, 2, 1, 2, 450_000, 2017, 61_000, "diesel", "manual", 2, 3.5, "live", now),
          (3, 1, 2, 1, 1, 990_000, 2022, 9_000, "electric", "automatic", 1, 4.8, "live", now),
          (4, 2, 1, 1, 2, 300_000, 2015, 90_000, "petrol", "manual", 3, 3.0, "sold", now),
          (5, 1, 1, 1, 1, 700_000, 2019, 40_000, "cng", "manual", 1, 4.0, "withdrawn", now),
          (6, 2, 2, 1, 2, 500_000, 2018, 50_000, "petrol", "manual", 1, 4.1, "draft", now)]),
        ("INSERT INTO car_image (car_id, position, url, tag) VALUES (%s, %s, %s, %s)",
         [(c, p, f"https://img.example/{c}/{p}.jpg", "exterior" if p < 3 else "interior")
          for c in range(1, 7) for p in range(1, 6)]),
        ("INSERT INTO feature (id, name, category) VALUES (%s, %s, %s)",
         [(1, "Sunroof", "comfort"), (2, "ABS", "safety")]),
        ("INSERT INTO car_feature (car_id, feature_id) VALUES (%s, %s)",
         [(1, 1), (1, 2), (2, 2), (4, 1)]),
        ("INSERT INTO inspection_report (car_id, score, summary, report, inspected_at) "
         "VALUES (%s, %s, %s, %s, %s)",
         [(1, 8.5, "clean car", REPORT, now), (4, 6.0, "worn", REPORT, now)]),
        ("INSERT INTO buyer (id, name, mobile_no, paid_until) VALUES (%s, %s, %s, %s)",
         [(PAID, "Paid", "+911", now + dt.timedelta(days=30)), (UNPAID, "Free", "+912", None),
          (LAPSED, "Lapsed", "+913", now - dt.timedelta(days=1)),
          (BYSTANDER, "Idle", "+914", None)]),
        ("INSERT INTO interaction (buyer_id, car_id, kind) VALUES (%s, %s, %s)",
         [(PAID, 1, "view"), (UNPAID, 2, "view"), (UNPAID, 1, "lead")]),
        ("INSERT INTO test_drive (buyer_id, car_id, scheduled_at, status) "
         "VALUES (%s, %s, %s, %s)",
         [(PAID, 1, now, "booked"), (LAPSED, 1, now, "completed"),
          (UNPAID, 2, now, "cancelled")]),
        ("INSERT INTO offer (buyer_id, car_id, amount, status) VALUES (%s, %s, %s, %s)",
         [(UNPAID, 1, 500_000, "open"), (UNPAID, 1, UNPAID_OFFER_ON_CAR1, "open"),
          (BYSTANDER, 1, 400_000, "rejected")]),
    ]
    with conn.cursor() as cur:
        for sql, values in rows:
            cur.executemany(sql, values)
    conn.commit()
