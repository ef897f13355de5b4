"""A frozen or restarted cluster node fails only the round trips that need it, and the API's
cluster client is whole again once the node is back.

valkey-py's cluster client answers a node's timeout by disconnecting every node (failing round
trips in flight on healthy nodes, which then count their node as failed too) and by re-reading
the slot map, which also runs COMMAND on the first primary. With the slot-0 owner frozen that
re-read timed out as well, so requests for keys on healthy nodes failed or waited seconds (the
cluster chaos run: requests unanswered for 3 s). store.gated_cluster keeps healthy nodes'
connections across a re-read, asks nodes that did not just fail first, and loads the command
table once. A node whose requests could not be sent (down) gets a fresh connection pool: upstream's
pool never takes such a connection back, so a kept pool ran out of connections for good.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import valkey
from carpages_api.settings import ApiSettings
from carpages_api.store.clients import connect
from carpages_local import valkey_cluster
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from tests.integration.scaleout_support import Cluster

KEYS_PER_NODE = 6
POOL = 4
"""Connections per node: a few failed sends would exhaust a pool that leaked them."""


@pytest.fixture(scope="module")
def cluster_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("faulty-cluster"))


@pytest.fixture(scope="module")
def nodes(cluster_root: Path) -> Iterator[Cluster]:
    """A cluster of its own: the tests here freeze and restart its nodes."""
    with valkey_cluster.running(cluster_root) as running:
        started = list(running.nodes)
        yield running
        for server in running.nodes:
            if server not in started:  # a node a test restarted
                server.stop()


def api_client(nodes: Cluster) -> Any:
    settings = ApiSettings(valkey_url=nodes.url, valkey_cluster=True, jwt_secret="s" * 32,
                           valkey_timeout_s=0.3, valkey_pool_size=POOL)
    return connect(settings.valkey_url, settings)


async def all_read(client: Any, keys_: list[str]) -> bool:
    """Whether every key reads back, within a few seconds (timed-out or refused connections
    are remade on next use)."""
    for _ in range(50):
        if set(await asyncio.gather(*(read(client, k) for k in keys_))) == {"ok"}:
            return True
        await asyncio.sleep(0.1)
    return False


def keys_by_node(nodes: Cluster) -> dict[int, list[str]]:
    """KEYS_PER_NODE keys owned by each node (by port), each written with its own name."""
    seeding = valkey.ValkeyCluster(host="127.0.0.1", port=nodes.nodes[0].port)
    try:
        owned: dict[int, list[str]] = {server.port: [] for server in nodes.nodes}
        n = 0
        while any(len(ks) < KEYS_PER_NODE for ks in owned.values()):
            key = f"freeze:{n}"
            n += 1
            port = seeding.get_node_from_key(key).port
            if len(owned[port]) < KEYS_PER_NODE:
                owned[port].append(key)
                seeding.set(key, key)
        return owned
    finally:
        seeding.close()


async def read(client: Any, key: str) -> str:
    """'ok', or the kind of failure a request would have turned into a 503."""
    try:
        value = await client.get(key)
    except (ValkeyConnectionError, ValkeyTimeoutError) as exc:
        return type(exc).__name__
    return "ok" if value == key.encode() else f"wrong {value!r}"


async def read_pipelined(client: Any, keys_: list[str]) -> str:
    pipe = client.pipeline()
    for key in keys_:
        pipe.get(key)
    try:
        values = await pipe.execute()
    except (ValkeyConnectionError, ValkeyTimeoutError) as exc:
        return type(exc).__name__
    return "ok" if values == [k.encode() for k in keys_] else f"wrong {values!r}"


async def test_a_frozen_node_fails_only_the_round_trips_that_need_it(nodes: Cluster) -> None:
    owned = keys_by_node(nodes)
    client = api_client(nodes)
    try:
        assert await read(client, owned[nodes.nodes[1].port][0]) == "ok"
        # The node every fresh slot map names first (slot 0's owner, the default node) and the
        # seed node of the URL: the one whose freeze upstream's client could not ride out.
        frozen = client.get_default_node().port
        assert frozen == nodes.nodes[0].port
        server = next(s for s in nodes.nodes if s.port == frozen)
        healthy = [k for port, ks in owned.items() if port != frozen for k in ks]
        os.kill(server.pid, signal.SIGSTOP)
        try:
            for _ in range(3):
                reads = await asyncio.gather(
                    *(read(client, k) for k in owned[frozen]),
                    read_pipelined(client, owned[frozen]),
                    *(read(client, k) for k in healthy),
                    *(read_pipelined(client, ks) for port, ks in owned.items()
                      if port != frozen))
                on_frozen, on_healthy = reads[:KEYS_PER_NODE + 1], reads[KEYS_PER_NODE + 1:]
                # A timeout, once: a retry (upstream's) would wait on the frozen node again.
                assert set(on_frozen) == {"NodeTimedOut"}
                assert set(on_healthy) == {"ok"}, on_healthy
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert await all_read(client, [k for ks in owned.values() for k in ks])
    finally:
        await client.aclose()


async def test_a_restarted_node_is_used_again(nodes: Cluster, cluster_root: Path) -> None:
    owned = keys_by_node(nodes)
    client = api_client(nodes)
    index = 1
    down = nodes.nodes[index]
    try:
        assert await all_read(client, [k for ks in owned.values() for k in ks])
        down.stop()
        # More failed sends than the node's pool holds, single and pipelined.
        for _ in range(3):
            reads = await asyncio.gather(*(read(client, k) for k in owned[down.port]),
                                         read_pipelined(client, owned[down.port]))
            assert "ok" not in reads
        nodes.nodes[index] = valkey_cluster.start_node(
            cluster_root / valkey_cluster.node_name(index), down.port,
            name=valkey_cluster.node_name(index))
        ports = [s.port for s in nodes.nodes]
        await asyncio.to_thread(valkey_cluster.wait_until,
                                lambda: valkey_cluster.all_ok(ports), "cluster_state:ok")
        # The restarted node has no data (no persistence here): write its keys again.
        plain = valkey.Valkey(port=down.port)
        try:
            for key in owned[down.port]:
                plain.set(key, key)
        finally:
            plain.close()
        assert await all_read(client, [k for ks in owned.values() for k in ks])
    finally:
        await client.aclose()
