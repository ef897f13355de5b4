"""The worker's Valkey client: one standalone server (or primary), a Sentinel-managed primary
or a Valkey Cluster.

With a `valkey+sentinel://` URL (carpages_shared.dsn) the client asks the sentinels for the
primary's address at every new connection, so after a failover the retry loops reconnect to the
promoted replica by themselves; a connection still open to a demoted primary fails on its first
write (READONLY) and reconnects. What the promoted replica never received is rebuilt by the
applier (valkey_restarts: the data now comes from another Valkey run).

The builder writes through ordinary pipelines, which valkey-py's cluster client splits by node.
Its cluster pipeline has no MULTI, so `transaction` runs a MULTI/EXEC on the node that owns the
slot of the keys involved; every transaction here touches one hash tag (`{cp}`), which is what
makes that valid.
"""

from __future__ import annotations

from typing import Any

import valkey
from carpages_shared import valkey_internals as internals
from carpages_shared.dsn import is_sentinel, sentinel_arguments, sentinel_dsn
from valkey.cluster import ValkeyCluster
from valkey.sentinel import Sentinel


def connect(url: str, cluster: bool = False, **options: Any) -> Any:
    """A blocking client for `url`: valkey.Valkey, or a ValkeyCluster seeded by `url`, or the
    primary of a `valkey+sentinel://` URL."""
    if is_sentinel(url):
        if cluster:
            raise ValueError("a Sentinel URL names a primary, not a cluster node")
        dsn = sentinel_dsn(url)
        sentinels, to_sentinels, primary = sentinel_arguments(dsn, options)
        return Sentinel(sentinels, sentinel_kwargs=to_sentinels).master_for(dsn.service,
                                                                            **primary)
    if cluster:
        return ValkeyCluster.from_url(url, **options)
    return valkey.Valkey.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    """Whether `client` talks to a Valkey Cluster."""
    return isinstance(client, ValkeyCluster)


def run_id(client: Any) -> str:
    """Which Valkey run holds the data: the server's run id, or on a cluster every primary's
    (sorted, joined). Any node that restarted or failed over gives a different value, and so
    does a resharding that moves primaries: each means some slots may hold older data."""
    if is_cluster(client):
        infos = client.info("server", target_nodes=ValkeyCluster.PRIMARIES)
        return ",".join(sorted(str(info["run_id"]) for info in infos.values()))
    return str(client.info("server")["run_id"])


def transaction(client: Any, key: str) -> Any:
    """A MULTI/EXEC pipeline for keys sharing `key`'s hash tag (standalone or cluster)."""
    if is_cluster(client):
        # The owning node's plain client: MULTI/EXEC is valid there for keys of one slot.
        return internals.node_client(client, key).pipeline(transaction=True)
    return client.pipeline(transaction=True)
