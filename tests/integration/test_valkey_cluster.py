"""The builder, the dedicated page and the listing on a real 3-node Valkey Cluster.

Nothing but configuration differs from a standalone Valkey (`API_VALKEY_CLUSTER`, and the worker's
`carpages_cdc.cache.valkey_client.connect(url, cluster=True)`): every response is compared byte
for byte (reco pins blanked) with a standalone Valkey built from the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pymysql
import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_cdc.cache.builder import BuildStats, CacheBuilder, current_build
from carpages_cdc.cache.valkey_client import connect
from carpages_local import servers, stack
from carpages_reco import cli as reco_cli
from carpages_shared import keys
from carpages_shared.dsn import mysql_params
from pydantic import ValidationError

from tests.conftest import mysql_url
from tests.integration.listing_support import SECRET, Api, full_build, ids_of, serving
from tests.integration.scaleout_support import (
    Catalogue,
    Cluster,
    cluster,
    fetch,
    read_catalogue,
    request_mix,
)


def cluster_client(nodes: Cluster) -> Any:
    """The worker's client for the cluster, built the way the CLI builds it."""
    return connect(nodes.url, cluster=True)


def cluster_builder(mysql: str, client: Any) -> CacheBuilder:
    params = mysql_params(mysql)
    return CacheBuilder(lambda: pymysql.connect(**params), client)


def cluster_build(mysql: str, nodes: Cluster) -> BuildStats:
    client = cluster_client(nodes)
    try:
        return cluster_builder(mysql, client).full_rebuild()
    finally:
        client.close()


def on_cluster(nodes: Cluster, db_url: str, **kw: Any) -> ApiSettings:
    return ApiSettings(valkey_url=nodes.url, valkey_cluster=True, mysql_url=db_url,
                       jwt_secret=SECRET, valkey_timeout_s=2.0, **kw)


def on_standalone(url: str, db_url: str, **kw: Any) -> ApiSettings:
    return ApiSettings(valkey_url=url, mysql_url=db_url, jwt_secret=SECRET,
                       valkey_timeout_s=2.0, **kw)


async def assert_same(one: Api, other: Api, catalogue: Catalogue) -> None:
    """The request mix answers byte for byte the same on both apps."""
    for request in request_mix(catalogue):
        assert await fetch(one, request) == await fetch(other, request), request


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(Path(tmp_path_factory.mktemp("cluster"))) as running:
        yield running


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = servers.start_valkey(Path(tmp_path_factory.mktemp("standalone")))
    try:
        yield f"valkey://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def db_url(stack_env: stack.StackEnv, seeded_db: str, nodes: Cluster, standalone: str) -> str:
    url_ = mysql_url(stack_env, seeded_db)
    full_build(url_, standalone)
    cluster_build(url_, nodes)
    return url_


@pytest.fixture(scope="module")
def catalogue(db_url: str) -> Catalogue:
    return read_catalogue(db_url)


# ----------------------------------------------------------------------------- the build
def node_keys(nodes: Cluster) -> list[list[bytes]]:
    found = []
    for node in nodes.nodes:
        client = valkey.Valkey(port=node.port)
        try:
            found.append(list(client.scan_iter(count=1000)))
        finally:
            client.close()
    return found


def test_the_build_spreads_pages_and_keeps_the_listing_on_one_shard(
        nodes: Cluster, db_url: str, standalone: str, catalogue: Catalogue) -> None:
    per_node = node_keys(nodes)
    assert all(per_node), "every shard holds pages and buyers"
    with_listing = [n for n, found in enumerate(per_node)
                    if any(k.startswith(b"{cp}") for k in found)]
    assert len(with_listing) == 1, "the {cp} tag keeps the whole listing index on one shard"
    client = cluster_client(nodes)
    reference = valkey.Valkey.from_url(standalone)
    try:
        build, other = current_build(client), current_build(reference)
        assert build is not None
        assert other is not None
        assert client.hgetall(keys.cards(build[0])) == reference.hgetall(keys.cards(other[0]))
        for car in catalogue.cars:
            assert client.get(keys.dedicated_page(car)) == reference.get(
                keys.dedicated_page(car))
            assert client.hgetall(keys.car_private(car)) == reference.hgetall(
                keys.car_private(car))
            assert client.smembers(keys.car_interested(car)) == reference.smembers(
                keys.car_interested(car))
        assert client.hgetall(keys.slugs()) == reference.hgetall(keys.slugs())
    finally:
        client.close()
        reference.close()


# ----------------------------------------------------------------------------- the API
async def test_responses_match_a_standalone_valkey(
        nodes: Cluster, db_url: str, standalone: str, catalogue: Catalogue) -> None:
    async with serving(on_cluster(nodes, db_url)) as clustered, \
            serving(on_standalone(standalone, db_url)) as single:
        await assert_same(clustered, single, catalogue)  # composed on the cluster
        await assert_same(clustered, single, catalogue)  # cached results and pins
        ready = await clustered.get("/readyz")
        assert ready.status_code == 200


async def test_reco_pin_paging_walks_the_same_cars(
        nodes: Cluster, db_url: str, standalone: str, catalogue: Catalogue) -> None:
    async def walk(api: Api) -> list[int]:
        body = await api.json(f"/listing/?city_id={catalogue.city}&page_size=13")
        seen = ids_of(body)
        while body["next"]:
            assert "pin=" in body["next"]
            body = await api.json(body["next"])
            seen += ids_of(body)
        return seen

    async with serving(on_cluster(nodes, db_url)) as clustered, \
            serving(on_standalone(standalone, db_url)) as single:
        walked = await walk(clustered)
        assert walked == await walk(single)
    assert len(walked) == len(set(walked)) > 13


async def test_single_flight_fill_and_negative_cache_on_the_cluster(
        nodes: Cluster, db_url: str, standalone: str, catalogue: Catalogue) -> None:
    car = catalogue.cars[5]
    client = cluster_client(nodes)
    reference = valkey.Valkey.from_url(standalone)
    settings = on_cluster(nodes, db_url)
    try:
        async with serving(settings) as one, serving(settings) as two, \
                serving(on_standalone(standalone, db_url)) as single:
            expected = (await single.get(f"/listing/{car}/")).content
            for key in (keys.dedicated_page(car), keys.car_private(car),
                        keys.car_interested(car)):
                client.delete(key)
            responses = await asyncio.gather(
                *((one if i % 2 else two).get(f"/listing/{car}/") for i in range(30)))
            assert [r.status_code for r in responses] == [200] * 30
            assert {r.content for r in responses} == {expected}
            fills = [api.services.metrics.registry.get_sample_value(
                "carpages_page_fills_total") or 0 for api in (one, two)]
            assert sum(fills) == 1
            assert client.ttl(keys.dedicated_page(car)) > 0  # the fill's expiry
            assert client.smembers(keys.car_interested(car)) == reference.smembers(
                keys.car_interested(car))
            missing = await one.get("/listing/2147000000/")
            assert missing.status_code == 404
            assert 0 < client.ttl(keys.car_missing(2147000000)) <= keys.MISSING_TTL
    finally:
        client.close()
        reference.close()


# ----------------------------------------------------------------------------- changes
async def test_builder_changes_reach_the_cluster_like_a_standalone(
        stack_env: stack.StackEnv, mutable_seeded_db: str, valkey_url: str,
        tmp_path: Path) -> None:
    db = mysql_url(stack_env, mutable_seeded_db)
    params = mysql_params(db)
    catalogue = read_catalogue(db)
    repriced, sold, later = catalogue.cars[1], catalogue.cars[2], catalogue.cars[3]
    with cluster(tmp_path / "cluster") as own:
        client = cluster_client(own)
        reference = valkey.Valkey.from_url(valkey_url)
        builders = [cluster_builder(db, client), cluster_builder(db, reference)]
        conn = pymysql.connect(**params, autocommit=True)
        try:
            for builder in builders:
                builder.full_rebuild()
            async with serving(on_cluster(own, db)) as clustered, \
                    serving(on_standalone(valkey_url, db)) as single:
                await assert_same(clustered, single, catalogue)
                generation = clustered.services.listing.generation
                with conn.cursor() as cur:
                    cur.execute("UPDATE car SET price = 123457 WHERE id = %s", (repriced,))
                    cur.execute("UPDATE car SET status = 'sold' WHERE id = %s", (sold,))
                    cur.execute("UPDATE buyer SET paid_until = NULL WHERE id = %s",
                                (catalogue.paid_buyer,))
                for builder in builders:
                    assert builder.build_cars([repriced, sold]).index_changed
                    builder.build_buyers([catalogue.paid_buyer])
                # The applier's PUBLISH reaches the API's subscription on the cluster.
                changed = current_build(client)
                for _ in range(250):
                    if generation.current == changed:
                        break
                    await asyncio.sleep(0.02)
                assert generation.current == changed
                await assert_same(clustered, single, catalogue)
                cheap = await clustered.json("/listing/?order_by=price_asc&page_size=35")
                assert repriced in ids_of(cheap)
                assert (await clustered.get(f"/listing/{sold}/")).status_code == 404
                # A full rebuild after another sale drops that car's keys on every shard.
                with conn.cursor() as cur:
                    cur.execute("UPDATE car SET status = 'withdrawn' WHERE id = %s", (later,))
                for builder in builders:
                    assert builder.full_rebuild().cars_removed == 1
                assert client.exists(keys.dedicated_page(later)) == 0
                await assert_same(clustered, single, catalogue)
        finally:
            conn.close()
            client.close()
            reference.close()


# ----------------------------------------------------------------------------- settings
def test_cluster_mode_is_an_environment_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_VALKEY_URL", "valkey://10.0.0.1:6379")
    monkeypatch.setenv("API_JWT_SECRET", SECRET)
    monkeypatch.setenv("API_VALKEY_CLUSTER", "true")
    assert ApiSettings().valkey_cluster is True  # type: ignore[call-arg]
    monkeypatch.setenv("API_VALKEY_REPLICA_URLS", orjson.dumps(["valkey://r:6379"]).decode())
    with pytest.raises(ValidationError, match="valkey_replica_urls"):
        ApiSettings()  # type: ignore[call-arg]


async def test_bursts_beyond_the_pool_queue_on_the_cluster_too(
        nodes: Cluster, db_url: str, catalogue: Catalogue,
        caplog: pytest.LogCaptureFixture) -> None:
    """valkey-py's cluster client cannot queue for a connection (a node out of them raises
    MaxConnectionsError): the API's gate makes round trips wait for a turn instead. (And the
    reco ranker subscribes through the plain client: the cluster client has no pub/sub.)"""
    tight = on_cluster(nodes, db_url, valkey_pool_size=2, valkey_pool_wait_s=5)
    async with serving(tight) as api:
        paths = [f"/listing/{car}/" for car in catalogue.live[:30]]
        paths += [f"/listing/?order_by=newest&page_size={1 + n % 35}" for n in range(30)]
        answers = await asyncio.gather(*(api.get(path) for path in paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
    assert not [r.message for r in caplog.records if "pub/sub" in r.message]


# ----------------------------------------------------------------------------- the trainer
def test_the_trainer_publishes_and_trims_on_the_cluster(
        nodes: Cluster, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`carpages_reco train` with RECO_VALKEY_CLUSTER: its MULTI/EXECs (write a version, switch
    to it, trim old ones) run on the node owning `{reco}`; three runs keep the newest two."""
    for name, value in {"MYSQL_URL": db_url, "VALKEY_URL": nodes.url,
                        "RECO_VALKEY_CLUSTER": "true", "RECO_EPOCHS": "2",
                        "RECO_NO_COMPONENTS": "8", "RECO_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    client = cluster_client(nodes)
    try:
        versions = []
        for _ in range(3):
            assert reco_cli.main(["train"]) == 0
            versions.append(client.get(keys.reco_current()).decode())
        assert len(set(versions)) == 3
        assert [v.decode() for v in client.lrange(keys.reco_versions(), 0, -1)] == (
            versions[:0:-1])
        assert not client.exists(keys.reco_model(versions[0]))
        assert client.hlen(keys.reco_model(versions[2])) > 0
    finally:
        client.close()
