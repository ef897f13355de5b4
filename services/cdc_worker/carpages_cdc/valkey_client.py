"""The worker's Valkey client: one standalone server (or primary) or a Valkey Cluster.

The builder writes through ordinary pipelines, which valkey-py's cluster client splits by node.
Its cluster pipeline has no MULTI, so `transaction` runs a MULTI/EXEC on the node that owns the
slot of the keys involved; every transaction here touches one hash tag (`{cp}`), which is what
makes that valid.
"""

from __future__ import annotations

from typing import Any

import valkey
from carpages_shared import valkey_internals as internals
from valkey.cluster import ValkeyCluster


def connect(url: str, cluster: bool = False, **options: Any) -> Any:
    """A blocking client for `url`: valkey.Valkey, or a ValkeyCluster seeded by `url`."""
    if cluster:
        return ValkeyCluster.from_url(url, **options)
    return valkey.Valkey.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    """Whether `client` talks to a Valkey Cluster."""
    return isinstance(client, ValkeyCluster)


def transaction(client: Any, key: str) -> Any:
    """A MULTI/EXEC pipeline for keys sharing `key`'s hash tag (standalone or cluster)."""
    if is_cluster(client):
        # The owning node's plain client: MULTI/EXEC is valid there for keys of one slot.
        return internals.node_client(client, key).pipeline(transaction=True)
    return client.pipeline(transaction=True)
