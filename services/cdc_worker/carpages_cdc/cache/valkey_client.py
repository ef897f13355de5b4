"""The worker's Valkey client (carpages_shared.blocking_client: standalone, Sentinel or Cluster)
and which Valkey run holds the data.

After a Sentinel failover, what the promoted replica never received is rebuilt by the applier
(valkey_restarts: the data now comes from another Valkey run). The builder writes through
ordinary pipelines, which valkey-py's cluster client splits by node.
"""

from __future__ import annotations

from typing import Any

from carpages_shared.blocking_client import connect, is_cluster, transaction
from valkey.cluster import ValkeyCluster

__all__ = ["connect", "is_cluster", "run_id", "transaction"]


def run_id(client: Any) -> str:
    """Which Valkey run holds the data: the server's run id, or on a cluster every primary's
    (sorted, joined). Any node that restarted or failed over gives a different value, and so
    does a resharding that moves primaries: each means some slots may hold older data."""
    if is_cluster(client):
        infos = client.info("server", target_nodes=ValkeyCluster.PRIMARIES)
        return ",".join(sorted(str(info["run_id"]) for info in infos.values()))
    return str(client.info("server")["run_id"])
