"""Random but realistic marketplace writes, deterministic from a seed, that survive MariaDB dying.

One connection, one transaction at a time (the order of commits is the order of the ledger).
Every transaction also inserts a marker row into `carpages_chaos.txn`; when the connection drops
during COMMIT (MySQL errors 2003/2006/2013), the writer reconnects and looks for the marker: found
= committed (recorded in the ledger), missing = rolled back (retried). A write is therefore in the
ledger exactly when it is in MySQL.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from tests.chaos.ledger import Effect, Ledger

RECONNECT = {2003, 2006, 2013}
IMAGE_BASE = "https://cdn.carpages.example/cars"
TAGS = ("front", "rear", "interior", "dashboard", "boot", "engine", "wheel", "odometer")
RENAMED = ("make", "model", "variant", "city", "locality", "color", "feature", "seller")
NAME_LIMIT = {"color": 32}
Op = Callable[[Any], list[Effect]]


class WriterGaveUp(RuntimeError):
    """MySQL stayed unreachable past the writer's patience."""


@dataclass
class WriterStats:
    committed: int = 0
    retried: int = 0
    unknown_committed: int = 0
    unknown_rolled_back: int = 0
    skipped: int = 0
    ops: dict[str, int] = field(default_factory=dict)


@dataclass
class Touched:
    """What one round changed: cars directly, lookup rows (their cars are found later)."""

    cars: set[int] = field(default_factory=set)
    refs: set[tuple[str, int]] = field(default_factory=set)


class Writer:
    """Sequential writer with the application user (MYSQL_URL)."""

    def __init__(self, mysql: dict[str, Any], seed: int, patience_s: float = 90.0) -> None:
        self.mysql = mysql
        self.rng = random.Random(seed)
        self.seed = seed
        self.patience_s = patience_s
        self.ledger = Ledger()
        self.stats = WriterStats()
        self.lock = threading.Lock()  # ledger + touched, read by the harness
        self.gate = threading.Lock()  # one operation at a time (the outage write cuts in)
        self.touched = Touched()
        self.conn: pymysql.connections.Connection[Any] | None = None
        self.live: list[int] = []
        self.reserved: set[int] = set()
        """Cars no later write touches: an outage write's page is timed until it shows."""
        self.off: list[int] = []  # sold / withdrawn / draft
        self.buyers = 0
        self.ids: dict[str, list[int]] = {}
        self.txn_seq = 0
        self.renames = 0

    # ------------------------------------------------------------------ connection

    def _connect(self) -> pymysql.connections.Connection[Any]:
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                return pymysql.connect(**self.mysql, autocommit=False, connect_timeout=2,
                                       read_timeout=15, write_timeout=15)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in RECONNECT or time.monotonic() > deadline:
                    raise WriterGaveUp(f"MySQL unreachable: {exc}") from exc
                time.sleep(0.2)

    def _reset(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the socket may already be gone
                self.conn.close()
        self.conn = None

    def prepare(self) -> None:
        """Marker schema, and the catalogue's ids the writer chooses from."""
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS carpages_chaos")
            cur.execute("CREATE TABLE IF NOT EXISTS carpages_chaos.txn "
                        "(id VARCHAR(40) NOT NULL PRIMARY KEY, "
                        "at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)")
            cur.execute("SELECT id, status FROM car ORDER BY id")
            for car_id, status in cur.fetchall():
                (self.live if status == "live" else self.off).append(int(car_id))
            for table in ("variant", "color", "locality", "seller", "feature", "make", "model",
                          "city"):
                cur.execute(f"SELECT id FROM {table} ORDER BY id")
                self.ids[table] = [int(r[0]) for r in cur.fetchall()]
            cur.execute("SELECT MAX(id) FROM buyer")
            self.buyers = int(cur.fetchone()[0])
        conn.commit()
        conn.close()

    # ------------------------------------------------------------------ transactions

    def transaction(self, name: str, op: Op, cars: set[int] | None = None) -> bool:
        """Run `op` in one transaction until it commits; True when it did."""
        self.txn_seq += 1
        marker = f"{self.seed}-{self.txn_seq}"
        while True:
            phase = "body"
            effects: list[Effect] = []
            try:
                if self.conn is None:
                    self.conn = self._connect()
                conn = self.conn
                conn.begin()
                with conn.cursor() as cur:
                    effects = op(cur)
                    cur.execute("INSERT INTO carpages_chaos.txn (id) VALUES (%s)", (marker,))
                phase = "commit"
                conn.commit()
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in RECONNECT:
                    return self._skip(exc)
                self._reset()
                if phase == "commit" and self._committed(marker):
                    self.stats.unknown_committed += 1
                    self._record(name, effects, cars)
                    return True
                if phase == "commit":
                    self.stats.unknown_rolled_back += 1
                self.stats.retried += 1
                continue
            except (pymysql.err.IntegrityError, pymysql.err.InternalError) as exc:
                return self._skip(exc)
            except _Nothing:
                self._rollback()
                return False
            self._record(name, effects, cars)
            return True

    def _committed(self, marker: str) -> bool:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM carpages_chaos.txn WHERE id = %s", (marker,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def _rollback(self) -> None:
        try:
            if self.conn is not None:
                self.conn.rollback()
        except pymysql.err.MySQLError:
            self._reset()

    def _skip(self, exc: Exception) -> bool:
        self.stats.skipped += 1
        self._rollback()
        return False

    def _record(self, name: str, effects: list[Effect], cars: set[int] | None) -> None:
        with self.lock:
            self.ledger.apply(effects)
            self.stats.committed += 1
            self.stats.ops[name] = self.stats.ops.get(name, 0) + 1
            for kind, key, _ in effects:
                if kind == "name":
                    self.touched.refs.add(key)
                else:
                    self.touched.cars.add(key)
            self.touched.cars.update(cars or ())
        for kind, key, value in effects:  # the writer's own view of who is live
            if kind == "live":
                if value and key not in self.live:
                    self.live.append(key)
                    if key in self.off:
                        self.off.remove(key)
                elif not value and key in self.live:
                    self.live.remove(key)
                    self.off.append(key)

    def take_touched(self) -> Touched:
        with self.lock:
            out, self.touched = self.touched, Touched()
        return out

    # ------------------------------------------------------------------ the round

    def run(self, stop: threading.Event, bulk_at: float, pace_s: float = 0.01) -> None:
        """Random operations until `stop` is set; one bulk repricing once `bulk_at` s passed."""
        started = time.monotonic()
        bulk_done = False
        while not stop.is_set():
            # Every operation holds the gate: the outage write (write_now, another thread)
            # shares the connection. A bulk repricing without it once met that write on the
            # socket ("read of closed file", make chaos seed 1207, cluster variant).
            with self.gate:
                if not bulk_done and time.monotonic() - started >= bulk_at:
                    self.bulk_reprice(300)
                    bulk_done = True
                self.random_op()
            time.sleep(pace_s)
        if not bulk_done:
            with self.gate:
                self.bulk_reprice(300)

    def random_op(self) -> None:
        ops: list[tuple[Callable[[], object], int]] = [
            (self.price_change, 25), (self.sell, 4), (self.withdraw, 3), (self.relist, 4),
            (self.new_car, 3), (self.image_add, 6), (self.image_remove, 4),
            (self.feature_add, 5), (self.feature_remove, 4), (self.inspection_change, 2),
            (self.interaction, 10), (self.test_drive, 5), (self.offer, 5),
            (self.dealer_reprice, 2), (self.rename, 1),
        ]
        fn = self.rng.choices([o for o, _ in ops], [w for _, w in ops])[0]
        fn()

    def _car(self) -> int:
        while True:  # a reserved car is left alone (its page is being timed)
            car = self.live[int(self.rng.random() * len(self.live))]
            if car not in self.reserved:
                return car

    def _price(self, old: int) -> int:
        return max(50_000, round(old * self.rng.uniform(0.93, 1.05) / 1000) * 1000)

    # ------------------------------------------------------------------ operations

    def price_change(self, car_id: int | None = None) -> bool:
        car = car_id or self._car()
        factor = self.rng.uniform(0.93, 1.05)

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT price FROM car WHERE id = %s FOR UPDATE", (car,))
            new = max(50_000, round(cur.fetchone()[0] * factor / 1000) * 1000)
            cur.execute("UPDATE car SET price = %s WHERE id = %s", (new, car))
            return [("price", car, new)]
        return self.transaction("price", op)

    def write_now(self, car_id: int) -> int | None:
        """A price change from another thread, between two of the loop's operations; returns
        the committed price (None when it did not commit)."""
        with self.gate:
            if not self.price_change(car_id):
                return None
            self.reserved.add(car_id)
            with self.lock:
                return self.ledger.price[car_id]

    def sell(self) -> None:
        """Multi-row: the car is sold, one buyer's offer accepted, the rest rejected/cancelled."""
        car, buyer = self._car(), self.rng.randint(1, self.buyers)
        discount = self.rng.uniform(0.9, 0.99)

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT price FROM car WHERE id = %s FOR UPDATE", (car,))
            price = cur.fetchone()[0]
            cur.execute("UPDATE car SET status = 'sold' WHERE id = %s", (car,))
            cur.execute("UPDATE offer SET status = 'rejected' WHERE car_id = %s "
                        "AND status = 'open'", (car,))
            cur.execute("UPDATE test_drive SET status = 'cancelled' WHERE car_id = %s "
                        "AND status = 'booked'", (car,))
            cur.execute("INSERT INTO offer (buyer_id, car_id, amount, status) "
                        "VALUES (%s, %s, %s, 'accepted')",
                        (buyer, car, round(price * discount, -3)))
            return [("live", car, False)]
        self.transaction("sell", op)

    def withdraw(self) -> None:
        car = self._car()
        self.transaction("withdraw", lambda cur: (
            cur.execute("UPDATE car SET status = 'withdrawn' WHERE id = %s", (car,)),
            [("live", car, False)])[1])

    def relist(self) -> None:
        """A sold, withdrawn or draft car goes (back) live."""
        if not self.off:
            return
        car = self.off[int(self.rng.random() * len(self.off))]
        self.transaction("relist", lambda cur: (
            cur.execute("UPDATE car SET status = 'live' WHERE id = %s", (car,)),
            [("live", car, True)])[1])

    def new_car(self) -> None:
        """Multi-row: a car with its images, features and inspection report (draft 1 in 4)."""
        r = self.rng
        ids = self.ids
        variant, color = r.choice(ids["variant"]), r.choice(ids["color"])
        locality, seller = r.choice(ids["locality"]), r.choice(ids["seller"])
        price = r.randrange(150, 3000) * 1000
        year, km = r.randint(2010, 2025), r.randrange(2000, 150_000)
        fuel, gear = r.choice(("petrol", "diesel", "cng")), r.choice(("manual", "automatic"))
        owners, rating = r.choice((1, 1, 1, 2, 2, 3, 4)), round(r.uniform(2.5, 5.0), 1)
        status = "draft" if r.random() < 0.25 else "live"
        tags = TAGS[:r.randint(4, len(TAGS))]
        features = sorted(r.sample(ids["feature"], min(len(ids["feature"]), r.randint(3, 10))))
        score = round(r.uniform(5.0, 9.8), 1)
        token = f"s{self.seed}n{self.txn_seq + 1}"

        def op(cur: Any) -> list[Effect]:
            cur.execute(
                "INSERT INTO car (variant_id, color_id, locality_id, seller_id, price, year, "
                "km_driven, fuel_type, transmission, owner_count, rating, registration_state, "
                "status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'MH', %s)",
                (variant, color, locality, seller, price, year, km, fuel, gear, owners, rating,
                 status))
            car = int(cur.lastrowid)
            effects: list[Effect] = [("live", car, status == "live"), ("price", car, price)]
            for pos, tag in enumerate(tags):
                url = f"{IMAGE_BASE}/{car}/{pos:02d}-{tag}-{token}.webp"
                cur.execute("INSERT INTO car_image (car_id, position, url, tag) "
                            "VALUES (%s, %s, %s, %s)", (car, pos, url, tag))
                effects.append(("image+", car, url))
            for feature in features:
                cur.execute("INSERT INTO car_feature (car_id, feature_id) VALUES (%s, %s)",
                            (car, feature))
                effects.append(("feature+", car, feature))
            cur.execute("INSERT INTO inspection_report (car_id, score, summary, report, "
                        "inspected_at) VALUES (%s, %s, %s, %s, UTC_TIMESTAMP())",
                        (car, score, "Good condition: chaos listing",
                         json.dumps({"version": 1, "sections": []})))
            return effects
        self.transaction("new_car", op)

    def image_add(self) -> None:
        car, tag = self._car(), self.rng.choice(TAGS)
        token = f"s{self.seed}n{self.txn_seq + 1}"

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM car_image "
                        "WHERE car_id = %s FOR UPDATE", (car,))
            pos = int(cur.fetchone()[0])
            url = f"{IMAGE_BASE}/{car}/{pos:02d}-{tag}-{token}.webp"
            cur.execute("INSERT INTO car_image (car_id, position, url, tag) "
                        "VALUES (%s, %s, %s, %s)", (car, pos, url, tag))
            return [("image+", car, url)]
        self.transaction("image_add", op)

    def image_remove(self) -> None:
        car, pick = self._car(), self.rng.random()

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT id, url FROM car_image WHERE car_id = %s ORDER BY position "
                        "FOR UPDATE", (car,))
            rows = cur.fetchall()
            if len(rows) < 2:
                raise _Nothing
            image_id, url = rows[int(pick * len(rows))]
            cur.execute("DELETE FROM car_image WHERE id = %s", (image_id,))
            return [("image-", car, url)]
        self.transaction("image_remove", op)

    def feature_add(self) -> None:
        car, pick = self._car(), self.rng.random()

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT feature_id FROM car_feature WHERE car_id = %s FOR UPDATE", (car,))
            have = {int(r[0]) for r in cur.fetchall()}
            free = [f for f in self.ids["feature"] if f not in have]
            if not free:
                raise _Nothing
            feature = free[int(pick * len(free))]
            cur.execute("INSERT INTO car_feature (car_id, feature_id) VALUES (%s, %s)",
                        (car, feature))
            return [("feature+", car, feature)]
        self.transaction("feature_add", op)

    def feature_remove(self) -> None:
        car, pick = self._car(), self.rng.random()

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT id, feature_id FROM car_feature WHERE car_id = %s "
                        "ORDER BY feature_id FOR UPDATE", (car,))
            rows = cur.fetchall()
            if not rows:
                raise _Nothing
            row_id, feature = rows[int(pick * len(rows))]
            cur.execute("DELETE FROM car_feature WHERE id = %s", (row_id,))
            return [("feature-", car, int(feature))]
        self.transaction("feature_remove", op)

    def inspection_change(self) -> None:
        """Re-inspection (new score) or a withdrawn report (child-row delete)."""
        car, delete, score = self._car(), self.rng.random() < 0.4, round(
            self.rng.uniform(4.0, 9.9), 1)

        def op(cur: Any) -> list[Effect]:
            if delete:
                cur.execute("DELETE FROM inspection_report WHERE car_id = %s", (car,))
            else:
                cur.execute(
                    "INSERT INTO inspection_report (car_id, score, summary, report, "
                    "inspected_at) VALUES (%s, %s, 'Re-inspected', '{}', UTC_TIMESTAMP()) "
                    "ON DUPLICATE KEY UPDATE score = VALUES(score), "
                    "summary = VALUES(summary), inspected_at = VALUES(inspected_at)",
                    (car, score))
            return []
        self.transaction("inspection", op, {car})

    def interaction(self) -> None:
        car, buyer = self._car(), self.rng.randint(1, self.buyers)
        kind = "lead" if self.rng.random() < 0.15 else "view"
        self.transaction("interaction", lambda cur: (cur.execute(
            "INSERT INTO interaction (buyer_id, car_id, kind) VALUES (%s, %s, %s)",
            (buyer, car, kind)), [])[1], {car})

    def test_drive(self) -> None:
        """Book one, or move a booked one to completed/cancelled."""
        car, buyer, r = self._car(), self.rng.randint(1, self.buyers), self.rng.random()
        status = "completed" if self.rng.random() < 0.6 else "cancelled"

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT id FROM test_drive WHERE car_id = %s AND status = 'booked' "
                        "ORDER BY id LIMIT 1 FOR UPDATE", (car,))
            row = cur.fetchone()
            if row and r < 0.5:
                cur.execute("UPDATE test_drive SET status = %s WHERE id = %s", (status, row[0]))
            else:
                cur.execute("INSERT INTO test_drive (buyer_id, car_id, scheduled_at) "
                            "VALUES (%s, %s, UTC_TIMESTAMP() + INTERVAL 2 DAY)", (buyer, car))
            return []
        self.transaction("test_drive", op, {car})

    def offer(self) -> None:
        """Make one, or answer an open one (rejected / withdrawn / accepted stays live)."""
        car, buyer, r = self._car(), self.rng.randint(1, self.buyers), self.rng.random()
        status = self.rng.choice(("rejected", "withdrawn", "open"))
        discount = self.rng.uniform(0.8, 0.97)

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT id FROM offer WHERE car_id = %s AND status = 'open' "
                        "ORDER BY id LIMIT 1 FOR UPDATE", (car,))
            row = cur.fetchone()
            if row and r < 0.5:
                cur.execute("UPDATE offer SET status = %s WHERE id = %s", (status, row[0]))
            else:
                cur.execute("INSERT INTO offer (buyer_id, car_id, amount) SELECT %s, id, "
                            "ROUND(price * %s, -3) FROM car WHERE id = %s",
                            (buyer, discount, car))
            return []
        self.transaction("offer", op, {car})

    def dealer_reprice(self) -> None:
        """Multi-row: one seller reprices up to 20 of their live cars in one transaction."""
        seller, factor = self.rng.choice(self.ids["seller"]), self.rng.uniform(0.94, 0.99)

        def op(cur: Any) -> list[Effect]:
            cur.execute("SELECT id FROM car WHERE seller_id = %s AND status = 'live' "
                        "ORDER BY id LIMIT 20 FOR UPDATE", (seller,))
            cars = [int(r[0]) for r in cur.fetchall() if int(r[0]) not in self.reserved]
            if not cars:
                raise _Nothing
            return self._reprice(cur, cars, factor)
        self.transaction("dealer_reprice", op)

    def bulk_reprice(self, count: int) -> None:
        """One few-hundred-car UPDATE in one transaction."""
        free = [c for c in self.live if c not in self.reserved]
        cars = sorted(self.rng.sample(free, min(count, len(free))))
        factor = self.rng.uniform(0.95, 0.99)
        self.transaction("bulk_reprice", lambda cur: self._reprice(cur, cars, factor))

    @staticmethod
    def _reprice(cur: Any, cars: list[int], factor: float) -> list[Effect]:
        cur.execute("UPDATE car SET price = GREATEST(50000, ROUND(price * %s, -3)) "
                    "WHERE id IN %s", (factor, cars))
        cur.execute("SELECT id, price FROM car WHERE id IN %s", (cars,))
        return [("price", int(i), int(p)) for i, p in cur.fetchall()]

    def rename(self) -> None:
        """Rename one make/model/variant/city/locality/color/feature/seller."""
        table = self.rng.choice(RENAMED)
        row_id = self.rng.choice(self.ids[table])
        self.renames += 1
        suffix = f" v{self.renames}"

        def op(cur: Any) -> list[Effect]:
            cur.execute(f"SELECT name FROM {table} WHERE id = %s FOR UPDATE", (row_id,))
            base = re.sub(r" v\d+$", "", cur.fetchone()[0])
            name = base[:NAME_LIMIT.get(table, 64) - len(suffix)] + suffix
            cur.execute(f"UPDATE {table} SET name = %s WHERE id = %s", (name, row_id))
            return [("name", (table, row_id), name)]
        self.transaction(f"rename_{table}", op)


class _Nothing(Exception):
    """The chosen row has nothing to change (e.g. a car with one image): skip the operation."""
