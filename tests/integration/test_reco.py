"""Recommendations end to end: train on a demo catalogue, publish to Valkey, rank in the API.

One module-scoped catalogue, cache build and trained model (training is the slow part); each
test starts its own ranker. The module owns the session Valkey while it runs: it flushes it at
start and end (tests of other modules never interleave with a module's tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymysql
import pytest
import valkey
import valkey.asyncio
from carpages_api.reco.model import ModelRanker, Serving, start_model_ranker
from carpages_api.reco.ranking import PopularityRanker, Viewer
from carpages_cdc.cache.builder import CacheBuilder, current_build
from carpages_local import stack
from carpages_local.catalogue import SUV_BODY_TYPE, SUV_CITY_BUYER_IDS, SUV_CITY_NAME
from carpages_reco import app, cli, store
from carpages_reco.settings import RecoSettings
from carpages_shared import keys
from carpages_shared.dsn import mysql_params
from carpages_shared.reco_format import ARRAY_FIELDS, CHECKSUM_FIELD, ModelMeta

from tests.conftest import drop_database, mysql_url, seeded_database

CARS = 2000
TRAINING_ENV = {"RECO_EPOCHS": "15", "RECO_NO_COMPONENTS": "24", "RECO_NUM_THREADS": "1"}
CAR_FACTS_SQL = """
SELECT c.id, mk.name, md.name, md.body_type, ci.name
FROM car c JOIN variant v ON v.id = c.variant_id JOIN model md ON md.id = v.model_id
JOIN make mk ON mk.id = md.make_id JOIN locality l ON l.id = c.locality_id
JOIN city ci ON ci.id = l.city_id
WHERE c.status = 'live'
"""


@dataclass
class Published:
    """The module's demo world: database, Valkey, the live cars' facts and the trained model."""

    env: stack.StackEnv
    database: str
    valkey_url: str
    version: str
    fields: dict[str, bytes]  # the published hash, to restore after tests that replace it
    facts: dict[int, tuple[str, str, str, str]]  # car id -> (make, model, body type, city)

    def live_ids(self) -> list[int]:
        client = valkey.Valkey.from_url(self.valkey_url)
        try:
            current = current_build(client)
            assert current is not None
            return [int(m) for m in client.zrange(keys.live_cars(current[0]), 0, -1)]
        finally:
            client.close()


def query(env: stack.StackEnv, database: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = stack.connect(env.mysql_port, database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def builder(env: stack.StackEnv, database: str, client: valkey.Valkey) -> CacheBuilder:
    params = mysql_params(mysql_url(env, database))
    return CacheBuilder(lambda: pymysql.connect(**params), client)


@pytest.fixture(scope="module")
def published(stack_env: stack.StackEnv) -> Iterator[Published]:
    """Seed, build the listing cache, then `python -m carpages_reco train` (the CLI, env-driven)."""
    url = f"valkey://127.0.0.1:{stack_env.valkey_port}/0"
    client = valkey.Valkey.from_url(url)
    client.flushall()
    database = seeded_database(stack_env, CARS)
    try:
        builder(stack_env, database, client).full_rebuild()
        env = {"MYSQL_URL": mysql_url(stack_env, database), "VALKEY_URL": url, **TRAINING_ENV}
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            assert cli.main(["train"]) == 0
        version = client.get(keys.reco_current()).decode()
        fields = {k.decode(): v for k, v in client.hgetall(keys.reco_model(version)).items()}
        facts = {r[0]: r[1:] for r in query(stack_env, database, CAR_FACTS_SQL)}
        yield Published(stack_env, database, url, version, fields, facts)
    finally:
        client.flushall()
        client.close()
        drop_database(stack_env, database)


@pytest.fixture
async def ranker(published: Published) -> AsyncIterator[ModelRanker]:
    """A started model ranker on an API-like client (short socket timeout)."""
    client = valkey.asyncio.Valkey.from_url(published.valkey_url, socket_timeout=0.5,
                                            socket_connect_timeout=0.5)
    ranker = await start_model_ranker(client, PopularityRanker(), poll_interval_s=0.5,
                                      min_sync_gap_s=0.05)
    try:
        yield ranker
    finally:
        await ranker.aclose()
        await client.aclose()


async def eventually(condition: Any, within_s: float = 10.0) -> None:
    """Wait until `condition()` holds (the ranker's background task works asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def stored_meta(client: valkey.Valkey, version: str) -> ModelMeta:
    return ModelMeta.model_validate_json(client.hget(keys.reco_model(version), "meta"))


# ---------------------------------------------------------------------------------- training
def test_model_beats_popularity_on_the_holdout(published: Published) -> None:
    client = valkey.Valkey.from_url(published.valkey_url)
    try:
        meta = stored_meta(client, published.version)
        assert client.lrange(keys.reco_versions(), 0, -1) == [published.version.encode()]
    finally:
        client.close()
    model, popularity = meta.evaluation["model"], meta.evaluation["popularity"]
    assert model["buyers"] > 100
    assert model["precision@10"] > 2 * popularity["precision@10"]
    assert model["recall@10"] > 2 * popularity["recall@10"]
    assert model["auc"] > popularity["auc"]
    assert model["auc"] > 0.6
    assert int(meta.training["cars"]) >= CARS


def test_publishing_keeps_current_and_previous_only(published: Published) -> None:
    client = valkey.Valkey.from_url(published.valkey_url)
    try:
        versions = [f"test-trim-{i}" for i in range(3)]
        for version in versions:
            store.publish(client, version, published.fields, keep=2)
        listed = [v.decode() for v in client.lrange(keys.reco_versions(), 0, -1)]
        assert listed == ["test-trim-2", "test-trim-1"]
        assert client.get(keys.reco_current()) == b"test-trim-2"
        assert not client.exists(keys.reco_model(published.version))
        assert not client.exists(keys.reco_model("test-trim-0"))
        assert client.exists(keys.reco_model("test-trim-1"), keys.reco_model("test-trim-2")) == 2
    finally:
        restore(client, published)
        client.close()


def test_history_window_bounds_what_training_reads(published: Published) -> None:
    url = mysql_url(published.env, published.database)
    everything = app.read_from_mysql(RecoSettings(mysql_url=url, valkey_url=published.valkey_url))
    recent = app.read_from_mysql(RecoSettings(mysql_url=url, valkey_url=published.valkey_url,
                                              history_days=3, holdout_days=1))
    assert recent.latest == everything.latest
    assert recent.cutoff == recent.latest - dt.timedelta(days=1)
    signalled = {s.car_id for s in recent.signals}
    # The live market always; sold or withdrawn cars only with a signal inside the window.
    assert {c.car_id for c in recent.cars if not c.live} <= signalled
    assert {c.car_id for c in recent.cars if c.live} == {
        c.car_id for c in everything.cars if c.live}
    assert signalled <= {c.car_id for c in recent.cars}
    assert 0 < len(recent.signals) < len(everything.signals)
    assert len(recent.cars) < len(everything.cars)


# ---------------------------------------------------------------------------------- serving
async def test_suv_city_buyers_get_suvs_in_their_city(published: Published,
                                                      ranker: ModelRanker) -> None:
    assert ranker.version == published.version
    candidates = published.live_ids()

    def planted(car_id: int) -> bool:
        _, _, body, city = published.facts[car_id]
        return body == SUV_BODY_TYPE and city == SUV_CITY_NAME

    base_rate = sum(map(planted, candidates)) / len(candidates)
    assert 0 < base_rate < 0.1
    shares = []
    for buyer_id in SUV_CITY_BUYER_IDS:
        top = ranker.rank(candidates, Viewer(buyer_id=buyer_id))[:10]
        shares.append(sum(map(planted, top)) / 10)
    # Every planted buyer beats chance, and by a wide margin on average.
    assert min(shares) > base_rate
    assert float(np.mean(shares)) > 5 * base_rate


def nexons(published: Published) -> list[int]:
    return sorted(c for c, (make, model, _, _) in published.facts.items()
                  if make == "Tata" and model == "Nexon")


async def test_anonymous_nexon_viewer_gets_similar_cars(published: Published,
                                                       ranker: ModelRanker) -> None:
    seen = tuple(nexons(published)[:3])
    candidates = [c for c in published.live_ids() if c not in seen]
    similar_body = published.facts[seen[0]][2]

    def similar(car_id: int) -> bool:
        make, model, body, _ = published.facts[car_id]
        return model == "Nexon" or make == "Tata" or body == similar_body

    base_rate = sum(map(similar, candidates)) / len(candidates)
    top = ranker.rank(candidates, Viewer(seen_ids=seen))[:10]
    assert sum(map(similar, top)) >= 7
    assert sum(map(similar, top)) / 10 > 2 * base_rate
    # Unknown seen ids alone fall back to the generic order; mixed ones are simply ignored.
    generic = ranker.rank(candidates, Viewer())
    assert ranker.rank(candidates, Viewer(seen_ids=(10**9,))) == generic
    assert ranker.rank(candidates, Viewer(buyer_id=10**9, seen_ids=(*seen, 10**9)))[:10] == top
    assert sorted(generic) == sorted(candidates)


async def test_a_car_listed_after_training_is_ranked_by_its_features(
        published: Published, ranker: ModelRanker) -> None:
    env, database = published.env, published.database
    # Four Nexons of one city: three are seen, the fourth (the twin) is copied as a new car.
    by_city: dict[str, list[int]] = {}
    for car_id in nexons(published):
        by_city.setdefault(published.facts[car_id][3], []).append(car_id)
    city_nexons = max(by_city.values(), key=len)
    assert len(city_nexons) >= 4
    *seen_list, twin = city_nexons[:4]
    seen = tuple(seen_list)
    conn = stack.connect(env.mysql_port, database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                INSERT INTO car (variant_id, color_id, locality_id, seller_id, price, year,
                                 km_driven, fuel_type, transmission, owner_count, rating,
                                 registration_state, status)
                SELECT variant_id, color_id, locality_id, seller_id, price, year, km_driven,
                       fuel_type, transmission, owner_count, rating, registration_state, 'live'
                FROM car WHERE id = %s""", (twin,))
            new_id = int(cur.lastrowid)
    finally:
        conn.close()
    serving = ranker.serving
    assert serving is not None
    assert new_id not in serving.model.identity_rows
    assert twin in serving.model.identity_rows
    client = valkey.Valkey.from_url(published.valkey_url)
    try:
        builder(env, database, client).build_cars([new_id])  # what the CDC applier does
    finally:
        client.close()
    await eventually(lambda: ranker.knows(new_id))  # via the index-changed announcement

    candidates = [c for c in published.live_ids() if c not in seen]
    assert {new_id, twin} <= set(candidates)
    close = 0.02 * len(candidates)
    for viewer in (Viewer(seen_ids=seen), Viewer()):
        ranked = ranker.rank(candidates, viewer)
        assert abs(ranked.index(new_id) - ranked.index(twin)) <= close, viewer
    ranked = ranker.rank(candidates, Viewer(seen_ids=seen))
    assert ranked.index(new_id) < 0.05 * len(candidates)


async def test_unknown_candidates_are_fetched_lazily(published: Published,
                                                     ranker: ModelRanker) -> None:
    candidates = published.live_ids()
    serving = ranker.serving
    assert serving is not None
    # Forget a few cars, as if they had been listed a moment ago.
    forgotten = candidates[:5]
    table = serving.table.changed(np.zeros(0, np.int64), np.zeros((0, serving.model.dims)),
                                  np.zeros(0, bool), removed=forgotten)
    ranker._serving = Serving(serving.model, table)
    assert not any(ranker.knows(c) for c in forgotten)
    assert sorted(ranker.rank(candidates, Viewer())) == sorted(candidates)  # still all there
    await eventually(lambda: all(ranker.knows(c) for c in forgotten))


# ---------------------------------------------------------------------------------- swaps
def perturbed_fields(published: Published, new_version: str) -> dict[str, bytes]:
    """The published model with every buyer's taste inverted: a different, valid model."""
    raw = published.fields
    meta = ModelMeta.model_validate_json(raw["meta"])
    arrays = {name: np.frombuffer(raw[name], dtype=meta.arrays[name].dtype).reshape(
        meta.arrays[name].shape) for name in ARRAY_FIELDS}
    arrays["user_embeddings"] = -arrays["user_embeddings"]
    plain = meta.model_dump(exclude={"arrays"})
    return store.model_fields({**plain, "version": new_version}, arrays)


async def test_hot_swap_during_concurrent_ranks(published: Published,
                                                ranker: ModelRanker) -> None:
    candidates = published.live_ids()
    buyer = Viewer(buyer_id=SUV_CITY_BUYER_IDS[0])
    before = ranker.rank(candidates, buyer)
    errors: list[BaseException] = []
    versions_seen: set[str] = set()
    stop = asyncio.Event()

    async def hammer() -> None:
        while not stop.is_set():
            try:
                ranked = ranker.rank(candidates, buyer)
                versions_seen.add(ranker.version)
                assert len(ranked) == len(candidates)
                assert set(ranked) == set(candidates)
            except BaseException as exc:
                errors.append(exc)
            await asyncio.sleep(0)

    client = valkey.Valkey.from_url(published.valkey_url)
    swaps = ["swap-1", "swap-2", "swap-3"]
    try:
        fields = {v: perturbed_fields(published, v) for v in swaps}
        workers = [asyncio.create_task(hammer()) for _ in range(4)]
        for version in swaps:
            publisher = threading.Thread(target=store.publish,
                                         args=(client, version, fields[version], 2))
            publisher.start()
            await asyncio.to_thread(publisher.join)
            await eventually(lambda v=version: ranker.version == v)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        stop.set()
        restore(client, published)
        client.close()
    assert errors == []
    assert {published.version, *swaps} <= versions_seen
    assert ranker.rank(candidates, buyer) != before  # the inverted model really serves
    await eventually(lambda: ranker.version == published.version)  # and the restore too


def restore(client: valkey.Valkey, published: Published) -> None:
    """Make the module's model the only published version again, and announce it."""
    stale = [v.decode() for v in client.lrange(keys.reco_versions(), 0, -1)]
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.reco_versions(), *(keys.reco_model(v) for v in stale))
    pipe.hset(keys.reco_model(published.version), mapping=published.fields)
    pipe.set(keys.reco_current(), published.version)
    pipe.lpush(keys.reco_versions(), published.version)
    pipe.publish(keys.reco_published(), published.version)
    pipe.execute()


@pytest.mark.parametrize("damage", ["checksum", "half-written"])
async def test_a_corrupted_version_is_refused(published: Published, ranker: ModelRanker,
                                             damage: str) -> None:
    candidates = published.live_ids()
    viewer = Viewer(buyer_id=SUV_CITY_BUYER_IDS[1])
    before = ranker.rank(candidates, viewer)
    client = valkey.Valkey.from_url(published.valkey_url)
    bad = f"bad-{damage}"
    try:
        fields = perturbed_fields(published, bad)
        if damage == "checksum":
            blob = bytearray(fields["item_embeddings"])
            blob[len(blob) // 2] ^= 0x01
            fields["item_embeddings"] = bytes(blob)
        else:
            del fields["user_embeddings"], fields[CHECKSUM_FIELD]
        pipe = client.pipeline(transaction=True)
        pipe.hset(keys.reco_model(bad), mapping=fields)
        pipe.set(keys.reco_current(), bad)
        pipe.publish(keys.reco_published(), bad)
        pipe.execute()
        await eventually(lambda: bad in ranker._refused)
        assert await ranker.load_current() is False
        assert ranker.version == published.version
        assert ranker.rank(candidates, viewer) == before
    finally:
        client.delete(keys.reco_model(bad))
        restore(client, published)
        client.close()
