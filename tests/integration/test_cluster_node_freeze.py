"""A frozen cluster node fails only the round trips that need it (the API's cluster client).

valkey-py's cluster client answers a node's timeout by disconnecting every node (failing round
trips in flight on healthy nodes, which then count their node as failed too) and by re-reading
the slot map, which also runs COMMAND on the first primary. With the slot-0 owner frozen that
re-read timed out as well, so requests for keys on healthy nodes failed or waited seconds (the
cluster chaos run: requests unanswered for 3 s). store.gated_cluster keeps healthy nodes'
connections across a re-read, asks nodes that did not just fail first, and loads the command
table once.
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


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of its own: a test here freezes one of its nodes."""
    with valkey_cluster.running(Path(tmp_path_factory.mktemp("frozen-cluster"))) as running:
        yield running


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
    settings = ApiSettings(valkey_url=nodes.url, valkey_cluster=True, jwt_secret="s" * 32,
                           valkey_timeout_s=0.3)
    client = connect(settings.valkey_url, settings)
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
        everything = [k for ks in owned.values() for k in ks]
        for _ in range(50):  # the frozen node's timed-out connections reconnect on next use
            if set(await asyncio.gather(*(read(client, k) for k in everything))) == {"ok"}:
                break
            await asyncio.sleep(0.1)
        assert set(await asyncio.gather(*(read(client, k) for k in everything))) == {"ok"}
    finally:
        await client.aclose()
