"""The CDC pipeline end to end: MariaDB binlog -> publisher -> Tansu -> applier -> Valkey.

One publisher and one applier (subprocesses) run for the whole module against a private 300-car
database, a private Valkey and their own topic namespace; the tests change MySQL and watch the
cache follow, then break things (kill -9, flush, poison, a second applier) and check it still
converges: `cdc_worker reconcile` must find nothing divergent.

The main cases (every table, a bulk change, a Valkey flush, kill -9 mid-stream, two appliers at
once) also run on a 3-node Valkey Cluster (`CDC_VALKEY_CLUSTER=true`), where the fenced writes
are split by slot; the rest run on the standalone Valkey only (`standalone_only`). Both end with
every car and buyer compared to an independent SQL assembly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import valkey
from carpages_cdc.cache.valkey_client import connect
from carpages_local import servers, stack
from carpages_shared import keys
from valkey.cluster import ValkeyCluster

from tests.conftest import drop_database, seeded_database
from tests.integration.cdc_support import (
    Workers,
    assert_equals_sql,
    build,
    changes,
    execute,
    page,
    produce,
    query,
    run_cli,
    topic_records,
    wait_until,
    worker_env,
)
from tests.integration.scaleout_support import cluster


@dataclass
class Pipeline:
    """What the module's tests share."""

    port: int
    db: str
    env: dict[str, str]
    client: Any  # valkey.Valkey, or ValkeyCluster on the cluster variant
    workers: Workers
    kafka: str
    metrics: dict[str, int]

    def sql(self, *statements: str, args: tuple[Any, ...] = ()) -> int:
        return execute(self.port, self.db, *statements, args=args)

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return query(self.port, self.db, sql, args)

    def until(self, what: str, predicate: Any, timeout: float = 30) -> Any:
        return wait_until(what, predicate, timeout, self.workers)

    def topic(self, table: str) -> str:
        return f"{self.env['CDC_TOPIC_PREFIX']}{self.db}.{table}"

    def reconcile(self, *args: str) -> tuple[int, str]:
        return run_cli(self.env, "reconcile", "--recheck", "1", *args)

    def flowing(self) -> None:
        """A fresh change reaches the cache (the pipeline is up and consuming)."""
        car = self.rows("SELECT id, price FROM car WHERE status = 'live' ORDER BY id LIMIT 1")[0]
        self.sql("UPDATE car SET price = price + 1 WHERE id = %s", args=(car[0],))
        self.until("a change to flow", lambda: page(self.client, car[0])["price"] == car[1] + 1,
                   timeout=60)


STANDALONE, CLUSTER = "standalone", "cluster"
standalone_only = pytest.mark.parametrize("pipeline", [STANDALONE], indirect=True)
"""For cases about the pipeline itself (topics, metrics, envelopes), not about Valkey."""


@pytest.fixture(scope="module", params=[STANDALONE, CLUSTER])
def pipeline(request: pytest.FixtureRequest, stack_env: stack.StackEnv,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = Path(tmp_path_factory.mktemp("cdc"))
    db = seeded_database(stack_env, 300)
    workers = Workers(root)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(drop_database, stack_env, db)
        if request.param == CLUSTER:
            nodes = cleanup.enter_context(cluster(root / "cluster"))
            env = worker_env(stack_env, db, 0, VALKEY_URL=nodes.url, CDC_VALKEY_CLUSTER="true")
            client = connect(nodes.url, cluster=True)
        else:
            cache = servers.start_valkey(root / "valkey")
            cleanup.callback(cache.stop)
            env = worker_env(stack_env, db, cache.port)
            client = valkey.Valkey(port=cache.port)
        cleanup.callback(client.close)
        cleanup.callback(workers.stop_all)
        metrics = {"publish": servers.free_port(), "apply": servers.free_port()}
        line = Pipeline(stack_env.mysql_port, db, env, client, workers,
                        f"127.0.0.1:{stack_env.kafka_port}", metrics)
        for role, port in metrics.items():
            # Only the first two workers serve metrics (later ones would clash on the port);
            # the first applier also runs the sampled reconcile.
            workers.start(role, {**env, "CDC_METRICS_PORT": str(port),
                                 "CDC_RECONCILE_INTERVAL_S": "2", "CDC_RECONCILE_SAMPLE": "0.1"})
        line.flowing()
        yield line


def _in(client: valkey.Valkey, key: str, member: int) -> bool:
    return bool(client.sismember(key, member))


def test_every_table_insert_update_delete_reaches_the_cache(pipeline: Pipeline) -> None:
    p, c = pipeline, pipeline.client
    b = lambda: int(c.hget(keys.meta(), "build"))  # noqa: E731
    x, variant, model, make, color, locality, city, seller = p.rows(
        "SELECT c.id, c.variant_id, v.model_id, md.make_id, c.color_id, c.locality_id, "
        "l.city_id, c.seller_id FROM car c JOIN variant v ON v.id = c.variant_id "
        "JOIN model md ON md.id = v.model_id JOIN locality l ON l.id = c.locality_id "
        "WHERE c.status = 'live' AND EXISTS (SELECT 1 FROM inspection_report i "
        "WHERE i.car_id = c.id) ORDER BY c.id LIMIT 1")[0]
    feature = p.rows("SELECT id FROM feature WHERE id NOT IN "
                     "(SELECT feature_id FROM car_feature WHERE car_id = %s) LIMIT 1", (x,))[0][0]
    # car: update, insert (with an image), and the new car's child rows
    price = p.rows("SELECT price FROM car WHERE id = %s", (x,))[0][0] + 12345
    p.sql("UPDATE car SET price = %s WHERE id = %s", args=(price, x))
    new = p.sql("INSERT INTO car (variant_id, color_id, locality_id, seller_id, price, year, "
                "km_driven, fuel_type, transmission, status) VALUES "
                "(%s, %s, %s, %s, 654321, 2021, 1000, 'petrol', 'manual', 'live')",
                args=(variant, color, locality, seller))
    p.sql("INSERT INTO car_image (car_id, position, url) VALUES (%s, 1, 'https://i/new.jpg')",
          args=(new,))
    p.sql("INSERT INTO inspection_report (car_id, score, summary, report, inspected_at) "
          "VALUES (%s, 7.5, 'fresh', '{\"engine\": \"ok\"}', UTC_TIMESTAMP())", args=(new,))
    p.sql("INSERT INTO car_image (car_id, position, url) VALUES (%s, 99, 'https://i/a.jpg')",
          args=(x,))
    p.sql("UPDATE car_image SET url = 'https://i/b.jpg' WHERE car_id = %s AND position = 99",
          args=(x,))
    p.sql("INSERT INTO car_feature (car_id, feature_id) VALUES (%s, %s)", args=(x, feature))
    p.sql("UPDATE inspection_report SET summary = 'cdc summary', "
          "report = '{\"cdc\": [1, 2]}' WHERE car_id = %s", args=(x,))
    # lookups: renames reach every car that shows them
    p.sql("UPDATE variant SET name = 'CDC Variant' WHERE id = %s", args=(variant,))
    p.sql("UPDATE model SET name = 'CDC Model', body_type = 'muv' WHERE id = %s", args=(model,))
    p.sql("UPDATE make SET name = 'CDC Make' WHERE id = %s", args=(make,))
    p.sql("UPDATE feature SET name = 'CDC Feature' WHERE id = %s", args=(feature,))
    p.sql("UPDATE color SET hex = '#0A0B0C' WHERE id = %s", args=(color,))
    p.sql("UPDATE locality SET name = 'CDC Locality' WHERE id = %s", args=(locality,))
    p.sql("UPDATE city SET name = 'CDC City' WHERE id = %s", args=(city,))
    p.sql("UPDATE seller SET mobile_no = '+910000012345' WHERE id = %s", args=(seller,))
    # a fresh buyer, and its interactions with car x
    until = dt.datetime(2031, 1, 2, 3, 4, 5)
    buyer = p.sql("INSERT INTO buyer (name, mobile_no, paid_until) VALUES ('C', '+91', %s)",
                  args=(until,))
    p.sql("INSERT INTO interaction (buyer_id, car_id, kind) VALUES (%s, %s, 'view')",
          args=(buyer, x))
    p.sql("INSERT INTO test_drive (buyer_id, car_id, scheduled_at) VALUES (%s, %s, NOW())",
          args=(buyer, x))
    p.sql("INSERT INTO offer (buyer_id, car_id, amount) VALUES (%s, %s, 500000)",
          args=(buyer, x))
    p.sql("UPDATE offer SET amount = 510000 WHERE buyer_id = %s", args=(buyer,))
    p.sql("INSERT INTO slug (value, type, filter) VALUES ('cdc-slug', 'city', '1')")
    p.sql("UPDATE slug SET filter = %s WHERE value = 'cdc-slug'", args=(str(city),))

    def phase_one() -> bool:
        got, fresh = page(c, x), page(c, new)
        if got is None or fresh is None:
            return False
        private = c.hgetall(keys.car_private(x))
        offers = c.hgetall(keys.buyer_offers(buyer))
        return (got["price"] == price and c.zscore(keys.numeric_index(b(), "price"), x) == price
                and orjson.loads(c.hget(keys.cards(b()), x))["price"] == price
                and fresh["images"][0]["url"] == "https://i/new.jpg"
                and fresh["inspection"]["summary"] == "fresh"
                and _in(c, keys.set_index(b(), "city_id", city), new)
                and "https://i/b.jpg" in [i["url"] for i in got["images"]]
                and "CDC Feature" in [f["name"] for f in got["features"]]
                and _in(c, keys.set_index(b(), "feature", feature), x)
                and got["inspection"]["summary"] == "cdc summary"
                and orjson.loads(private[b"inspection_report"]) == {"cdc": [1, 2]}
                and got["variant"]["name"] == "CDC Variant"
                and got["model"] == {"id": model, "name": "CDC Model", "body_type": "muv"}
                and got["make"]["name"] == "CDC Make" and got["color"]["hex"] == "#0A0B0C"
                and got["locality"]["name"] == "CDC Locality"
                and got["city"]["name"] == "CDC City"
                and orjson.loads(c.hget(keys.cards(b()), new))["city_name"] == "CDC City"
                and private[b"seller_mobile_no"] == b"+910000012345"
                and c.get(keys.buyer_paid_until(buyer)) == str(
                    int(until.replace(tzinfo=dt.UTC).timestamp())).encode()
                and _in(c, keys.buyer_seen(buyer), x)
                and _in(c, keys.buyer_test_drives(buyer), x)
                and _in(c, keys.car_interested(x), buyer)
                and offers == {str(x).encode(): b"510000"}
                and orjson.loads(c.hget(keys.slugs(), "cdc-slug"))["filter"] == str(city))

    p.until("inserts and updates on every table", phase_one)
    popularity = c.zscore(keys.popularity(b()), x)
    # deletes
    p.sql("DELETE FROM car_image WHERE car_id = %s AND position = 99", args=(x,))
    p.sql("DELETE FROM car_feature WHERE car_id = %s AND feature_id = %s", args=(x, feature))
    p.sql("DELETE FROM test_drive WHERE buyer_id = %s", args=(buyer,))
    p.sql("DELETE FROM offer WHERE buyer_id = %s", args=(buyer,))
    p.sql("DELETE FROM interaction WHERE buyer_id = %s", args=(buyer,))
    p.sql("DELETE FROM buyer WHERE id = %s", args=(buyer,))
    p.sql("DELETE FROM slug WHERE value = 'cdc-slug'")
    p.sql("DELETE FROM inspection_report WHERE car_id = %s", args=(new,))
    p.sql("DELETE FROM car_image WHERE car_id = %s", args=(new,))
    p.sql("DELETE FROM car WHERE id = %s", args=(new,))
    # lookup rows nobody references: inserted and deleted without disturbing anything
    for sql in ("INSERT INTO make (name) VALUES ('Ghost')",
                "INSERT INTO color (name, hex) VALUES ('Ghost', '#000000')",
                "INSERT INTO city (name, state) VALUES ('Ghost', 'XX')",
                "INSERT INTO seller (name, mobile_no) VALUES ('Ghost', '+9')",
                "INSERT INTO feature (name, category) VALUES ('Ghost', 'x')"):
        table = sql.split()[2]
        row = p.sql(sql)
        if table == "make":
            model_id = p.sql("INSERT INTO model (make_id, name, body_type) VALUES (%s, 'G', 's')",
                             args=(row,))
            variant_id = p.sql("INSERT INTO variant (model_id, name) VALUES (%s, 'G')",
                               args=(model_id,))
            p.sql("DELETE FROM variant WHERE id = %s", args=(variant_id,))
            p.sql("DELETE FROM model WHERE id = %s", args=(model_id,))
        if table == "city":
            locality_id = p.sql("INSERT INTO locality (city_id, name) VALUES (%s, 'G')",
                                args=(row,))
            p.sql("DELETE FROM locality WHERE id = %s", args=(locality_id,))
        p.sql(f"DELETE FROM {table} WHERE id = %s", args=(row,))

    def phase_two() -> bool:
        got = page(c, x)
        if got is None:
            return False
        return ("https://i/b.jpg" not in [i["url"] for i in got["images"]]
                and "CDC Feature" not in [f["name"] for f in got["features"]]
                and not _in(c, keys.set_index(b(), "feature", feature), x)
                and not _in(c, keys.car_interested(x), buyer)
                and not c.exists(keys.buyer_seen(buyer), keys.buyer_test_drives(buyer),
                                 keys.buyer_offers(buyer), keys.buyer_paid_until(buyer))
                and c.zscore(keys.popularity(b()), x) == popularity - 1
                and c.hget(keys.slugs(), "cdc-slug") is None
                and page(c, new) is None and c.zscore(keys.live_cars(b()), new) is None
                and not _in(c, keys.set_index(b(), "city_id", city), new))

    p.until("deletes on every table", phase_two)
    # a car leaving the market leaves every index and its page disappears
    p.sql("UPDATE car SET status = 'sold' WHERE id = %s", args=(x,))
    p.until("the sold car to leave", lambda: page(c, x) is None)
    build = b()
    assert c.zscore(keys.live_cars(build), x) is None
    assert c.hget(keys.cards(build), x) is None
    assert not _in(c, keys.set_index(build, "city_id", city), x)
    assert c.zscore(keys.numeric_index(build, "price"), x) is None
    assert not c.exists(keys.car_private(x))
    code, out = p.reconcile()
    assert code == 0, out
    assert "divergent 0" in out


def test_one_transaction_repricing_every_car_converges(pipeline: Pipeline) -> None:
    p = pipeline
    p.sql("UPDATE car SET price = price + 777 WHERE status = 'live'")
    want = dict(p.rows("SELECT id, price FROM car WHERE status = 'live'"))
    assert len(want) >= 290
    p.until("every page repriced", lambda: all(
        (page(p.client, car) or {}).get("price") == price for car, price in want.items()))
    code, out = p.reconcile()
    assert code == 0, out
    assert f"cars checked {len(want)}, divergent 0" in out


@standalone_only
def test_poison_message_goes_to_dead_letters_and_processing_continues(pipeline: Pipeline) -> None:
    p = pipeline
    produce(p.kafka, p.topic("car"), b"\x00\x9f definitely not a change", key=b"poison")
    produce(p.kafka, p.topic("offer"), orjson.dumps({"op": "insert", "shape": "wrong"}))
    dead_topic = f"{p.env['CDC_TOPIC_PREFIX']}carpages_cdc.dead_letter"
    dead = topic_records(p.kafka, dead_topic, lambda got: len(got) >= 2)
    assert len(dead) >= 2
    poison = next(r for r in dead if r.key == b"poison")
    headers = dict(poison.headers)
    assert headers["reason"] == b"undecodable"
    assert b"not JSON" in headers["error"]
    assert headers["topic"] == p.topic("car").encode()
    p.flowing()


def test_valkey_flush_is_rebuilt_automatically(pipeline: Pipeline) -> None:
    p = pipeline
    live = p.rows("SELECT COUNT(*) FROM car WHERE status = 'live'")[0][0]
    p.client.flushall()
    p.until("the cache rebuilt", lambda: p.client.zcard(
        keys.live_cars(int(p.client.hget(keys.meta(), "build")))) == live)
    p.flowing()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {name: float(value) for name, _, value in
            (line.rpartition(" ") for line in text.splitlines() if not line.startswith("#"))}


@standalone_only
def test_metrics_are_exported(pipeline: Pipeline) -> None:
    p = pipeline
    p.flowing()
    published = scrape(p.metrics["publish"])
    assert published['carpages_cdc_events_published_total{table="car"}'] > 0
    assert published["carpages_cdc_checkpoint_position"] > 0
    assert published["carpages_cdc_lease_held"] == 1
    applier = next(w for w in p.workers.started if w.role == "apply")
    # A reconcile logged before now may have sampled an earlier test's flushed cache; wait for
    # one that started after this test's state was in step.
    seen = applier.output().count("sampled reconcile: build")
    produce(p.kafka, p.topic("slug"), b"{not json")
    p.until("a sampled reconcile",
            lambda: applier.output().count("sampled reconcile: build") >= seen + 2)
    dead = 'carpages_cdc_dead_letters_total{reason="undecodable"}'
    applied = p.until("the dead letter counted",
                      lambda: (m := scrape(p.metrics["apply"])).get(dead, 0) >= 1 and m)
    assert applied['carpages_cdc_events_applied_total{table="car"}'] > 0
    assert applied["carpages_cdc_apply_lag_seconds_count"] > 0
    assert applied['carpages_cdc_rebuild_batch_size_count{kind="cars"}'] > 0
    assert applied["carpages_cdc_reconcile_divergence_ratio"] == 0


def test_publisher_and_applier_killed_mid_stream_lose_nothing(pipeline: Pipeline) -> None:
    p = pipeline
    cars = [r[0] for r in p.rows("SELECT id FROM car WHERE status = 'live' ORDER BY id LIMIT 5")]
    standby = p.workers.start("publish", p.env)  # waits for the lease
    stop = threading.Event()
    written: list[tuple[int, int]] = []

    def churn() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            car = cars[step % len(cars)]
            p.sql("UPDATE car SET price = %s WHERE id = %s", args=(1_000_000 + step, car))
            written.append((car, 1_000_000 + step))
            time.sleep(0.005)

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        publisher = next(w for w in p.workers.started if w.role == "publish" and w is not standby)
        applier = next(w for w in p.workers.started if w.role == "apply")
        wait_until("changes to be written", lambda: len(written) > 50, timeout=120)
        publisher.signal(signal.SIGKILL)
        publisher.wait()
        wait_until("more changes", lambda: len(written) > 150, timeout=120)
        p.workers.start("publish", p.env)  # the killed one comes back as the standby
        applier.signal(signal.SIGKILL)
        applier.wait()
        wait_until("even more changes", lambda: len(written) > 250, timeout=120)
        p.workers.start("apply", p.env)
    finally:
        stop.set()
        thread.join()
    final = {car: price for car, price in written}
    p.until("the last prices", lambda: all(
        (page(p.client, car) or {}).get("price") == price for car, price in final.items()),
        timeout=60)
    # No committed change is missing from the topic (duplicates are allowed).
    wanted = set(written)

    def seen(records: list[Any]) -> bool:
        found = {((m.get("after") or {}).get("id"), (m.get("after") or {}).get("price"))
                 for m in changes(records)}
        return wanted <= found

    records = topic_records(p.kafka, p.topic("car"), seen, timeout=60)
    assert seen(records)
    code, out = p.reconcile()
    assert code == 0, out


def test_two_appliers_in_one_group_converge(pipeline: Pipeline) -> None:
    p = pipeline
    # A second member of the group: its own instance (with the same one, static membership
    # would have it replace the first).
    second = p.workers.start("apply", {**p.env, "CDC_INSTANCE": p.env["CDC_INSTANCE"] + "-2"})
    p.until("the second applier to get partitions",
            lambda: "partitions assigned" in second.output(), timeout=60)
    p.sql("UPDATE car SET km_driven = km_driven + 1 WHERE status = 'live'")
    want = dict(p.rows("SELECT id, km_driven FROM car WHERE status = 'live'"))
    p.until("both appliers' work converges", lambda: all(
        (page(p.client, car) or {}).get("km_driven") == km for car, km in want.items()),
        timeout=60)
    assert second.stop() == 0  # SIGTERM: finish the batch, commit, leave the group, exit 0
    code, out = p.reconcile()
    assert code == 0, out


def test_full_rebuilds_beside_the_applier_converge(pipeline: Pipeline) -> None:
    """`cdc_worker rebuild` run by someone else switches the generation under the applier,
    which writes each batch into the generation it read at the top of its loop turn: whatever
    it wrote into the old one is re-applied once it sees the switch."""
    p = pipeline
    cars = [int(r[0]) for r in p.rows("SELECT id FROM car WHERE status = 'live' ORDER BY id")]
    before = build(p.client)
    results: list[tuple[int, str]] = []
    rebuilds = threading.Thread(target=lambda: results.extend(
        run_cli(p.env, "rebuild") for _ in range(3)))
    rebuilds.start()
    step = 0
    while rebuilds.is_alive() or step < 50:
        car = cars[step % len(cars)]
        p.sql("UPDATE car SET price = price + 1 WHERE id = %s", args=(car,))
        step += 1
        time.sleep(0.01)
    rebuilds.join()
    assert [code for code, _ in results] == [0, 0, 0], results
    assert build(p.client) != before
    want = dict(p.rows("SELECT id, price FROM car WHERE status = 'live'"))
    p.until("every page shows its last price", lambda: all(
        (page(p.client, car) or {}).get("price") == price for car, price in want.items()))
    code, out = p.reconcile()
    assert code == 0, out
    assert f"cars checked {len(want)}, divergent 0" in out


@standalone_only
def test_alter_table_mid_stream_keeps_column_names_right(pipeline: Pipeline) -> None:
    p = pipeline
    car, price = p.rows("SELECT id, price FROM car WHERE status = 'live' ORDER BY id LIMIT 1")[0]
    p.sql("UPDATE car SET price = %s WHERE id = %s", args=(price + 1, car))
    p.sql("ALTER TABLE car ADD COLUMN promo VARCHAR(16) NULL AFTER price")
    p.sql("UPDATE car SET promo = 'diwali', price = %s WHERE id = %s", args=(price + 2, car))

    def after_images(records: list[Any]) -> list[dict[str, Any]]:
        return [m["after"] for m in changes(records) if (m.get("after") or {}).get("id") == car]

    records = topic_records(p.kafka, p.topic("car"),
                            lambda got: any(a.get("promo") for a in after_images(got)))
    images = after_images(records)
    before_alter = next(a for a in images if a["price"] == price + 1)
    after_alter = next(a for a in images if a.get("promo") == "diwali")
    assert "promo" not in before_alter
    assert after_alter["price"] == price + 2  # the column after the new one still lines up
    assert after_alter["status"] == "live"
    assert isinstance(after_alter["rating"], str)  # DECIMAL as an exact string
    p.until("the page after the ALTER", lambda: page(p.client, car)["price"] == price + 2)


@standalone_only
def test_debezium_envelope_is_accepted(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    env = {**p.env, "CDC_TOPIC_PREFIX": "dbz.", "CDC_GROUP_ID": p.env["CDC_GROUP_ID"] + "-dbz",
           "VALKEY_URL": p.env["VALKEY_URL"].rsplit("/", 1)[0] + "/1",
           "CDC_INSTANCE": "debezium-side"}
    side = valkey.Valkey.from_url(env["VALKEY_URL"])
    try:
        p.workers.start("apply", env)
        car = p.rows("SELECT id FROM car WHERE status = 'live' ORDER BY id DESC LIMIT 1")[0][0]
        wait_until("the side cache built", lambda: page(side, car), workers=p.workers)
        p.sql("UPDATE car SET year = 2001 WHERE id = %s", args=(car,))
        envelope = {"schema": {"type": "struct", "optional": False},
                    "payload": {"op": "u", "before": {"id": car}, "after": {"id": car},
                                "source": {"connector": "mysql", "db": p.db, "table": "car",
                                           "file": "binlog.000001", "pos": 4, "row": 0,
                                           "server_id": 1, "ts_ms": 0},
                                "ts_ms": 0}}
        produce(p.kafka, f"dbz.{p.db}.car", orjson.dumps(envelope), key=b'{"id":1}')
        wait_until("the debezium change applied", lambda: page(side, car)["year"] == 2001,
                   workers=p.workers)
    finally:
        side.close()


@standalone_only
def test_liveness_probe(pipeline: Pipeline) -> None:
    p = pipeline
    code, out = run_cli(p.env, "check", "--role", "apply")
    assert code == 0, out
    code, out = run_cli(p.env, "check", "--role", "publish")
    assert code == 0, out
    code, out = run_cli({**p.env, "CDC_INSTANCE": "nobody"}, "check", "--role", "apply")
    assert code == 1, out


def test_every_car_and_buyer_equals_an_independent_sql_assembly(pipeline: Pipeline) -> None:
    """After everything above (kills, flushes, concurrent appliers): every page, card, private
    hash, interested set and buyer key equals a naive SQL reading of the schema, and reconcile
    (full and sampled, then --repair with nothing to repair) agrees."""
    p = pipeline
    p.flowing()
    assert_equals_sql(p.port, p.db, p.client, p.workers)
    if isinstance(p.client, ValkeyCluster):  # the writes went through the split by slot
        assert p.client.hlen(keys.listing_positions()) > 0
    for args in ((), ("--sample", "0.5"), ("--repair",)):
        code, out = p.reconcile(*args)
        assert code == 0, out
        assert "divergent 0" in out, out
