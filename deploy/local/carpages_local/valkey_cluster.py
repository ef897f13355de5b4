"""A Valkey Cluster of primaries on loopback (no replicas), for `STACK_VALKEY=cluster` and tests.

Each node is an ordinary `servers.start_valkey` process with cluster mode on: its own directory,
`nodes.conf` and a recorded pid. A node keeps its client port and its cluster-bus port across
restarts (`start_node` on an existing directory reuses both), so a node killed and started again
rejoins the cluster with its identity and slots — empty, like the standalone Valkey after a
restart, because nothing is persisted.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import valkey
from valkey.cluster import ValkeyCluster

from carpages_local import servers

SIZE = 3
NODE_PREFIX = "valkey-node"
"""Name of node N in pids.json (`valkey-node0`…); its directory is `<root>/valkey-node0`."""
NODE_TIMEOUT_MS = 2000
"""How long a silent node takes to be marked failing (the cluster then refuses queries until it
is back, as it has no replica to promote)."""
CP_TAG = "{cp}"
"""The hash tag of the listing index and the cache metadata (carpages_shared.keys)."""


def node_name(index: int) -> str:
    return f"{NODE_PREFIX}{index}"


def is_node(name: str) -> bool:
    """Whether a pids.json entry is a cluster node."""
    return name.startswith(NODE_PREFIX)


def start_node(node_root: Path, port: int | None = None, name: str | None = None
               ) -> servers.Server:
    """Start one cluster-enabled node; a directory that already ran one gets its ports back."""
    node_root.mkdir(parents=True, exist_ok=True)
    bus_file = node_root / "cluster-port"
    if bus_file.exists():
        bus_port = int(bus_file.read_text())
    else:
        # An explicit bus port: the default (port + 10000) fails for ports above 55535.
        bus_port = servers.free_port()
        bus_file.write_text(str(bus_port))
    server = servers.start_valkey(node_root, port, extra=[
        "--cluster-enabled", "yes", "--cluster-config-file", str(node_root / "nodes.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-port", str(bus_port)])
    return servers.Server(name or node_root.name, server.pid, server.port)


def cluster_ok(port: int) -> bool:
    """Whether the node on `port` answers and says cluster_state:ok."""
    client = valkey.Valkey(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        text = client.execute_command("CLUSTER", "INFO")
    except valkey.exceptions.ValkeyError:
        return False
    finally:
        client.close()
    raw = text.decode() if isinstance(text, bytes) else str(text)
    return "cluster_state:ok" in raw


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `check()` until it is true, or raise StackError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise servers.StackError(f"timed out waiting for {what}")


def all_ok(ports: Sequence[int]) -> bool:
    return all(cluster_ok(port) for port in ports)


def create(ports: Sequence[int]) -> None:
    """Join fresh nodes into one cluster (slots split evenly) and wait for cluster_state:ok."""
    done = subprocess.run(
        [servers.valkey_binary("valkey-cli"), "--cluster", "create",
         *(f"127.0.0.1:{port}" for port in ports), "--cluster-replicas", "0", "--cluster-yes"],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise servers.StackError(f"valkey-cli --cluster create failed:\n{done.stdout}{done.stderr}")
    for port in ports:
        wait_until(functools.partial(cluster_ok, port), f"cluster_state:ok on {port}")


def start(root: Path, size: int = SIZE, on_start: Callable[[servers.Server], None] | None = None
          ) -> list[servers.Server]:
    """Start `size` nodes under `root/valkey-node<i>` and join them. `on_start` sees each node
    as soon as it runs, so a caller can record it before a later step fails."""
    nodes = []
    for index in range(size):
        node = start_node(root / node_name(index), name=node_name(index))
        nodes.append(node)
        if on_start is not None:
            on_start(node)
    create([n.port for n in nodes])
    return nodes


def owner(port: int, key: str) -> int:
    """The client port of the primary that owns `key`'s slot, asked of the node on `port`."""
    client = valkey.Valkey(port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
        for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if int(first) <= slot <= int(last):
                return int(primary[1])
    finally:
        client.close()
    raise servers.StackError(f"no node owns slot {slot} ({key})")


def client(url: str, **options: object) -> ValkeyCluster:
    """A blocking cluster client seeded by the node in `url` (it discovers the others)."""
    return ValkeyCluster.from_url(url, **options)


@dataclass
class Cluster:
    """A Valkey Cluster of primaries on loopback."""

    nodes: list[servers.Server]

    @property
    def url(self) -> str:
        """A seed node: the clients discover the others."""
        return f"valkey://127.0.0.1:{self.nodes[0].port}"


@contextmanager
def running(root: Path, size: int = SIZE) -> Iterator[Cluster]:
    """A cluster for the duration of the block; every node is stopped after, also on failure."""
    started: list[servers.Server] = []
    try:
        start(root, size, on_start=started.append)
        yield Cluster(started)
    finally:
        for server in reversed(started):
            server.stop()
